"""Coordination (koordineringsinsatser, GC001), referrals, meetings and the employer's plan.

Each subdomain has `decide(command, state, out)` for its commands and `evolve(state, event)`
for its events (in place); `domain/decider.py` combines them.
"""

from __future__ import annotations

from datetime import date
from typing import Any, assert_never

from ..bounds import compact_text
from ..commands import (
    OfferCoordination,
    PerformCoordination,
    RecordEmployerReturnPlan,
    RecordJointIndividualPlan,
    RecordMappingConversation,
    RecordMultimodalTeamMeeting,
    RecordReconciliationMeeting,
    ReferToCoordinator,
    ReferToMultimodalTeam,
    SetCoordinationStatus,
)
from ..consent import (
    COORDINATION_CONSENT,
    Recipient,
    held_refusal,
)
from ..emitter import Emitter
from ..errors import DomainError
from ..events import (
    CoordinationOffered,
    CoordinationPerformed,
    CoordinationStatusSet,
    EmployerReturnPlanRecorded,
    Event,
    JointIndividualPlanRecorded,
    MappingConversationHeld,
    MultimodalTeamMeetingHeld,
    ReconciliationMeetingHeld,
    ReferredToCoordinator,
    ReferredToMultimodalTeam,
)
from ..state import (
    CaseState,
    CoordinationStatusRecord,
    Meeting,
    MeetingKind,
)
from ..vocabulary import CoordinationKind
from .common import not_after_today, require_consent, unflag

CoordinationCommand = (
    OfferCoordination | PerformCoordination | SetCoordinationStatus | ReferToCoordinator |
    ReferToMultimodalTeam | RecordMappingConversation | RecordMultimodalTeamMeeting |
    RecordReconciliationMeeting | RecordJointIndividualPlan | RecordEmployerReturnPlan
)
CoordinationEvent = (
    CoordinationOffered | CoordinationPerformed | CoordinationStatusSet | ReferredToCoordinator |
    ReferredToMultimodalTeam | MappingConversationHeld | MultimodalTeamMeetingHeld |
    ReconciliationMeetingHeld | JointIndividualPlanRecorded | EmployerReturnPlanRecorded
)

#: The external actor a coordination measure involves (None: internal to care).
COORDINATION_COUNTERPART: dict[CoordinationKind, Recipient | None] = {
    "internal": None,
    "contact_employer": "employer",
    "contact_fk": "fk",
    "contact_af": "af",
    "contact_social_services": "social_services",
    "contact_occupational_health": "occupational_health",
}



def decide(c: CoordinationCommand, state: CaseState, out: Emitter) -> None:
    match c:
        case OfferCoordination():
            _offer_coordination(c, state, out)
        case PerformCoordination():
            _perform_coordination(c, state, out)
        case SetCoordinationStatus():
            _set_coordination_status(c, state, out)
        case ReferToCoordinator():
            _refer_to_coordinator(c, state, out)
        case ReferToMultimodalTeam():
            _refer_to_multimodal(c, state, out)
        case RecordMappingConversation():
            _mapping_conversation(c, state, out)
        case RecordMultimodalTeamMeeting():
            _multimodal_meeting(c, state, out)
        case RecordReconciliationMeeting():
            _reconciliation_meeting(c, state, out)
        case RecordJointIndividualPlan():
            _joint_plan(c, state, out)
        case RecordEmployerReturnPlan():
            _employer_plan(c, state, out)
        case _:
            assert_never(c)


def _offer_coordination(c: OfferCoordination, state: CaseState, out: Emitter) -> None:
    out.add(CoordinationOffered(**out.envelope(), note=c.note))


def _perform_coordination(c: PerformCoordination, state: CaseState, out: Emitter) -> None:
    not_after_today(c.performed_on, "performed_on", out)
    _require_coordination_consent(state, out, "kind")
    counterpart = COORDINATION_COUNTERPART[c.kind]
    if counterpart is not None:
        require_consent(state, counterpart, "coordination", out, "kind")
    out.add(
        CoordinationPerformed(
            **out.envelope(), kind=c.kind, performed_on=c.performed_on, note=c.note
        )
    )


def _set_coordination_status(c: SetCoordinationStatus, state: CaseState, out: Emitter) -> None:
    current = state.coordination_status
    if current is None or current.status != c.status or compact_text(current.note) != compact_text(c.note):
        out.add(CoordinationStatusSet(**out.envelope(), status=c.status, note=c.note))


def _refer_to_coordinator(c: ReferToCoordinator, state: CaseState, out: Emitter) -> None:
    if state.referred_to_coordinator_at is None:
        out.add(ReferredToCoordinator(**out.envelope(), reason=c.reason))


