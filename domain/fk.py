"""Messages with Försäkringskassan (ärendekommunikation) and their rules.

Topics: KOMPLT (completion request), AVSTMN (reconciliation meeting), KONTKT (contact), OVRIGT
(other), PAMINN (reminder of an earlier message). Care may start only AVSTMN, KONTKT, OVRIGT.

Status rules chosen where DOMAIN.md is silent: a new question is PENDING_INTERNAL_ACTION when it
comes from FK and PENDING_EXTERNAL_ACTION when care sent it; an answer is itself CLOSED and
makes the question ANSWERED; a PAMINN is CLOSED (the question it points to carries the status).

Outbound messages go through an outbox: care's message is recorded as requested, and becomes a
stored message (`FkMessageSent`, with FK's receipt) only when FK acknowledged it, so the record
never claims FK has an answer it never got. While an answer waits in the outbox, a second answer
to the same question is refused (answering twice is rejected, whichever is still on its way).

A PAMINN links to the message it reminds of (`reminders`) and raises that message's priority
to `high`: FK is chasing care, so the case list flags it until the message is resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, Field

from .bounds import LIST_MAX, SHORT_MAX
from .certificate import Value
from .errors import DomainError
from .identity import Pnr

if TYPE_CHECKING:
    from .state import CaseState

Topic = Literal["KOMPLT", "AVSTMN", "KONTKT", "OVRIGT", "PAMINN"]
FkStatus = Literal["PENDING_INTERNAL_ACTION", "PENDING_EXTERNAL_ACTION", "ANSWERED", "CLOSED"]
Priority = Literal["normal", "high"]
Direction = Literal["inbound", "outbound"]
CARE_TOPICS: tuple[Topic, ...] = ("AVSTMN", "KONTKT", "OVRIGT")
REMINDER_WORKING_DAYS = 3

_Fail = Callable[[str, str, str], DomainError]


class CompletionItem(Value):
    """One question FK wants completed (komplettering), per question id and instance."""

    question_id: str = Field(min_length=1, max_length=SHORT_MAX)
    instance: int | None = None
    text: str


class AnswerTo(Value):
    message_id: str = Field(min_length=1, max_length=SHORT_MAX)
    reference_id: str | None = None


class FkMessage(Value):
    """A message as exchanged with FK (both directions)."""

    message_id: str = Field(min_length=1, max_length=SHORT_MAX)
    reference_id: str | None = None
    sent_at: AwareDatetime
    certificate_id: str = Field(min_length=1, max_length=SHORT_MAX)
    patient_id: Pnr
    topic: Topic
    heading: str = ""
    text: str = ""
    reminder_of: str | None = None
    answer_to: AnswerTo | None = None
    sender: str = ""
    contact_info: str | None = None
    completion_items: list[CompletionItem] = Field(default_factory=list, max_length=LIST_MAX)
    last_answer_date: date | None = None


class OutboundFkMessage(Value):
    """What care writes to FK; identity, sender and time are filled in from the case."""

    message_id: str = Field(min_length=1, max_length=SHORT_MAX)
    reference_id: str | None = None
    certificate_id: str = Field(min_length=1, max_length=SHORT_MAX)
    topic: Topic
    heading: str = ""
    text: str = ""
    answer_to: AnswerTo | None = None
    contact_info: str | None = None

    def as_message(self, patient_id: str, sender: str, sent_at: datetime) -> FkMessage:
        return FkMessage(
            patient_id=patient_id,
            sender=sender,
            sent_at=sent_at,
            **self.model_dump(),
        )


class FkMessageRecord(BaseModel):
    """A stored message with its direction and current status."""

    message: FkMessage
    direction: Direction
    status: FkStatus
    recorded_at: AwareDatetime
    resolved_by: str | None = None  # the answer's message id or the completing certificate's id
    resolved_at: AwareDatetime | None = None
    reminded: bool = False
    overdue: bool = False
    reminders: list[str] = Field(default_factory=list)  # ids of PAMINN messages pointing here
    priority: Priority = "normal"
    receipt: str | None = None  # FK's receipt for an outbound message

    @property
    def awaiting_care(self) -> bool:
        return self.status == "PENDING_INTERNAL_ACTION"


def initial_status(message: FkMessage, direction: Direction) -> FkStatus:
    if message.answer_to is not None or message.topic == "PAMINN":
        return "CLOSED"
    return "PENDING_INTERNAL_ACTION" if direction == "inbound" else "PENDING_EXTERNAL_ACTION"


def is_duplicate(state: CaseState, message_id: str) -> bool:
    """A message id already stored is acknowledged again and never stored twice."""
    return message_id in state.fk_messages


def check_message(state: CaseState, message: FkMessage, direction: Direction, field: str) -> None:
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
