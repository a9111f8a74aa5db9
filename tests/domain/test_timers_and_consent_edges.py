"""Timer and consent edges: an FK question without a last answer date does not hide the
deadline of the next one; the released rules' timers differ from the revised ones; a consent
withdrawn at the instant it was given is refused as withdrawn."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import DomainError, next_timer
from domain.calendar import start_of
from domain.commands import GiveConsent, SendFkMessage, WithdrawConsent
from domain.rules import RELEASED
from domain.timers import due_timers
from tests.domain.support import PATIENT, PHYSICIAN, at, certificate, opened
from tests.domain.test_fk import LAST_ANSWER, inbound, outbound, receive


def test_a_question_without_a_date_does_not_hide_the_deadline_of_the_next() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    receive(case, inbound("fk-1", "KONTKT"))  # no last answer date
    receive(case, inbound("fk-2"))  # KOMPLT, answer by day 30
    fk_timers = [(t.command.type, t.at) for t in due_timers(case.state)
                 if t.command.type.startswith("ReachFkAnswer")]
    assert ("ReachFkAnswerDeadline", start_of(LAST_ANSWER + timedelta(days=1))) in fk_timers
    assert len(fk_timers) == 2


def test_the_released_rules_keep_their_own_timers() -> None:
    # a consent given for 20 days: the revised rules remind 14 days before it ends, the
    # released rules do not
    case = opened(cert=certificate(last=120))
    case.advance(at(15))  # day 30 is the next milestone
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="contact",
                        valid_until=(at(15) + timedelta(days=20)).date()))
    revised = next_timer(case.state)
    released = next_timer(case.state, RELEASED)
    assert revised is not None and revised.command.type == "ReachConsentReminder"
    assert released is not None and released.command.type == "ReachMilestone"


def test_a_consent_withdrawn_at_the_instant_it_was_given_is_refused_as_withdrawn() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    case.do(WithdrawConsent(actor=PATIENT, recipient="fk", purpose="share_information"))
    with pytest.raises(DomainError) as info:
        case.do(SendFkMessage(actor=PHYSICIAN, message=outbound()))
    assert info.value.message == (
        "the patient withdrew consent to fk (share_information) at 2024-03-04T08:00:00+00:00"
    )