def _refer_to_multimodal(c: ReferToMultimodalTeam, state: CaseState, out: Emitter) -> None:
    require_consent(state, "multimodal_team", "coordination", out, "case_id")
    if state.referred_to_multimodal_team_at is None:
        out.add(ReferredToMultimodalTeam(**out.envelope(), reason=c.reason))


def _mapping_conversation(c: RecordMappingConversation, state: CaseState, out: Emitter) -> None:
    not_after_today(c.held_on, "held_on", out)
    _require_coordination_consent(state, out, "held_on")
    out.add(MappingConversationHeld(**out.envelope(), held_on=c.held_on, note=c.note))


def _multimodal_meeting(c: RecordMultimodalTeamMeeting, state: CaseState, out: Emitter) -> None:
    not_after_today(c.held_on, "held_on", out)
    if state.referred_to_multimodal_team_at is None:
        raise DomainError(
            "held_on",
            "not_referred_to_multimodal_team",
            "the patient has not been referred to the multimodal team",
        )
    _require_coordination_consent(state, out, "held_on")
    out.add(
        MultimodalTeamMeetingHeld(
            **out.envelope(), held_on=c.held_on, participants=c.participants, decisions=c.decisions
        )
    )


def _reconciliation_meeting(c: RecordReconciliationMeeting, state: CaseState, out: Emitter) -> None:
    not_after_today(c.held_on, "held_on", out)
    _require_coordination_consent(state, out, "held_on")
    require_consent(state, "fk", "coordination", out, "held_on")
    out.add(
        ReconciliationMeetingHeld(
            **out.envelope(), held_on=c.held_on, participants=c.participants, outcome=c.outcome
        )
    )


def _joint_plan(c: RecordJointIndividualPlan, state: CaseState, out: Emitter) -> None:
    not_after_today(c.agreed_on, "agreed_on", out)
    _require_coordination_consent(state, out, "agreed_on")
    require_consent(state, "social_services", "coordination", out, "agreed_on")
    out.add(
        JointIndividualPlanRecorded(
            **out.envelope(), agreed_on=c.agreed_on, participants=c.participants, note=c.note
        )
    )


def _employer_plan(c: RecordEmployerReturnPlan, state: CaseState, out: Emitter) -> None:
    not_after_today(c.plan_date, "plan_date", out)
    if c.plan_date != state.employer_return_plan_date:
        out.add(EmployerReturnPlanRecorded(**out.envelope(), plan_date=c.plan_date, note=c.note))


def _require_coordination_consent(state: CaseState, out: Emitter, field: str) -> None:
    """Revised rules: every coordination measure (GC001) needs the patient's consent to
    coordination, and a coordination status "declined" blocks them."""
    if not out.rules.coordination_consent:
        return
    status = state.coordination_status
    if status is not None and status.status == "declined":
        raise DomainError(
            field,
            "coordination_declined",
            "the patient declined coordination; set another coordination status first",
        )
    reason = held_refusal(state.consents, *COORDINATION_CONSENT, out.now)
    if reason is not None:
        raise DomainError(field, "consent_required", reason)


def _meeting(s: CaseState, event: Event, kind: MeetingKind, held_on: date, **details: Any) -> None:
    s.meetings.append(Meeting(kind=kind, held_on=held_on, recorded_by=event.recorded_by, **details))


def evolve(s: CaseState, e: CoordinationEvent) -> None:
    at = e.occurred_at
    match e:
        case CoordinationOffered():
            s.coordination_offered_at = at
        case CoordinationPerformed():
            s.coordination_measures += 1
        case CoordinationStatusSet():
            s.coordination_status = CoordinationStatusRecord(
                status=e.status, set_by=e.recorded_by, set_at=at, note=e.note
            )
        case ReferredToCoordinator():
            s.referred_to_coordinator_at = at
        case ReferredToMultimodalTeam():
            s.referred_to_multimodal_team_at = at
        case MappingConversationHeld():
            s.coordination_measures += 1
            _meeting(s, e, "mapping_conversation", e.held_on, note=e.note)
        case MultimodalTeamMeetingHeld():
            s.coordination_measures += 1  # GC001 per coordination occasion
            _meeting(
                s,
                e,
                "multimodal_team",
                e.held_on,
                participants=e.participants,
                decisions=e.decisions,
            )
        case ReconciliationMeetingHeld():
            s.coordination_measures += 1
            _meeting(s, e, "reconciliation", e.held_on, participants=e.participants, note=e.outcome)
        case JointIndividualPlanRecorded():
            s.coordination_measures += 1
            _meeting(
                s, e, "joint_individual_plan", e.agreed_on, participants=e.participants, note=e.note
            )
        case EmployerReturnPlanRecorded():
            s.employer_return_plan_date = e.plan_date
            unflag(s, "employer_return_plan_missing")
        case _:
            assert_never(e)
