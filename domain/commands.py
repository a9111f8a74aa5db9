"""Commands: what someone asks the case to do. One pydantic model per command.

Commands carry who asks (`actor`); the decider answers with events or a DomainError.
Milestones, follow-up dates and FK deadlines are commands too, issued by the
workflow's timers with the system actor.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .bounds import LIST_MAX, SHORT_MAX, TEXT_MAX
from .calendar import DEFAULT_GAP_DAYS, MAX_GAP_DAYS
from .certificate import Certificate
from .consent import Purpose, Recipient
from .fk import FkMessage, OutboundFkMessage
from .identity import Pnr
from .plan import Plan
from .rehab_chain import ChainLink
from .vocabulary import (
    CloseReason,
    CoordinationKind,
    CoordinationStatus,
    NotificationOutcome,
    Role,
)


class Actor(BaseModel):
    """Who issues a command; `id` is what events record as `recorded_by`."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=SHORT_MAX)

    id: str = Field(min_length=1)
    role: Role
    unit_id: str | None = None


SYSTEM = Actor(id="system", role="system")


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=TEXT_MAX)

    actor: Actor


class OpenCase(_Command):
    """Open the case for one patient and sick period; optionally with its first certificate."""

    type: Literal["OpenCase"] = "OpenCase"
    case_id: str = Field(min_length=1, max_length=SHORT_MAX)
    patient_id: Pnr
    unit_id: str = Field(min_length=1, max_length=SHORT_MAX)
    sick_period_start: date
    employer_name: str | None = None
    protected_identity: bool = False
    merge_gap_days: int = Field(default=DEFAULT_GAP_DAYS, ge=0, le=MAX_GAP_DAYS)
    certificate: Certificate | None = None
    #: The patient's earlier sick period this one continues in the rehabilitation chain, as
    #: looked up by the API in the index of cases by patient (never taken from a client).
    rehab_chain: ChainLink | None = None


class CorrectSickPeriodStart(_Command):
    type: Literal["CorrectSickPeriodStart"] = "CorrectSickPeriodStart"
    sick_period_start: date
    reason: str = ""
    #: The chain link for the corrected day 1, looked up again like OpenCase's.
    rehab_chain: ChainLink | None = None


class RecordCertificate(_Command):
    """A new certificate, or an extension, completion or replacement of one."""

    type: Literal["RecordCertificate"] = "RecordCertificate"
    certificate: Certificate


class RevokeCertificate(_Command):
    """Makulera: the certificate stops counting."""

    type: Literal["RevokeCertificate"] = "RevokeCertificate"
    certificate_id: str
    reason: str = ""


class EstablishPlan(_Command):
    type: Literal["EstablishPlan"] = "EstablishPlan"
    plan: Plan


class RevisePlan(_Command):
    type: Literal["RevisePlan"] = "RevisePlan"
    plan: Plan
    reason: str = ""


class RecordPlanFollowUp(_Command):
    type: Literal["RecordPlanFollowUp"] = "RecordPlanFollowUp"
    followed_up_on: date
    note: str = ""
    next_follow_up: date | None = None


class GiveConsent(_Command):
    type: Literal["GiveConsent"] = "GiveConsent"
    recipient: Recipient
    purpose: Purpose
    valid_until: date | None = None


class WithdrawConsent(_Command):
    type: Literal["WithdrawConsent"] = "WithdrawConsent"
    recipient: Recipient
    purpose: Purpose


class OfferCoordination(_Command):
    type: Literal["OfferCoordination"] = "OfferCoordination"
    note: str = ""


class PerformCoordination(_Command):
    """A coordination measure (GC001); contact with an external actor needs coordination consent."""

    type: Literal["PerformCoordination"] = "PerformCoordination"
    kind: CoordinationKind
    performed_on: date
    note: str = ""


class SetCoordinationStatus(_Command):
    type: Literal["SetCoordinationStatus"] = "SetCoordinationStatus"
    status: CoordinationStatus
    note: str = ""


class ReferToCoordinator(_Command):
    type: Literal["ReferToCoordinator"] = "ReferToCoordinator"
    reason: str = ""


class ReferToMultimodalTeam(_Command):
    type: Literal["ReferToMultimodalTeam"] = "ReferToMultimodalTeam"
    reason: str = ""


