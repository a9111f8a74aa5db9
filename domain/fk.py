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

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from .bounds import LIST_MAX, SHORT_MAX
from .certificate import Value
from .identity import Pnr

Topic = Literal["KOMPLT", "AVSTMN", "KONTKT", "OVRIGT", "PAMINN"]
FkStatus = Literal["PENDING_INTERNAL_ACTION", "PENDING_EXTERNAL_ACTION", "ANSWERED", "CLOSED"]
Priority = Literal["normal", "high"]
Direction = Literal["inbound", "outbound"]
CARE_TOPICS: tuple[Topic, ...] = ("AVSTMN", "KONTKT", "OVRIGT")
REMINDER_WORKING_DAYS = 3



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
