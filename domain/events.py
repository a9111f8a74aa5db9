"""Events: what happened to a case, in past tense. One pydantic model per event.

Every event carries the envelope (`event_id`, `case_id`, `version`, `occurred_at`,
`recorded_by`, `schema_version`). Stored events are read back through `event_from_record`,
which first runs the registered upcasters so old shapes become the current one.
Notification payloads carry template parameters only: never health text or identity numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from .certificate import Certificate
from .consent import Purpose, Recipient, capped_valid_until
from .fk import FkMessage, FkStatus
from .identity import PNR_PATTERN, Pnr
from .plan import Plan
from .vocabulary import CloseReason, CoordinationKind, CoordinationStatus, NotificationKind

_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sjukfall:event")


def event_id_for(case_id: str, version: int) -> str:
    """Deterministic event id, so a retried append carries the same ids."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{case_id}/{version}"))


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    case_id: str
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    recorded_by: str
    schema_version: int = 1


class CaseOpened(_Event):
    type: Literal["CaseOpened"] = "CaseOpened"
    patient_id: Pnr
    unit_id: str
    sick_period_start: date
    employer_name: str | None = None
    protected_identity: bool = False
    merge_gap_days: int = 5


class SickPeriodStartCorrected(_Event):
    type: Literal["SickPeriodStartCorrected"] = "SickPeriodStartCorrected"
    previous: date
    sick_period_start: date
    reason: str = ""


class RehabChainLinked(_Event):
    """The sick period continues the rehabilitation chain of the patient's earlier period
    (less than 90 days before day 1): chain day 1 of this case is `chain_days_before` + 1."""

    type: Literal["RehabChainLinked"] = "RehabChainLinked"
    earlier_case_id: str
    earlier_sick_period_end: date
    chain_days_before: int


class RehabChainUnlinked(_Event):
    """A corrected day 1 lies 90 days or more after the linked period: the chain starts anew."""

    type: Literal["RehabChainUnlinked"] = "RehabChainUnlinked"
    earlier_case_id: str


class CertificateRecorded(_Event):
    """`replaces`: the certificate this one takes the place of (ERSATT, and KOMPLT under the
    revised rules); None in records made before it was written (then ERSATT replaces)."""

    type: Literal["CertificateRecorded"] = "CertificateRecorded"
    certificate: Certificate
    replaces: str | None = None


class CertificateRevoked(_Event):
    """`restores`: the certificate the revoked one had replaced, which counts again."""

    type: Literal["CertificateRevoked"] = "CertificateRevoked"
    certificate_id: str
    reason: str = ""
    restores: str | None = None


class PlanEstablished(_Event):
    """KVÅ DV077."""

    type: Literal["PlanEstablished"] = "PlanEstablished"
    plan: Plan
    plan_version: int = 1


class PlanRevised(_Event):
    type: Literal["PlanRevised"] = "PlanRevised"
    plan: Plan
    plan_version: int
    reason: str = ""


class PlanFollowedUp(_Event):
    """KVÅ AW026."""

    type: Literal["PlanFollowedUp"] = "PlanFollowedUp"
    followed_up_on: date
    note: str = ""
    next_follow_up: date | None = None


class FollowUpDue(_Event):
    type: Literal["FollowUpDue"] = "FollowUpDue"
    due_on: date


class ConsentGiven(_Event):
    """Schema 2: `valid_until` is always set (capped at 365 days); schema 1 allowed none."""

    type: Literal["ConsentGiven"] = "ConsentGiven"
    schema_version: int = 2
    recipient: Recipient
    purpose: Purpose
    valid_until: date


class ConsentLapsingSoon(_Event):
    """The consent ends on `valid_until`: care is reminded to renew it with the patient."""

    type: Literal["ConsentLapsingSoon"] = "ConsentLapsingSoon"
    recipient: Recipient
    purpose: Purpose
    valid_until: date


class ConsentWithdrawn(_Event):
    type: Literal["ConsentWithdrawn"] = "ConsentWithdrawn"
    recipient: Recipient
    purpose: Purpose


class CoordinationOffered(_Event):
    type: Literal["CoordinationOffered"] = "CoordinationOffered"
    note: str = ""


