"""The decider: `decide(command, state, now) -> events`, `evolve(state, event) -> state`.

`decide` checks the rules and raises DomainError (field + rule + sentence) or returns the
events; it never mutates the state. `evolve` applies one event and never raises for an event
`decide` could produce. A command that changes nothing returns no events.

The rules live by subdomain in `domain/deciders/` (case, certificates, consents,
coordination, fk_messaging, duties), each with its `decide` and `evolve`; this module checks
what applies to every command (role, opened, closed), dispatches with an exhaustive `match`,
and lets the duties of milestones already passed follow a late fact (`milestones.catch_up`).

Rules chosen where DOMAIN.md is silent:
- Who may do what is in `ALLOWED_ROLES` (plans by physicians, coordination by coordinators
  and physicians, timers by the system, FK inbound by the FK gateway).
- A certificate may not start before day 1 (correct the start first) and must lie within the
  merge gap of the other certificates, else it belongs to a new sick period, so a new case.
- ERSATT (revised: and KOMPLT) makes the replaced certificate stop counting; KOMPLT closes the
  open KOMPLT messages (revised: those about the certificate it completes) and the completion
  certificate goes to FK (it is what FK asked for), with consent.
- Outbound FK messages wait in an outbox (`FkMessageSendRequested` + an `fk_message`
  notification); `FkMessageSent` with FK's receipt is recorded only when the delivery's outcome
  is `sent`. A suppressed or failed delivery leaves the outbox and FK never heard of it.
- A certificate goes to FK once: a send already acknowledged or pending is not requested again.
- Giving consent again for the same recipient and purpose supersedes the earlier consent.
- Coordination measures with an external actor, the multimodal team referral, avstämningsmöte
  (FK) and SIP (social services) need the patient's coordination consent for that actor;
  sending to FK needs share_information consent for FK.
- A notification's outcome can still be recorded after the case closed; nothing else can.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import assert_never

from .bounds import check_bounds
from .commands import (
    CloseCase,
    Command,
    CorrectSickPeriodStart,
    EstablishPlan,
    GiveConsent,
    OfferCoordination,
    OpenCase,
    PerformCoordination,
    ReachConsentReminder,
    ReachFkAnswerDeadline,
    ReachFkAnswerReminder,
    ReachFollowUpDate,
    ReachMilestone,
    ReceiveFkMessage,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordJointIndividualPlan,
    RecordMappingConversation,
    RecordMultimodalTeamMeeting,
    RecordNotificationOutcome,
    RecordPlanFollowUp,
    RecordReconciliationMeeting,
    ReferToCoordinator,
    ReferToMultimodalTeam,
    RevisePlan,
    RevokeCertificate,
    SendCertificateToFk,
    SendFkMessage,
    SetCoordinationStatus,
    WithdrawConsent,
)
from .deciders import case, certificates, consents, coordination, duties, fk_messaging
from .deciders.coordination import COORDINATION_COUNTERPART
from .emitter import Emitter
from .errors import DomainError
from .events import (
    CaseClosed,
    CaseOpened,
    CaseReopened,
    CertificateRecorded,
    CertificateRevoked,
    ConsentGiven,
    ConsentLapsingSoon,
    ConsentWithdrawn,
    CoordinationOffered,
    CoordinationPerformed,
    CoordinationStatusSet,
    EmployerReturnPlanRecorded,
    Event,
    FkAnswerOverdue,
    FkAnswerReminderDue,
    FkMessageAnswered,
    FkMessageClosed,
    FkMessageReceived,
    FkMessageSendRequested,
    FkMessageSent,
    FollowUpDue,
    JointIndividualPlanRecorded,
    MappingConversationHeld,
    MilestoneDutiesDoneLate,
    MilestoneReached,
    MultimodalTeamMeetingHeld,
    NotificationFailed,
    NotificationRequested,
    NotificationSent,
    NotificationSuppressed,
    PlanEstablished,
    PlanFollowedUp,
    PlanRevised,
    ReconciliationMeetingHeld,
    ReferredToCoordinator,
    ReferredToMultimodalTeam,
    RehabChainLinked,
    RehabChainUnlinked,
    SickPeriodStartCorrected,
)
from .milestones import catch_up
from .rules import CURRENT, Rules
from .state import CaseState
from .vocabulary import Role

__all__ = [
    "ALLOWED_ROLES",
    "COORDINATION_COUNTERPART",
    "apply_in_place",
    "decide",
    "evolve",
    "fold",
    "initial_state",
]

_CARE: frozenset[Role] = frozenset({"physician", "coordinator"})
_SYSTEM: frozenset[Role] = frozenset({"system"})

#: Which roles may issue which command (every command class has an entry: tests check it).
ALLOWED_ROLES: dict[type[Command], frozenset[Role]] = {
    OpenCase: _CARE | _SYSTEM,
    CorrectSickPeriodStart: _CARE,
    RecordCertificate: frozenset({"physician", "system"}),
    RevokeCertificate: frozenset({"physician", "system"}),
    EstablishPlan: frozenset({"physician"}),
    RevisePlan: frozenset({"physician"}),
    RecordPlanFollowUp: _CARE,
    GiveConsent: _CARE | {"patient"},
    WithdrawConsent: _CARE | {"patient"},
    OfferCoordination: _CARE,
    PerformCoordination: _CARE,
    SetCoordinationStatus: _CARE,
    ReferToCoordinator: _CARE | _SYSTEM,
    ReferToMultimodalTeam: _CARE | _SYSTEM,
    RecordMappingConversation: _CARE,
    RecordMultimodalTeamMeeting: _CARE,
    RecordReconciliationMeeting: _CARE,
    RecordJointIndividualPlan: _CARE,
    RecordEmployerReturnPlan: _CARE,
    ReachMilestone: _SYSTEM,
    ReachFollowUpDate: _SYSTEM,
    ReachFkAnswerReminder: _SYSTEM,
    ReachFkAnswerDeadline: _SYSTEM,
    ReachConsentReminder: _SYSTEM,
    RecordNotificationOutcome: frozenset({"system", "ops"}),
    ReceiveFkMessage: frozenset({"fk_gateway", "system"}),
    SendFkMessage: _CARE,
    SendCertificateToFk: frozenset({"physician"}),
    CloseCase: _CARE | _SYSTEM | {"ops"},
}


def initial_state(case_id: str) -> CaseState:
    """The state before the case is opened."""
    return CaseState(case_id=case_id, duties_tracked=True)


# --------------------------------------------------------------------------------- decide


def decide(
    command: Command, state: CaseState, now: datetime, rules: Rules = CURRENT
) -> list[Event]:
    """The events `command` produces against `state` at `now`, or a DomainError.

    `rules`: the released or the revised rules (domain/rules.py); the workflow passes the
    ones its history was made with.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    check_bounds(command)
    if command.actor.role not in ALLOWED_ROLES[type(command)]:
        raise DomainError(
            "actor.role",
            "role_not_allowed",
            f"a {command.actor.role} may not {_words(command.type)}",
        )
    if not state.is_opened and not isinstance(command, OpenCase):
        raise DomainError("case_id", "case_not_opened", f"case {state.case_id} is not opened")
    if state.is_closed and not (
        (
            isinstance(command, RecordNotificationOutcome)
            and state.pending_notification(command.notification_id) is not None
        )
        or (isinstance(command, RecordCertificate) and _may_reopen(state, now, rules))
    ):
        raise DomainError(
            "case_id",
            "case_closed",
            f"case {state.case_id} is closed ({state.closed_reason}); nothing more can be recorded",
        )
    out = Emitter(state, now, command.actor.id, rules)
    _decide(command, state, out)
    reason = _late_fact(command)
    if rules.late_duties and reason is not None and out.events:
        after = fold(out.events, state)
        late = Emitter(after, now, command.actor.id, rules)
        catch_up(after, late, reason)
        return out.events + late.events
    return out.events


