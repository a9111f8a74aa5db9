"""KOMPLT's last answer date as a timer (time-skipping), answering it, and PAMINN."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain import summarize
from domain.calendar import start_of, subtract_working_days
from tests.fk.conftest import FkStack, eventually
from tests.fk.support import PNR, case_with_certificate, records
from tests.workflows.support import skip_to as skip_time


async def skip_to(stack: FkStack, instant: datetime) -> None:
    await skip_time(stack.env, instant)


def on_time(recorded: str, due: datetime) -> bool:
    """Recorded at the due instant (the timer fires at it; a few milliseconds of skew)."""
    return due <= datetime.fromisoformat(recorded) < due + timedelta(minutes=1)


def kinds_for(stack: FkStack, recipient: str) -> list[str]:
    return [b["kind"] for b in stack.receiver.bodies.values() if b["recipient"] == recipient]


async def test_a_komplt_deadline_reminds_the_physician_then_flags_overdue_on_time(
    stack: FkStack,
) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=60)
    last = start + timedelta(days=20)
    komplt = await stack.fk.ask("KOMPLT", cid, PNR, last_answer_date=last)
    assert komplt.accepted
    mid = list(stack.fk.sent_to_care)[-1]
    remind_at = start_of(subtract_working_days(last, 3))
    overdue_at = start_of(last + timedelta(days=1))

    await skip_to(stack, remind_at - timedelta(hours=1))
    assert await records(stack, case_id, "FkAnswerReminderDue") == []  # type: ignore[arg-type]
    await skip_to(stack, remind_at + timedelta(hours=1))
    [reminder] = await records(stack, case_id, "FkAnswerReminderDue")  # type: ignore[arg-type]
    assert on_time(reminder["occurred_at"], remind_at)
    await eventually(lambda: _told(stack, "physician", "fk_answer_due_soon"))
    assert "fk_answer_overdue" not in kinds_for(stack, "physician")

    await skip_to(stack, overdue_at - timedelta(hours=1))
    assert await records(stack, case_id, "FkAnswerOverdue") == []  # type: ignore[arg-type]
    await skip_to(stack, overdue_at + timedelta(hours=1))
    [overdue] = await records(stack, case_id, "FkAnswerOverdue")  # type: ignore[arg-type]
    assert on_time(overdue["occurred_at"], overdue_at)
    await eventually(lambda: _told(stack, "coordinator", "fk_answer_overdue"))

    summary = summarize(await stack.state(case_id))
    assert (summary.fk_answer_due, summary.unanswered_fk) == (last, 1)
    assert f"fk_answer_overdue:{mid}" in summary.overdue
    await stack.project()  # the case list shows it
    listed = (
        await stack.http.get(
            "/cases", params={"overdue": "true", "limit": 500}, headers=stack.headers()
        )
    ).json()
    row = next(item for item in listed["items"] if item["case_id"] == case_id)
    assert f"fk_answer_overdue:{mid}" in row["overdue"]


async def test_care_answers_a_komplt_once_and_the_deadline_is_lifted(stack: FkStack) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=60)
    await stack.fk.ask("KOMPLT", cid, PNR, last_answer_date=start + timedelta(days=20))
    mid = list(stack.fk.sent_to_care)[-1]
    answer = {
        "message_id": f"svar-{mid}",
        "certificate_id": cid,
        "topic": "KOMPLT",
        "text": "Aktivitetsbegränsningen: klarar inte skärmarbete mer än 1 h.",
        "answer_to": {"message_id": mid},
    }

    response = await stack.http.post(
        f"/cases/{case_id}/fk/messages", json=answer, headers=stack.headers()
    )
    assert response.status_code == 202
    [sent] = await eventually(lambda: records(stack, case_id, "FkMessageSent"))  # type: ignore[arg-type]
    assert sent["receipt"] == f"fk-message-svar-{mid}"
    assert stack.fk.messages_from_care[f"svar-{mid}"].answer_to.message_id == mid  # type: ignore[union-attr]

    again = await stack.http.post(
        f"/cases/{case_id}/fk/messages",
        headers=stack.headers(),
        json={**answer, "message_id": f"svar2-{mid}", "text": "Ett till svar."},
    )
    assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "already_answered"
    retry = await stack.http.post(
        f"/cases/{case_id}/fk/messages", json=answer, headers=stack.headers()
    )
    assert retry.status_code == 202 and retry.json()["status"] == "unchanged"

    await skip_to(stack, start_of(start + timedelta(days=25)))
    state = await stack.state(case_id)
    assert state.fk_messages[mid].status == "ANSWERED"
    assert await records(stack, case_id, "FkAnswerReminderDue") == []  # type: ignore[arg-type]
    assert await records(stack, case_id, "FkAnswerOverdue") == []  # type: ignore[arg-type]
    assert summarize(state).unanswered_fk == 0
    assert stack.fk.accepted[f"svar-{mid}"] == 1 and f"svar2-{mid}" not in stack.fk.accepted


async def test_an_answer_waits_while_fk_is_down_and_is_sent_once_when_it_is_back(
    stack: FkStack,
) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=60)
    await stack.fk.ask("KOMPLT", cid, PNR, last_answer_date=start + timedelta(days=20))
    mid = list(stack.fk.sent_to_care)[-1]
    stack.fk.set_mode("fail", 3)
    attempts = stack.fk.attempts
    response = await stack.http.post(
        f"/cases/{case_id}/fk/messages",
        headers=stack.headers(),
        json={
            "message_id": f"svar-{mid}",
            "certificate_id": cid,
            "topic": "KOMPLT",
            "text": "Svar.",
            "answer_to": {"message_id": mid},
        },
    )
    assert response.status_code == 202
    state = await stack.state(case_id)
    assert (
        state.fk_messages[mid].status == "PENDING_INTERNAL_ACTION"
    )  # not answered until FK has it

    await skip_to(stack, start_of(start + timedelta(days=2)))
    [sent] = await eventually(lambda: records(stack, case_id, "FkMessageSent"))  # type: ignore[arg-type]
    assert sent["receipt"] == f"fk-message-svar-{mid}"
    assert stack.fk.attempts - attempts == 4 and stack.fk.accepted[f"svar-{mid}"] == 1
    assert (await stack.state(case_id)).fk_messages[mid].status == "ANSWERED"


async def test_a_reminder_links_to_its_original_raises_its_priority_and_tells_the_physician(
    stack: FkStack,
) -> None:
    case_id, cid, _ = await case_with_certificate(stack, last_day=60)
    await stack.fk.ask("KONTKT", cid, PNR, text="Kan ni ringa handläggaren?")
    original = list(stack.fk.sent_to_care)[-1]
    reminder = await stack.fk.remind(original)
    assert reminder.result is not None and reminder.result.result_code == "OK"
    paminn = list(stack.fk.sent_to_care)[-1]

    state = await stack.state(case_id)
    record = state.fk_messages[original]
    assert (record.priority, record.reminders, record.status) == (
        "high",
        [paminn],
        "PENDING_INTERNAL_ACTION",
    )
    assert state.fk_messages[paminn].message.reminder_of == original
    assert f"fk_reminder:{original}" in summarize(state).overdue
    told = await eventually(lambda: _told(stack, "physician", "fk_reminder_received"))
    assert told


async def _told(stack: FkStack, recipient: str, kind: str) -> bool:
    return kind in kinds_for(stack, recipient)