class RecordMappingConversation(_Command):
    """Kartläggande samtal: the coordinator maps the patient's rehabilitation needs."""

    type: Literal["RecordMappingConversation"] = "RecordMappingConversation"
    held_on: date
    note: str = ""


class RecordMultimodalTeamMeeting(_Command):
    type: Literal["RecordMultimodalTeamMeeting"] = "RecordMultimodalTeamMeeting"
    held_on: date
    participants: list[str] = Field(min_length=1, max_length=LIST_MAX)
    decisions: list[str] = Field(default_factory=list, max_length=LIST_MAX)


class RecordReconciliationMeeting(_Command):
    """Avstämningsmöte with FK (needs the patient's coordination consent for FK)."""

    type: Literal["RecordReconciliationMeeting"] = "RecordReconciliationMeeting"
    held_on: date
    participants: list[str] = Field(min_length=1, max_length=LIST_MAX)
    outcome: str = ""


class RecordJointIndividualPlan(_Command):
    """SIP with social services (needs the patient's coordination consent for social services)."""

    type: Literal["RecordJointIndividualPlan"] = "RecordJointIndividualPlan"
    agreed_on: date
    participants: list[str] = Field(min_length=1, max_length=LIST_MAX)
    note: str = ""


class RecordEmployerReturnPlan(_Command):
    """The employer's plan för återgång i arbete (30 kap. 6 § SFB), with the date it was made."""

    type: Literal["RecordEmployerReturnPlan"] = "RecordEmployerReturnPlan"
    plan_date: date
    note: str = ""


class ReachMilestone(_Command):
    type: Literal["ReachMilestone"] = "ReachMilestone"
    day: int


class ReachFollowUpDate(_Command):
    type: Literal["ReachFollowUpDate"] = "ReachFollowUpDate"
    due_on: date


class ReachFkAnswerReminder(_Command):
    """Three working days before an FK message's last answer date."""

    type: Literal["ReachFkAnswerReminder"] = "ReachFkAnswerReminder"
    message_id: str


class ReachFkAnswerDeadline(_Command):
    """The day after an FK message's last answer date: the answer is overdue."""

    type: Literal["ReachFkAnswerDeadline"] = "ReachFkAnswerDeadline"
    message_id: str


class ReachConsentReminder(_Command):
    """Fourteen days before the patient's consent for `recipient` and `purpose` ends."""

    type: Literal["ReachConsentReminder"] = "ReachConsentReminder"
    recipient: Recipient
    purpose: Purpose


class RecordNotificationOutcome(_Command):
    type: Literal["RecordNotificationOutcome"] = "RecordNotificationOutcome"
    notification_id: str
    outcome: NotificationOutcome
    reason: str | None = None
    receipt: str | None = None


class ReceiveFkMessage(_Command):
    type: Literal["ReceiveFkMessage"] = "ReceiveFkMessage"
    message: FkMessage


class SendFkMessage(_Command):
    """A question (AVSTMN, KONTKT, OVRIGT) or an answer from care to FK, sent through the outbox."""

    type: Literal["SendFkMessage"] = "SendFkMessage"
    message: OutboundFkMessage


class SendCertificateToFk(_Command):
    """The physician sends a certificate (FK7804) to FK now, rather than waiting for day 14."""

    type: Literal["SendCertificateToFk"] = "SendCertificateToFk"
    certificate_id: str = Field(min_length=1, max_length=SHORT_MAX)


class CloseCase(_Command):
    type: Literal["CloseCase"] = "CloseCase"
    reason: CloseReason
    note: str = ""


Command = Annotated[
    OpenCase
    | CorrectSickPeriodStart
    | RecordCertificate
    | RevokeCertificate
    | EstablishPlan
    | RevisePlan
    | RecordPlanFollowUp
    | GiveConsent
    | WithdrawConsent
    | OfferCoordination
    | PerformCoordination
    | SetCoordinationStatus
    | ReferToCoordinator
    | ReferToMultimodalTeam
    | RecordMappingConversation
    | RecordMultimodalTeamMeeting
    | RecordReconciliationMeeting
    | RecordJointIndividualPlan
    | RecordEmployerReturnPlan
    | ReachMilestone
    | ReachFollowUpDate
    | ReachFkAnswerReminder
    | ReachFkAnswerDeadline
    | ReachConsentReminder
    | RecordNotificationOutcome
    | ReceiveFkMessage
    | SendFkMessage
    | SendCertificateToFk
    | CloseCase,
    Field(discriminator="type"),
]
