"""Messages with Försäkringskassan: inbound, outbound through the outbox, answer deadlines.

Each subdomain has `decide(command, state, out)` for its commands and `evolve(state, event)`
for its events (in place); `domain/decider.py` combines them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import assert_never

from .. import fk
from ..calendar import (
    local_date,
)
from ..commands import (
    ReachFkAnswerDeadline,
    ReachFkAnswerReminder,
    ReceiveFkMessage,
    SendFkMessage,
)
from ..emitter import Emitter
from ..errors import DomainError
from ..events import (
    FkAnswerOverdue,
    FkAnswerReminderDue,
    FkMessageAnswered,
    FkMessageClosed,
    FkMessageReceived,
    FkMessageSendRequested,
    FkMessageSent,
    NotificationRequested,
)
from ..fk import CARE_TOPICS, Direction, FkMessage, FkMessageRecord, OutboundFkMessage
from ..state import (
    CaseState,
)
from .common import flag, require_consent, unflag

FkMessagingCommand = ReceiveFkMessage | SendFkMessage | ReachFkAnswerReminder | ReachFkAnswerDeadline
FkMessagingEvent = (
    FkMessageReceived | FkMessageSendRequested | FkMessageSent | FkMessageAnswered |
    FkMessageClosed | FkAnswerReminderDue | FkAnswerOverdue
)


def decide(c: FkMessagingCommand, state: CaseState, out: Emitter) -> None:
    match c:
        case ReceiveFkMessage():
            _receive_fk(c, state, out)
        case SendFkMessage():
            _send_fk(c, state, out)
        case ReachFkAnswerReminder():
            _fk_reminder(c, state, out)
        case ReachFkAnswerDeadline():
            _fk_deadline(c, state, out)
        case _:
            assert_never(c)


def _receive_fk(c: ReceiveFkMessage, state: CaseState, out: Emitter) -> None:
    if _is_duplicate(state, c.message.message_id):
        return
    _check_message(state, c.message, "inbound", "message")
    out.add(
        FkMessageReceived(
            **out.envelope(), message=c.message, status=fk.initial_status(c.message, "inbound")
        )
    )
    _mark_answered(c.message, out)
    target = state.fk_messages.get(c.message.reminder_of or "")
    if c.message.topic == "PAMINN" and target is not None and target.awaiting_care:
        out.notify(
            "physician",
            "share_information",
            "fk_reminder_received",
            message_id=target.message.message_id,
        )


def _send_fk(c: SendFkMessage, state: CaseState, out: Emitter) -> None:
    mid = c.message.message_id
    existing = state.fk_messages.get(mid)
    queued = state.fk_outbox.get(mid)
    if existing is not None or queued is not None:
        if (queued is not None and _same_outbound(queued, c.message)) or (
            existing is not None
            and existing.direction == "outbound"
            and _same_outbound(existing.message, c.message)
        ):
            return
        raise DomainError(
            "message.message_id",
            "message_id_duplicate",
            f"another message with id {mid} is already recorded",
        )
    assert state.patient_id is not None
    message = c.message.as_message(state.patient_id, state.unit_id or "", out.now)
    _check_message(state, message, "outbound", "message")
    require_consent(state, "fk", "share_information", out, "message")
    out.add(FkMessageSendRequested(**out.envelope(), message=message))
    out.notify("fk", "share_information", "fk_message", message_id=mid, topic=message.topic)


def _fk_reminder(c: ReachFkAnswerReminder, state: CaseState, out: Emitter) -> None:
    record = _fk_deadline_message(c.message_id, state)
    if record is None or record.reminded:
        return
    due = record.message.last_answer_date
    assert due is not None
    out.add(FkAnswerReminderDue(**out.envelope(), message_id=c.message_id, last_answer_date=due))
    out.notify("physician", "share_information", "fk_answer_due_soon", answer_by=due.isoformat())


def _fk_deadline(c: ReachFkAnswerDeadline, state: CaseState, out: Emitter) -> None:
    record = _fk_deadline_message(c.message_id, state)
    if record is None or record.overdue:
        return
    due = record.message.last_answer_date
    assert due is not None
    if local_date(out.now) <= due:
        raise DomainError("message_id", "answer_not_overdue", f"the answer is due by {due}")
    out.add(FkAnswerOverdue(**out.envelope(), message_id=c.message_id, last_answer_date=due))
    out.notify("physician", "share_information", "fk_answer_overdue", answer_by=due.isoformat())
    out.notify("coordinator", "share_information", "fk_answer_overdue", answer_by=due.isoformat())


def _fk_deadline_message(message_id: str, state: CaseState) -> FkMessageRecord | None:
    """The FK message if care still owes it an answer with a last answer date."""
    record = state.fk_messages.get(message_id)
    if record is None or not record.awaiting_care or record.message.last_answer_date is None:
        return None
    return record


def fk_message_delivered(
    pending: NotificationRequested, receipt: str | None, state: CaseState, out: Emitter
) -> None:
    """FK acknowledged care's message: now it is sent, and an answer resolves its question."""
    message = state.fk_outbox.get(pending.parameters.get("message_id", ""))
    if message is None:
        return
    out.add(
        FkMessageSent(
            **out.envelope(),
            message=message,
            status=fk.initial_status(message, "outbound"),
            receipt=receipt,
        )
    )
    question = state.fk_messages.get(message.answer_to.message_id) if message.answer_to else None
    if question is not None and question.status not in ("ANSWERED", "CLOSED"):
        _mark_answered(message, out)