def _decide(command: Command, state: CaseState, out: Emitter) -> None:
    match command:
        case (
            OpenCase()
            | CorrectSickPeriodStart()
            | EstablishPlan()
            | RevisePlan()
            | RecordPlanFollowUp()
            | ReachFollowUpDate()
            | CloseCase()
        ):
            case.decide(command, state, out)
        case RecordCertificate() | RevokeCertificate() | SendCertificateToFk():
            certificates.decide(command, state, out)
        case GiveConsent() | WithdrawConsent() | ReachConsentReminder():
            consents.decide(command, state, out)
        case (
            OfferCoordination()
            | PerformCoordination()
            | SetCoordinationStatus()
            | ReferToCoordinator()
            | ReferToMultimodalTeam()
            | RecordMappingConversation()
            | RecordMultimodalTeamMeeting()
            | RecordReconciliationMeeting()
            | RecordJointIndividualPlan()
            | RecordEmployerReturnPlan()
        ):
            coordination.decide(command, state, out)
        case (
            ReceiveFkMessage() | SendFkMessage() | ReachFkAnswerReminder() | ReachFkAnswerDeadline()
        ):
            fk_messaging.decide(command, state, out)
        case ReachMilestone() | RecordNotificationOutcome():
            duties.decide(command, state, out)
        case _:
            assert_never(command)