class CoordinationPerformed(_Event):
    """KVÅ GC001."""

    type: Literal["CoordinationPerformed"] = "CoordinationPerformed"
    kind: CoordinationKind
    performed_on: date
    note: str = ""


class CoordinationStatusSet(_Event):
    type: Literal["CoordinationStatusSet"] = "CoordinationStatusSet"
    status: CoordinationStatus
    note: str = ""


class ReferredToCoordinator(_Event):
    type: Literal["ReferredToCoordinator"] = "ReferredToCoordinator"
    reason: str = ""


class ReferredToMultimodalTeam(_Event):
    type: Literal["ReferredToMultimodalTeam"] = "ReferredToMultimodalTeam"
    reason: str = ""


class MappingConversationHeld(_Event):
    """Kartläggande samtal; a coordination measure, so KVÅ GC001."""

    type: Literal["MappingConversationHeld"] = "MappingConversationHeld"
    held_on: date
    note: str = ""


class MultimodalTeamMeetingHeld(_Event):
    type: Literal["MultimodalTeamMeetingHeld"] = "MultimodalTeamMeetingHeld"
    held_on: date
    participants: list[str]
    decisions: list[str] = Field(default_factory=list)


class ReconciliationMeetingHeld(_Event):
    type: Literal["ReconciliationMeetingHeld"] = "ReconciliationMeetingHeld"
    held_on: date
    participants: list[str]
    outcome: str = ""


class JointIndividualPlanRecorded(_Event):
    type: Literal["JointIndividualPlanRecorded"] = "JointIndividualPlanRecorded"
    agreed_on: date
    participants: list[str]
    note: str = ""


class EmployerReturnPlanRecorded(_Event):
    type: Literal["EmployerReturnPlanRecorded"] = "EmployerReturnPlanRecorded"
    plan_date: date
    note: str = ""


class MilestoneReached(_Event):
    """`findings` are the facts the milestone's checks found (e.g. plan_follow_up_missing)."""

    type: Literal["MilestoneReached"] = "MilestoneReached"
    day: int
    findings: list[str] = Field(default_factory=list)


def _without_identity_numbers(parameters: dict[str, str]) -> dict[str, str]:
    # Ids (certificate_id, message_id) are opaque references chosen by other systems and
    # may hold any digits; every other parameter is checked.
    if any(PNR_PATTERN.search(value) for key, value in parameters.items()
           if not key.endswith("_id")):
        raise ValueError("identity numbers never go into notification parameters")
    return parameters


class MilestoneDutiesDoneLate(_Event):
    """Duties of milestone `day` (already reached) done now, because `reason` came later.

    `duties` are the duty keys done (see `state.duty_key`; referrals by name), `findings` what
    the milestone's checks find now; the notifications and referrals follow this event."""

    type: Literal["MilestoneDutiesDoneLate"] = "MilestoneDutiesDoneLate"
    day: int
    reason: str
    findings: list[str] = Field(default_factory=list)
    duties: list[str] = Field(default_factory=list)


class CaseReopened(_Event):
    """A case that closed itself (sick_period_ended) took a certificate that merges with it."""

    type: Literal["CaseReopened"] = "CaseReopened"
    certificate_id: str
    reason: str = ""


class NotificationRequested(_Event):
    """Something to tell `recipient`; decided only when consent allowed it at that instant."""

    type: Literal["NotificationRequested"] = "NotificationRequested"
    notification_id: str
    recipient: Recipient
    purpose: Purpose
    kind: NotificationKind
    needs_consent: bool
    parameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _no_identity_numbers(cls, parameters: dict[str, str]) -> dict[str, str]:
        return _without_identity_numbers(parameters)


class NotificationSent(_Event):
    type: Literal["NotificationSent"] = "NotificationSent"
    notification_id: str
    receipt: str | None = None


class NotificationSuppressed(_Event):
    """A notification that was not sent, and why (usually: no valid consent)."""

    type: Literal["NotificationSuppressed"] = "NotificationSuppressed"
    notification_id: str | None = None
    recipient: Recipient
    purpose: Purpose
    kind: NotificationKind
    reason: str
    parameters: dict[str, str] = Field(default_factory=dict)  # as it would have been requested

    @field_validator("parameters")
    @classmethod
    def _no_identity_numbers(cls, parameters: dict[str, str]) -> dict[str, str]:
        return _without_identity_numbers(parameters)