def _same_outbound(existing: fk.FkMessage, message: OutboundFkMessage) -> bool:
    fields = set(OutboundFkMessage.model_fields)
    return OutboundFkMessage.model_validate(existing.model_dump(include=fields)) == message


def _mark_answered(message: fk.FkMessage, out: Emitter) -> None:
    if message.answer_to is not None:
        out.add(
            FkMessageAnswered(
                **out.envelope(),
                message_id=message.answer_to.message_id,
                answer_id=message.message_id,
            )
        )


def _resolve_fk(s: CaseState, message_id: str, status: fk.FkStatus, by: str, at: datetime) -> None:
    record = s.fk_messages.get(message_id)
    if record is not None:
        record.status, record.resolved_by, record.resolved_at = status, by, at
    unflag(s, f"fk_answer_overdue:{message_id}", f"fk_reminder:{message_id}")


def evolve(s: CaseState, e: FkMessagingEvent) -> None:
    at = e.occurred_at
    match e:
        case FkMessageSendRequested():
            s.fk_outbox[e.message.message_id] = e.message
        case FkMessageReceived() | FkMessageSent():
            direction: fk.Direction = "inbound" if isinstance(e, FkMessageReceived) else "outbound"
            s.fk_outbox.pop(e.message.message_id, None)
            s.fk_messages[e.message.message_id] = FkMessageRecord(
                message=e.message,
                direction=direction,
                status=e.status,
                recorded_at=at,
                receipt=e.receipt if isinstance(e, FkMessageSent) else None,
            )
            target = s.fk_messages.get(e.message.reminder_of or "")
            if e.message.topic == "PAMINN" and target is not None:
                target.reminders.append(e.message.message_id)
                target.priority = "high"
                if target.awaiting_care:
                    flag(s, f"fk_reminder:{target.message.message_id}")
        case FkMessageAnswered():
            _resolve_fk(s, e.message_id, "ANSWERED", e.answer_id, at)
        case FkMessageClosed():
            _resolve_fk(s, e.message_id, "CLOSED", e.certificate_id or "", at)
        case FkAnswerReminderDue():
            if (message := s.fk_messages.get(e.message_id)) is not None:
                message.reminded = True
        case FkAnswerOverdue():
            if (message := s.fk_messages.get(e.message_id)) is not None:
                message.overdue = True
            flag(s, f"fk_answer_overdue:{e.message_id}")
        case _:
            assert_never(e)


