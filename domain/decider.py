"""The decider: `decide(command, state, now) -> events`, `evolve(state, event) -> state`.

`decide` checks the rules and raises DomainError (field + rule + sentence) or returns the
events; it never mutates the state. `evolve` applies one event and never raises for an event
`decide` could produce. A command that changes nothing returns no events.

Rules chosen where DOMAIN.md is silent:
- Who may do what is in `ALLOWED_ROLES` (plans by physicians, coordination by coordinators
  and physicians, timers by the system, FK inbound by the FK gateway).
- A certificate may not start before day 1 (correct the start first) and must lie within the
  merge gap of the other certificates, else it belongs to a new sick period, so a new case.
- ERSATT makes the replaced certificate stop counting; KOMPLT closes all open KOMPLT messages
  and the completion certificate goes to FK (it is what FK asked for), with consent.
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

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from . import fk
from .calendar import (
    MILESTONE_DAYS,
    day_start,
    local_date,
    merge_ranges,
    start_of,
)
from .certificate import Certificate
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
from .consent import (
    COORDINATION_CONSENT,
    ConsentRecord,
    Purpose,
    Recipient,
    capped_valid_until,
    consent_refusal,
    held_refusal,
    may_be_recorded,
)
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
    SickPeriodStartCorrected,
)
from .fk import FkMessageRecord, OutboundFkMessage
from .milestones import FLAGGED_FINDINGS, catch_up, reach
from .rules import CURRENT, Rules
from .state import (
    CaseState,
    CertificateRecord,
    CoordinationStatusRecord,
    FollowUpRecord,
    Meeting,
    MeetingKind,
    PlanVersion,
    duty_key,
)
from .vocabulary import CoordinationKind, NotificationOutcome, Role

_CARE: frozenset[Role] = frozenset({"physician", "coordinator"})
_SYSTEM: frozenset[Role] = frozenset({"system"})

#: Which roles may issue which command.
ALLOWED_ROLES: dict[str, frozenset[Role]] = {
    "OpenCase": _CARE | _SYSTEM,
    "CorrectSickPeriodStart": _CARE,
    "RecordCertificate": frozenset({"physician", "system"}),
    "RevokeCertificate": frozenset({"physician", "system"}),
    "EstablishPlan": frozenset({"physician"}),
    "RevisePlan": frozenset({"physician"}),
    "RecordPlanFollowUp": _CARE,
    "GiveConsent": _CARE | {"patient"},
    "WithdrawConsent": _CARE | {"patient"},
    "OfferCoordination": _CARE,
    "PerformCoordination": _CARE,
    "SetCoordinationStatus": _CARE,
    "ReferToCoordinator": _CARE | _SYSTEM,
    "ReferToMultimodalTeam": _CARE | _SYSTEM,
    "RecordMappingConversation": _CARE,
    "RecordMultimodalTeamMeeting": _CARE,
    "RecordReconciliationMeeting": _CARE,
    "RecordJointIndividualPlan": _CARE,
    "RecordEmployerReturnPlan": _CARE,
    "ReachMilestone": _SYSTEM,
    "ReachFollowUpDate": _SYSTEM,
    "ReachFkAnswerReminder": _SYSTEM,
    "ReachFkAnswerDeadline": _SYSTEM,
    "ReachConsentReminder": _SYSTEM,
    "RecordNotificationOutcome": frozenset({"system", "ops"}),
    "ReceiveFkMessage": frozenset({"fk_gateway", "system"}),
    "SendFkMessage": _CARE,
    "SendCertificateToFk": frozenset({"physician"}),
    "CloseCase": _CARE | _SYSTEM | {"ops"},
}

#: The external actor a coordination measure involves (None: internal to care).
COORDINATION_COUNTERPART: dict[CoordinationKind, Recipient | None] = {
    "internal": None,
    "contact_employer": "employer",
    "contact_fk": "fk",
    "contact_af": "af",
    "contact_social_services": "social_services",
    "contact_occupational_health": "occupational_health",
}


def initial_state(case_id: str) -> CaseState:
    """The state before the case is opened."""
    return CaseState(case_id=case_id)


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
    if command.actor.role not in ALLOWED_ROLES[command.type]:
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
    _HANDLERS[type(command)](command, state, out)
    reason = _late_fact(command)
    if rules.late_duties and reason is not None and out.events:
        after = fold(out.events, state)
        late = Emitter(after, now, command.actor.id, rules)
        catch_up(after, late, reason)
        return out.events + late.events
    return out.events


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


def _not_after_today(value: date, field: str, out: Emitter) -> None:
    if value > local_date(out.now):
        raise DomainError(field, "date_in_future", f"{value} is in the future")


def _require_consent(
    state: CaseState, recipient: Recipient, purpose: Purpose, out: Emitter, field: str
) -> None:
    reason = consent_refusal(state.consents, recipient, purpose, out.now)
    if reason is not None:
        raise DomainError(field, "consent_required", reason)


def _open_case(c: OpenCase, state: CaseState, out: Emitter) -> None:
    if state.is_opened:
        raise DomainError(
            "case_id", "case_already_opened", f"case {state.case_id} is already opened"
        )
    if c.case_id != state.case_id:
        raise DomainError(
            "case_id",
            "case_id_mismatch",
            f"the command is for case {c.case_id}, not {state.case_id}",
        )
    opened = CaseOpened(
        **out.envelope(),
        patient_id=c.patient_id,
        unit_id=c.unit_id,
        sick_period_start=c.sick_period_start,
        employer_name=c.employer_name,
        protected_identity=c.protected_identity,
        merge_gap_days=c.merge_gap_days,
    )
    out.add(opened)
    if c.certificate is not None:
        _record_certificate_events(c.certificate, evolve(state, opened), out)


def _correct_start(c: CorrectSickPeriodStart, state: CaseState, out: Emitter) -> None:
    if c.sick_period_start == state.sick_period_start:
        return
    first = min((cert.first_day for cert in state.counting_certificates), default=None)
    if first is not None and first < c.sick_period_start:
        raise DomainError(
            "sick_period_start",
            "certificate_before_sick_period",
            f"a certificate already puts the patient on sick leave from {first}, "
            f"before {c.sick_period_start}",
        )
    out.add(
        SickPeriodStartCorrected(
            **out.envelope(),
            previous=state.start,
            sick_period_start=c.sick_period_start,
            reason=c.reason,
        )
    )


def _record_certificate(c: RecordCertificate, state: CaseState, out: Emitter) -> None:
    _record_certificate_events(c.certificate, state, out)


def _record_certificate_events(cert: Certificate, state: CaseState, out: Emitter) -> None:
    existing = state.certificates.get(cert.certificate_id)
    if existing is not None:
        if existing.certificate == cert:
            return
        raise DomainError(
            "certificate.certificate_id",
            "certificate_duplicate",
            f"another certificate with id {cert.certificate_id} is already recorded",
        )
    if cert.first_day < state.start:
        raise DomainError(
            "certificate.periods",
            "certificate_before_sick_period",
            f"the sick leave starts {cert.first_day}, before day 1 of this sick "
            f"period ({state.start}); correct the start of the sick period first",
        )
    replaced = None
    if cert.relation is not None:
        if cert.relation.certificate_id not in state.certificates:
            raise DomainError(
                "certificate.relation.certificate_id",
                "relation_unknown_certificate",
                f"certificate {cert.relation.certificate_id} is not in this case",
            )
        if cert.relation.kind == "ERSATT" or (
            cert.relation.kind == "KOMPLT" and out.rules.replacements
        ):
            replaced = cert.relation.certificate_id
    others = [
        p.range
        for cid, r in state.certificates.items()
        if r.counts and cid != replaced
        for p in r.certificate.periods
    ]
    if len(merge_ranges(others + [p.range for p in cert.periods], state.merge_gap_days)) > 1:
        raise DomainError(
            "certificate.periods",
            "new_sick_period",
            f"the certificate lies more than {state.merge_gap_days} days from the "
            "other certificates, so it starts a new sick period: open a new case",
        )
    if state.is_closed:
        out.add(
            CaseReopened(
                **out.envelope(),
                certificate_id=cert.certificate_id,
                reason="a certificate merges with the sick period",
            )
        )
    out.add(CertificateRecorded(**out.envelope(), certificate=cert, replaces=replaced))
    if cert.relation is not None and cert.relation.kind == "KOMPLT":
        completed = cert.relation.certificate_id
        for record in state.fk_awaiting_care():
            if record.message.topic == "KOMPLT" and (
                not out.rules.replacements or record.message.certificate_id == completed
            ):
                out.add(
                    FkMessageClosed(
                        **out.envelope(),
                        message_id=record.message.message_id,
                        certificate_id=cert.certificate_id,
                    )
                )
        out.notify(
            "fk", "share_information", "certificate_to_fk", certificate_id=cert.certificate_id
        )


def _revoke_certificate(c: RevokeCertificate, state: CaseState, out: Emitter) -> None:
    record = state.certificates.get(c.certificate_id)
    if record is None:
        raise DomainError(
            "certificate_id",
            "certificate_unknown",
            f"certificate {c.certificate_id} is not in this case",
        )
    if not record.revoked:
        restores = None
        if out.rules.replacements and record.replaces is not None and record.counts:
            restores = record.replaces  # Intygstjänsten: the replaced certificate counts again
        out.add(
            CertificateRevoked(
                **out.envelope(),
                certificate_id=c.certificate_id,
                reason=c.reason,
                restores=restores,
            )
        )


def _establish_plan(c: EstablishPlan, state: CaseState, out: Emitter) -> None:
    if state.plans:
        raise DomainError(
            "plan", "plan_already_established", "the case already has a plan; revise it instead"
        )
    out.add(PlanEstablished(**out.envelope(), plan=c.plan, plan_version=1))


def _revise_plan(c: RevisePlan, state: CaseState, out: Emitter) -> None:
    if not state.plans:
        raise DomainError("plan", "plan_missing", "the case has no plan to revise; establish one")
    if c.plan != state.plan:
        out.add(
            PlanRevised(
                **out.envelope(), plan=c.plan, plan_version=len(state.plans) + 1, reason=c.reason
            )
        )


def _follow_up(c: RecordPlanFollowUp, state: CaseState, out: Emitter) -> None:
    if not state.plans:
        raise DomainError("followed_up_on", "plan_missing", "there is no plan to follow up")
    _not_after_today(c.followed_up_on, "followed_up_on", out)
    if c.next_follow_up is not None and c.next_follow_up <= c.followed_up_on:
        raise DomainError(
            "next_follow_up",
            "next_follow_up_not_after",
            "the next follow-up must come after this one",
        )
    out.add(
        PlanFollowedUp(
            **out.envelope(),
            followed_up_on=c.followed_up_on,
            note=c.note,
            next_follow_up=c.next_follow_up,
        )
    )


def _give_consent(c: GiveConsent, state: CaseState, out: Emitter) -> None:
    if not may_be_recorded(c.recipient, c.purpose, out.rules.coordination_consent):
        raise DomainError(
            "recipient", "consent_not_needed", f"the {c.recipient} is informed without consent"
        )
    if c.valid_until is not None and c.valid_until < local_date(out.now):
        raise DomainError(
            "valid_until",
            "valid_until_in_past",
            f"a consent cannot end in the past ({c.valid_until})",
        )
    valid_until = capped_valid_until(out.now, c.valid_until)
    if any(
        r.recipient == c.recipient
        and r.purpose == c.purpose
        and r.valid_until == valid_until
        and r.valid_at(out.now)
        for r in state.consents
    ):
        return
    out.add(
        ConsentGiven(
            **out.envelope(), recipient=c.recipient, purpose=c.purpose, valid_until=valid_until
        )
    )


def _withdraw_consent(c: WithdrawConsent, state: CaseState, out: Emitter) -> None:
    if any(
        r.recipient == c.recipient and r.purpose == c.purpose and r.valid_at(out.now)
        for r in state.consents
    ):
        out.add(ConsentWithdrawn(**out.envelope(), recipient=c.recipient, purpose=c.purpose))


def _offer_coordination(c: OfferCoordination, state: CaseState, out: Emitter) -> None:
    out.add(CoordinationOffered(**out.envelope(), note=c.note))


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


def _perform_coordination(c: PerformCoordination, state: CaseState, out: Emitter) -> None:
    _not_after_today(c.performed_on, "performed_on", out)
    _require_coordination_consent(state, out, "kind")
    counterpart = COORDINATION_COUNTERPART[c.kind]
    if counterpart is not None:
        _require_consent(state, counterpart, "coordination", out, "kind")
    out.add(
        CoordinationPerformed(
            **out.envelope(), kind=c.kind, performed_on=c.performed_on, note=c.note
        )
    )


def _set_coordination_status(c: SetCoordinationStatus, state: CaseState, out: Emitter) -> None:
    current = state.coordination_status
    if current is None or current.status != c.status or current.note != c.note:
        out.add(CoordinationStatusSet(**out.envelope(), status=c.status, note=c.note))


def _refer_to_coordinator(c: ReferToCoordinator, state: CaseState, out: Emitter) -> None:
    if state.referred_to_coordinator_at is None:
        out.add(ReferredToCoordinator(**out.envelope(), reason=c.reason))


def _refer_to_multimodal(c: ReferToMultimodalTeam, state: CaseState, out: Emitter) -> None:
    _require_consent(state, "multimodal_team", "coordination", out, "case_id")
    if state.referred_to_multimodal_team_at is None:
        out.add(ReferredToMultimodalTeam(**out.envelope(), reason=c.reason))


def _mapping_conversation(c: RecordMappingConversation, state: CaseState, out: Emitter) -> None:
    _not_after_today(c.held_on, "held_on", out)
    _require_coordination_consent(state, out, "held_on")
    out.add(MappingConversationHeld(**out.envelope(), held_on=c.held_on, note=c.note))


def _multimodal_meeting(c: RecordMultimodalTeamMeeting, state: CaseState, out: Emitter) -> None:
    _not_after_today(c.held_on, "held_on", out)
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
    _not_after_today(c.held_on, "held_on", out)
    _require_coordination_consent(state, out, "held_on")
    _require_consent(state, "fk", "coordination", out, "held_on")
    out.add(
        ReconciliationMeetingHeld(
            **out.envelope(), held_on=c.held_on, participants=c.participants, outcome=c.outcome
        )
    )


def _joint_plan(c: RecordJointIndividualPlan, state: CaseState, out: Emitter) -> None:
    _not_after_today(c.agreed_on, "agreed_on", out)
    _require_coordination_consent(state, out, "agreed_on")
    _require_consent(state, "social_services", "coordination", out, "agreed_on")
    out.add(
        JointIndividualPlanRecorded(
            **out.envelope(), agreed_on=c.agreed_on, participants=c.participants, note=c.note
        )
    )


def _employer_plan(c: RecordEmployerReturnPlan, state: CaseState, out: Emitter) -> None:
    _not_after_today(c.plan_date, "plan_date", out)
    if c.plan_date != state.employer_return_plan_date:
        out.add(EmployerReturnPlanRecorded(**out.envelope(), plan_date=c.plan_date, note=c.note))


def _reach_milestone(c: ReachMilestone, state: CaseState, out: Emitter) -> None:
    if c.day not in MILESTONE_DAYS:
        raise DomainError(
            "day",
            "milestone_unknown",
            f"day {c.day} is not a milestone ({', '.join(map(str, MILESTONE_DAYS))})",
        )
    if c.day in state.milestones_reached:
        return
    if out.now < day_start(state.start, c.day):
        raise DomainError("day", "milestone_not_due", f"day {c.day} has not begun")
    reach(c.day, state, out)


def _reach_follow_up(c: ReachFollowUpDate, state: CaseState, out: Emitter) -> None:
    if c.due_on != state.follow_up_date or c.due_on in state.follow_up_dates_reached:
        return
    if out.now < start_of(c.due_on):
        raise DomainError(
            "due_on", "follow_up_not_due", f"the follow-up date {c.due_on} has not come"
        )
    out.add(FollowUpDue(**out.envelope(), due_on=c.due_on))
    out.notify("physician", "share_information", "plan_follow_up_due", due_on=c.due_on.isoformat())


def _fk_deadline_message(message_id: str, state: CaseState) -> FkMessageRecord | None:
    """The FK message if care still owes it an answer with a last answer date."""
    record = state.fk_messages.get(message_id)
    if record is None or not record.awaiting_care or record.message.last_answer_date is None:
        return None
    return record


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


def _consent_reminder(c: ReachConsentReminder, state: CaseState, out: Emitter) -> None:
    consent = next(
        (
            r
            for r in state.consents
            if (r.recipient, r.purpose) == (c.recipient, c.purpose) and r.remind_at is not None
        ),
        None,
    )
    if consent is None or consent.remind_at is None or out.now < consent.remind_at:
        return
    out.add(
        ConsentLapsingSoon(
            **out.envelope(),
            recipient=c.recipient,
            purpose=c.purpose,
            valid_until=consent.valid_until,
        )
    )
    out.notify(
        "coordinator",
        "share_information",
        "consent_lapsing",
        consent_recipient=c.recipient,
        consent_purpose=c.purpose,
        valid_until=consent.valid_until.isoformat(),
    )


def _notification_outcome(c: RecordNotificationOutcome, state: CaseState, out: Emitter) -> None:
    pending = state.pending_notification(c.notification_id)
    if pending is None:
        if c.notification_id in state.notification_outcomes:
            return
        raise DomainError(
            "notification_id",
            "notification_unknown",
            f"notification {c.notification_id} was never requested in this case",
        )
    envelope = {**out.envelope(), "notification_id": c.notification_id}
    if c.outcome == "sent":
        out.add(NotificationSent(**envelope, receipt=c.receipt))
        if pending.kind == "fk_message":
            _fk_message_delivered(pending, c.receipt, state, out)
    elif c.outcome == "failed":
        out.add(NotificationFailed(**envelope, reason=c.reason or ""))
    else:
        out.add(
            NotificationSuppressed(
                **envelope,
                recipient=pending.recipient,
                purpose=pending.purpose,
                kind=pending.kind,
                reason=c.reason or "consent no longer valid when it was to be sent",
            )
        )


def _fk_message_delivered(
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


def _receive_fk(c: ReceiveFkMessage, state: CaseState, out: Emitter) -> None:
    if fk.is_duplicate(state, c.message.message_id):
        return
    fk.check_message(state, c.message, "inbound", "message")
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


def _same_outbound(existing: fk.FkMessage, message: OutboundFkMessage) -> bool:
    fields = set(OutboundFkMessage.model_fields)
    return OutboundFkMessage.model_validate(existing.model_dump(include=fields)) == message


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
    fk.check_message(state, message, "outbound", "message")
    _require_consent(state, "fk", "share_information", out, "message")
    out.add(FkMessageSendRequested(**out.envelope(), message=message))
    out.notify("fk", "share_information", "fk_message", message_id=mid, topic=message.topic)


def _send_certificate(c: SendCertificateToFk, state: CaseState, out: Emitter) -> None:
    record = state.certificates.get(c.certificate_id)
    if record is None:
        raise DomainError(
            "certificate_id",
            "certificate_unknown",
            f"certificate {c.certificate_id} is not in this case",
        )
    if not record.counts:
        raise DomainError(
            "certificate_id",
            "certificate_revoked",
            f"certificate {c.certificate_id} is revoked or replaced; it cannot go to FK",
        )
    if state.certificate_to_fk_requested(c.certificate_id):
        return
    _require_consent(state, "fk", "share_information", out, "certificate_id")
    out.notify("fk", "share_information", "certificate_to_fk", certificate_id=c.certificate_id)


def _mark_answered(message: fk.FkMessage, out: Emitter) -> None:
    if message.answer_to is not None:
        out.add(
            FkMessageAnswered(
                **out.envelope(),
                message_id=message.answer_to.message_id,
                answer_id=message.message_id,
            )
        )


def _close_case(c: CloseCase, state: CaseState, out: Emitter) -> None:
    if c.reason == "sick_period_ended":
        closes_at = state.closes_at(out.rules.whole_merge_gap)
        if closes_at is None or out.now < closes_at:
            raise DomainError(
                "reason",
                "sick_period_not_ended",
                "the sick period has not ended: the merge gap after the last "
                "certificate has not passed",
            )
    out.add(CaseClosed(**out.envelope(), reason=c.reason, note=c.note))


_Handler = Callable[[Any, CaseState, Emitter], None]

_HANDLERS: dict[type, _Handler] = {
    OpenCase: _open_case,
    CorrectSickPeriodStart: _correct_start,
    RecordCertificate: _record_certificate,
    RevokeCertificate: _revoke_certificate,
    EstablishPlan: _establish_plan,
    RevisePlan: _revise_plan,
    RecordPlanFollowUp: _follow_up,
    GiveConsent: _give_consent,
    WithdrawConsent: _withdraw_consent,
    OfferCoordination: _offer_coordination,
    PerformCoordination: _perform_coordination,
    SetCoordinationStatus: _set_coordination_status,
    ReferToCoordinator: _refer_to_coordinator,
    ReferToMultimodalTeam: _refer_to_multimodal,
    RecordMappingConversation: _mapping_conversation,
    RecordMultimodalTeamMeeting: _multimodal_meeting,
    RecordReconciliationMeeting: _reconciliation_meeting,
    RecordJointIndividualPlan: _joint_plan,
    RecordEmployerReturnPlan: _employer_plan,
    ReachMilestone: _reach_milestone,
    ReachFollowUpDate: _reach_follow_up,
    ReachFkAnswerReminder: _fk_reminder,
    ReachFkAnswerDeadline: _fk_deadline,
    ReachConsentReminder: _consent_reminder,
    RecordNotificationOutcome: _notification_outcome,
    ReceiveFkMessage: _receive_fk,
    SendFkMessage: _send_fk,
    SendCertificateToFk: _send_certificate,
    CloseCase: _close_case,
}


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


def _flag(s: CaseState, flag: str) -> None:
    if flag not in s.flags:
        s.flags.append(flag)


def _unflag(s: CaseState, *flags: str) -> None:
    s.flags = [f for f in s.flags if f not in flags]


def _resolve_fk(s: CaseState, message_id: str, status: fk.FkStatus, by: str, at: datetime) -> None:
    record = s.fk_messages.get(message_id)
    if record is not None:
        record.status, record.resolved_by, record.resolved_at = status, by, at
    _unflag(s, f"fk_answer_overdue:{message_id}", f"fk_reminder:{message_id}")


def _meeting(s: CaseState, event: Event, kind: MeetingKind, held_on: date, **details: Any) -> None:
    s.meetings.append(Meeting(kind=kind, held_on=held_on, recorded_by=event.recorded_by, **details))


def _apply(s: CaseState, e: Event) -> None:
    at = e.occurred_at
    match e:
        case CaseOpened():
            s.opened_at, s.patient_id, s.unit_id = at, e.patient_id, e.unit_id
            s.sick_period_start, s.employer_name = e.sick_period_start, e.employer_name
            s.protected_identity, s.merge_gap_days = e.protected_identity, e.merge_gap_days
        case SickPeriodStartCorrected():
            s.sick_period_start = e.sick_period_start
        case CertificateRecorded():
            cert = e.certificate
            replaces = e.replaces
            if replaces is None and cert.relation and cert.relation.kind == "ERSATT":
                replaces = cert.relation.certificate_id  # records made before `replaces`
            s.certificates[cert.certificate_id] = CertificateRecord(
                certificate=cert, recorded_at=at, replaces=replaces
            )
            if replaces is not None and (replaced := s.certificates.get(replaces)) is not None:
                replaced.replaced_by = cert.certificate_id
            if s.covers(s.day(8)):
                _unflag(s, "no_certificate_for_day_8")
        case CertificateRevoked():
            if (record := s.certificates.get(e.certificate_id)) is not None:
                record.revoked, record.revoked_at = True, at
            if e.restores is not None and (restored := s.certificates.get(e.restores)):
                restored.replaced_by = None
        case PlanEstablished() | PlanRevised():
            s.plans.append(
                PlanVersion(
                    version=e.plan_version, plan=e.plan, recorded_at=at, recorded_by=e.recorded_by
                )
            )
            s.follow_up_date = e.plan.follow_up_date
            if s.phase == "assessment":
                s.phase = "plan"
        case PlanFollowedUp():
            s.follow_ups.append(
                FollowUpRecord(
                    followed_up_on=e.followed_up_on,
                    recorded_at=at,
                    recorded_by=e.recorded_by,
                    note=e.note,
                )
            )
            s.follow_up_date = e.next_follow_up
            s.phase = "follow_up"
            _unflag(s, "plan_follow_up_missing", "plan_follow_up_due")
        case FollowUpDue():
            s.follow_up_dates_reached.append(e.due_on)
            s.phase = "follow_up"
            _flag(s, "plan_follow_up_due")
        case ConsentGiven():
            for r in s.consents:
                if (r.recipient, r.purpose) == (e.recipient, e.purpose) and r.superseded_at is None:
                    r.superseded_at = at
            s.consents.append(
                ConsentRecord(
                    recipient=e.recipient,
                    purpose=e.purpose,
                    given_at=at,
                    given_by=e.recorded_by,
                    valid_until=e.valid_until,
                )
            )
        case ConsentLapsingSoon():
            for r in s.consents:
                if (r.recipient, r.purpose, r.valid_until) == (e.recipient, e.purpose, e.valid_until):
                    r.reminded = True
        case ConsentWithdrawn():
            for r in s.consents:
                if (r.recipient, r.purpose) == (e.recipient, e.purpose) and r.valid_at(at):
                    r.withdrawn_at, r.withdrawn_by = at, e.recorded_by
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
            _meeting(
                s,
                e,
                "multimodal_team",
                e.held_on,
                participants=e.participants,
                decisions=e.decisions,
            )
        case ReconciliationMeetingHeld():
            _meeting(s, e, "reconciliation", e.held_on, participants=e.participants, note=e.outcome)
        case JointIndividualPlanRecorded():
            _meeting(
                s, e, "joint_individual_plan", e.agreed_on, participants=e.participants, note=e.note
            )
        case EmployerReturnPlanRecorded():
            s.employer_return_plan_date = e.plan_date
            _unflag(s, "employer_return_plan_missing")
        case MilestoneReached():
            s.milestones_reached = sorted({*s.milestones_reached, e.day})
            for finding in e.findings:  # in their recorded order: a set's order varies by process
                if finding in FLAGGED_FINDINGS:
                    _flag(s, finding)
        case MilestoneDutiesDoneLate():
            for finding in e.findings:
                if finding in FLAGGED_FINDINGS:
                    _flag(s, finding)
        case CaseReopened():
            s.closed_at, s.closed_reason = None, None
            s.phase = (
                "follow_up"
                if s.follow_ups or s.follow_up_dates_reached
                else "plan" if s.plans else "assessment"
            )
        case NotificationRequested():
            s.pending_notifications.append(e)
            s.duties[duty_key(e.kind, e.recipient, e.parameters)] = "done"
        case NotificationSuppressed() if e.notification_id is None:  # decided, not delivered
            s.duties.setdefault(duty_key(e.kind, e.recipient, e.parameters), "suppressed")
        case NotificationSent() | NotificationFailed() | NotificationSuppressed():
            if e.notification_id is not None:
                _notification_settled(s, e)
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
                    _flag(s, f"fk_reminder:{target.message.message_id}")
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
            _flag(s, f"fk_answer_overdue:{e.message_id}")
        case CaseClosed():
            s.closed_at, s.closed_reason, s.phase = at, e.reason, "closed"


def _notification_settled(
    s: CaseState, e: NotificationSent | NotificationFailed | NotificationSuppressed
) -> None:
    """The notification has its outcome; FK sends also settle the outbox or the sent list."""
    note = s.pending_notification(e.notification_id or "")
    s.pending_notifications = [
        n for n in s.pending_notifications if n.notification_id != e.notification_id
    ]
    s.notification_outcomes[e.notification_id or ""] = _OUTCOMES[e.type]
    if note is None:
        return
    if note.kind == "certificate_to_fk" and isinstance(e, NotificationSent):
        s.certificates_sent_to_fk[note.parameters.get("certificate_id", "")] = e.receipt or ""
    if note.kind == "fk_message" and not isinstance(e, NotificationSent):
        s.fk_outbox.pop(note.parameters.get("message_id", ""), None)


_OUTCOMES: dict[str, NotificationOutcome] = {
    "NotificationSent": "sent",
    "NotificationFailed": "failed",
    "NotificationSuppressed": "suppressed",
}
