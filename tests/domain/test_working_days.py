"""Working days for FK answer deadlines skip Swedish public holidays (revised rules)."""

from __future__ import annotations

from datetime import date

from domain import RELEASED
from domain.calendar import is_working_day, start_of, subtract_working_days
from domain.commands import ReceiveFkMessage
from domain.fk import FkMessage
from domain.timers import due_timers
from tests.domain.support import FK_GATEWAY, PNR, Case, certificate, opened


def test_easter_christmas_and_midsummer_are_not_working_days() -> None:
    # Tuesday after Easter 2026: Easter Monday and Good Friday do not count
    assert subtract_working_days(date(2026, 4, 7), 3) == date(2026, 3, 31)
    assert subtract_working_days(date(2026, 4, 7), 3, public_holidays=False) == date(2026, 4, 2)
    assert subtract_working_days(date(2026, 12, 28), 1) == date(2026, 12, 23)  # 24th, 25th off
    assert not is_working_day(date(2026, 6, 19))  # midsommarafton (a Friday)
    assert not is_working_day(date(2026, 1, 6))  # trettondedag jul
    assert is_working_day(date(2026, 6, 18))


def test_the_komplt_reminder_comes_three_working_days_before_the_last_answer_date() -> None:
    case: Case = opened(cert=certificate(last=400))
    case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=FkMessage.model_validate({
        "message_id": "m1", "sent_at": case.clock, "certificate_id": "c1", "patient_id": PNR,
        "topic": "KOMPLT", "completion_items": [{"question_id": "1", "text": "Mer"}],
        "last_answer_date": date(2026, 4, 7)})))
    reminders = {t.at for t in due_timers(case.state) if t.command.type == "ReachFkAnswerReminder"}
    assert reminders == {start_of(date(2026, 3, 31))}
    released = {t.at for t in due_timers(case.state, RELEASED)
                if t.command.type == "ReachFkAnswerReminder"}
    assert released == {start_of(date(2026, 4, 2))}


def test_public_holidays_agree_with_the_holidays_package() -> None:
    import holidays

    from domain.calendar import public_holidays

    reference = holidays.country_holidays("SE", years=range(2000, 2101))
    ours = {d for year in range(2000, 2101) for d in public_holidays(year)}
    assert ours == set(reference)