_Fail = Callable[[str, str, str], DomainError]


def _is_duplicate(state: CaseState, message_id: str) -> bool:
    """A message id already stored is acknowledged again and never stored twice."""
    return message_id in state.fk_messages


def _check_message(state: CaseState, message: FkMessage, direction: Direction, field: str) -> None:
    """Raise DomainError for the first FK rule the message breaks."""

    def fail(sub: str, rule: str, text: str) -> DomainError:
        return DomainError(f"{field}.{sub}", rule, text)

    if message.patient_id != state.patient_id:
        raise fail(
            "patient_id",
            "patient_mismatch",
            "the message's patient identity does not match the case",
        )
    certificate = state.certificates.get(message.certificate_id)
    if certificate is None:
        raise fail(
            "certificate_id",
            "certificate_unknown",
            f"certificate {message.certificate_id} is not in this case",
        )
    if certificate.revoked:
        raise fail(
            "certificate_id",
            "certificate_revoked",
            f"certificate {message.certificate_id} is revoked",
        )
    if direction == "outbound" and message.answer_to is None and message.topic not in CARE_TOPICS:
        raise fail(
            "topic",
            "topic_not_allowed_for_care",
            f"care may start only {', '.join(CARE_TOPICS)} messages, not {message.topic}",
        )
    if message.completion_items and message.topic != "KOMPLT":
        raise fail(
            "completion_items",
            "completion_items_only_on_komplt",
            "completion items belong only on KOMPLT messages",
        )
    if message.topic == "KOMPLT" and message.answer_to is None and not message.completion_items:
        raise fail(
            "completion_items",
            "komplt_requires_items",
            "a completion request must list at least one question to complete",
        )
    if message.topic == "PAMINN":
        if message.reminder_of is None:
            raise fail(
                "reminder_of",
                "reminder_requires_reference",
                "a reminder must say which message it reminds of",
            )
        if message.reminder_of not in state.fk_messages:
            raise fail(
                "reminder_of",
                "reminder_of_unknown",
                f"the reminder refers to message {message.reminder_of}, which is not in this case",
            )
    elif message.reminder_of is not None:
        raise fail(
            "reminder_of",
            "reminder_of_only_on_paminn",
            "only a PAMINN message may refer to a message it reminds of",
        )
    if message.answer_to is not None:
        _check_answer(state, message, direction, fail)


def _check_answer(state: CaseState, message: FkMessage, direction: Direction, fail: _Fail) -> None:
    assert message.answer_to is not None
    question = state.fk_messages.get(message.answer_to.message_id)
    if question is None:
        raise fail(
            "answer_to.message_id",
            "answer_to_unknown",
            f"the answer refers to message {message.answer_to.message_id}, "
            "which is not in this case",
        )
    if question.direction == direction:
        raise fail(
            "answer_to.message_id",
            "answer_to_own_message",
            "an answer must refer to a message from the other party",
        )
    if question.message.topic != message.topic:
        raise fail(
            "topic",
            "answer_topic_mismatch",
            f"an answer to a {question.message.topic} message must have topic "
            f"{question.message.topic}, not {message.topic}",
        )
    if question.status in ("ANSWERED", "CLOSED"):
        raise fail(
            "answer_to.message_id",
            "already_answered",
            f"message {question.message.message_id} is already answered or closed",
        )
    pending = next(
        (
            m.message_id
            for m in state.fk_outbox.values()
            if m.answer_to is not None
            and m.answer_to.message_id == question.message.message_id
            and m.message_id != message.message_id
        ),
        None,
    )
    if pending is not None:
        raise fail(
            "answer_to.message_id",
            "already_answered",
            f"answer {pending} to message {question.message.message_id} is already on its way",
        )
    if message.last_answer_date is not None:
        raise fail(
            "last_answer_date",
            "last_answer_date_on_answer",
            "an answer may not carry a last answer date",
        )