class NotificationFailed(_Event):
    type: Literal["NotificationFailed"] = "NotificationFailed"
    notification_id: str
    reason: str = ""


class FkMessageReceived(_Event):
    type: Literal["FkMessageReceived"] = "FkMessageReceived"
    message: FkMessage
    status: FkStatus


class FkMessageSendRequested(_Event):
    """Care wrote a message to FK; it is delivered by the `fk_message` notification that follows.

    The message waits in the case's outbox until FK acknowledges it (then `FkMessageSent`) or
    the delivery is suppressed or fails (then it leaves the outbox unsent). Kept apart from the
    notification because notification parameters never carry health text or identity numbers.
    """

    type: Literal["FkMessageSendRequested"] = "FkMessageSendRequested"
    message: FkMessage


class FkMessageSent(_Event):
    """A message FK has acknowledged; `receipt` is FK's receipt id (None in records made before
    sending went through the outbox)."""

    type: Literal["FkMessageSent"] = "FkMessageSent"
    message: FkMessage
    status: FkStatus
    receipt: str | None = None


class FkMessageAnswered(_Event):
    type: Literal["FkMessageAnswered"] = "FkMessageAnswered"
    message_id: str
    answer_id: str


class FkMessageClosed(_Event):
    """A KOMPLT resolved by a completion certificate (relation KOMPLT)."""

    type: Literal["FkMessageClosed"] = "FkMessageClosed"
    message_id: str
    reason: Literal["completed_by_certificate"] = "completed_by_certificate"
    certificate_id: str | None = None


class FkAnswerReminderDue(_Event):
    type: Literal["FkAnswerReminderDue"] = "FkAnswerReminderDue"
    message_id: str
    last_answer_date: date


class FkAnswerOverdue(_Event):
    type: Literal["FkAnswerOverdue"] = "FkAnswerOverdue"
    message_id: str
    last_answer_date: date


class CaseClosed(_Event):
    type: Literal["CaseClosed"] = "CaseClosed"
    reason: CloseReason
    note: str = ""


Event = Annotated[
    CaseOpened
    | SickPeriodStartCorrected
    | RehabChainLinked
    | RehabChainUnlinked
    | CertificateRecorded
    | CertificateRevoked
    | PlanEstablished
    | PlanRevised
    | PlanFollowedUp
    | FollowUpDue
    | ConsentGiven
    | ConsentWithdrawn
    | ConsentLapsingSoon
    | CoordinationOffered
    | CoordinationPerformed
    | CoordinationStatusSet
    | ReferredToCoordinator
    | ReferredToMultimodalTeam
    | MappingConversationHeld
    | MultimodalTeamMeetingHeld
    | ReconciliationMeetingHeld
    | JointIndividualPlanRecorded
    | EmployerReturnPlanRecorded
    | MilestoneReached
    | MilestoneDutiesDoneLate
    | CaseReopened
    | NotificationRequested
    | NotificationSent
    | NotificationSuppressed
    | NotificationFailed
    | FkMessageReceived
    | FkMessageSendRequested
    | FkMessageSent
    | FkMessageAnswered
    | FkMessageClosed
    | FkAnswerReminderDue
    | FkAnswerOverdue
    | CaseClosed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _consent_given_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 allowed open-ended consent; Rehabstöd's cap makes it 365 days from the day given."""
    given_at = datetime.fromisoformat(str(data["occurred_at"]))
    until = data.get("valid_until")
    valid_until = capped_valid_until(given_at, date.fromisoformat(until) if until else None)
    return {**data, "valid_until": valid_until.isoformat()}


#: (event type, schema version it upgrades from) -> function to the next version.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("ConsentGiven", 1): _consent_given_v1,
}


def event_to_record(event: Event) -> tuple[str, int, dict[str, Any]]:
    """(type, schema_version, data) to store; data is the full JSON dump, envelope included."""
    return event.type, event.schema_version, event.model_dump(mode="json")


def event_from_record(type: str, schema_version: int, data: dict[str, Any]) -> Event:
    """Rebuild a stored event, upcasting it step by step to the current schema version."""
    version = schema_version
    while (type, version) in UPCASTERS:
        data = UPCASTERS[(type, version)](data)
        version += 1
    return EVENT_ADAPTER.validate_python({**data, "type": type, "schema_version": version})