def _late_fact(command: Command) -> str | None:
    """Why a command may make duties of milestones already reached due (None: it cannot)."""
    match command:
        case RecordCertificate():
            return f"certificate {command.certificate.certificate_id} recorded"
        case RevokeCertificate():
            return f"certificate {command.certificate_id} revoked"
        case CorrectSickPeriodStart():
            return f"day 1 corrected to {command.sick_period_start.isoformat()}"
        case GiveConsent():
            return f"consent given to {command.recipient} ({command.purpose})"
        case _:
            return None


def _may_reopen(state: CaseState, now: datetime, rules: Rules) -> bool:
    """A case that closed itself reopens for a merging certificate, within the window."""
    until = state.reopens_until()
    return rules.whole_merge_gap and until is not None and now < until


def _words(type_name: str) -> str:
    return "".join(f" {c.lower()}" if c.isupper() else c for c in type_name).strip()


# --------------------------------------------------------------------------------- evolve


def evolve(state: CaseState, event: Event) -> CaseState:
    """The state after `event`; the input state is left untouched."""
    new = state.model_copy(deep=True)
    apply_in_place(new, event)
    return new


def apply_in_place(state: CaseState, event: Event) -> None:
    """`evolve` without the copy, for a state nobody else holds."""
    state.version = event.version
    _apply(state, event)


def fold(events: Iterable[Event], state: CaseState | None = None) -> CaseState:
    """Apply events in order, from `state` or from the initial state of the first event's case.

    The state is copied once, not once per event; the input state is left untouched.
    """
    current = state.model_copy(deep=True) if state is not None else None
    for event in events:
        if current is None:
            current = initial_state(event.case_id)
        apply_in_place(current, event)
    if current is None:
        raise ValueError("fold needs a state or at least one event")
    return current


def _apply(s: CaseState, e: Event) -> None:
    """One event, in place (store/projections.py uses it to fold without copies)."""
    match e:
        case (
            CaseOpened()
            | SickPeriodStartCorrected()
            | RehabChainLinked()
            | RehabChainUnlinked()
            | PlanEstablished()
            | PlanRevised()
            | PlanFollowedUp()
            | FollowUpDue()
            | CaseReopened()
            | CaseClosed()
        ):
            case.evolve(s, e)
        case CertificateRecorded() | CertificateRevoked():
            certificates.evolve(s, e)
        case ConsentGiven() | ConsentWithdrawn() | ConsentLapsingSoon():
            consents.evolve(s, e)
        case (
            CoordinationOffered()
            | CoordinationPerformed()
            | CoordinationStatusSet()
            | ReferredToCoordinator()
            | ReferredToMultimodalTeam()
            | MappingConversationHeld()
            | MultimodalTeamMeetingHeld()
            | ReconciliationMeetingHeld()
            | JointIndividualPlanRecorded()
            | EmployerReturnPlanRecorded()
        ):
            coordination.evolve(s, e)
        case (
            FkMessageReceived()
            | FkMessageSendRequested()
            | FkMessageSent()
            | FkMessageAnswered()
            | FkMessageClosed()
            | FkAnswerReminderDue()
            | FkAnswerOverdue()
        ):
            fk_messaging.evolve(s, e)
        case (
            MilestoneReached()
            | MilestoneDutiesDoneLate()
            | NotificationRequested()
            | NotificationSent()
            | NotificationSuppressed()
            | NotificationFailed()
        ):
            duties.evolve(s, e)
        case _:
            assert_never(e)
