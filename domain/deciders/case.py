"""The case itself: opening, day 1, the plan and its follow-up, closing (and reopening).

Each subdomain has `decide(command, state, out)` for its commands and `evolve(state, event)`
for its events (in place); `domain/decider.py` combines them.
"""

from __future__ import annotations

from datetime import date
from typing import assert_never

from ..bounds import same
from ..calendar import (
    start_of,
)
from ..commands import (
    CloseCase,
    CorrectSickPeriodStart,
    EstablishPlan,
    OpenCase,
    ReachFollowUpDate,
    RecordPlanFollowUp,
    RevisePlan,
)
from ..emitter import Emitter
from ..errors import DomainError
from ..events import (
    CaseClosed,
    CaseOpened,
    CaseReopened,
    FollowUpDue,
    PlanEstablished,
    PlanFollowedUp,
    PlanRevised,
    RehabChainLinked,
    RehabChainUnlinked,
    SickPeriodStartCorrected,
)
from ..rehab_chain import ChainLink
from ..state import (
    CaseState,
    FollowUpRecord,
    PlanVersion,
)
from . import certificates
from .common import flag, not_after_today, unflag

CaseCommand = (
    OpenCase | CorrectSickPeriodStart | EstablishPlan | RevisePlan | RecordPlanFollowUp |
    ReachFollowUpDate | CloseCase
)
CaseEvent = (
    CaseOpened | SickPeriodStartCorrected | RehabChainLinked | RehabChainUnlinked |
    PlanEstablished | PlanRevised | PlanFollowedUp | FollowUpDue | CaseReopened | CaseClosed
)


def decide(c: CaseCommand, state: CaseState, out: Emitter) -> None:
    match c:
        case OpenCase():
            _open_case(c, state, out)
        case CorrectSickPeriodStart():
            _correct_start(c, state, out)
        case EstablishPlan():
            _establish_plan(c, state, out)
        case RevisePlan():
            _revise_plan(c, state, out)
        case RecordPlanFollowUp():
            _follow_up(c, state, out)
        case ReachFollowUpDate():
            _reach_follow_up(c, state, out)
        case CloseCase():
            _close_case(c, state, out)
        case _:
            assert_never(c)


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
    _link_chain(c.rehab_chain, c.sick_period_start, None, out)
    if c.certificate is not None:
        certificates.record_certificate_events(c.certificate, _opened(state, opened), out)


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
    _link_chain(c.rehab_chain, c.sick_period_start, state.rehab_chain, out)


def _link_chain(
    link: ChainLink | None, start: date, linked: ChainLink | None, out: Emitter
) -> None:
    """Record the rehabilitation chain link for day 1 `start` when it differs from `linked`."""
    if link == linked:
        return
    if link is not None and link.earlier_sick_period_end >= start:
        raise DomainError(
            "rehab_chain.earlier_sick_period_end",
            "chain_link_not_earlier",
            f"the linked sick period ends on {link.earlier_sick_period_end}, "
            f"not before day 1 ({start})",
        )
    if linked is not None and (link is None or link.earlier_case_id != linked.earlier_case_id):
        out.add(RehabChainUnlinked(**out.envelope(), earlier_case_id=linked.earlier_case_id))
    if link is not None:
        out.add(RehabChainLinked(**out.envelope(), **link.model_dump()))


def _establish_plan(c: EstablishPlan, state: CaseState, out: Emitter) -> None:
    if state.plans:
        raise DomainError(
            "plan", "plan_already_established", "the case already has a plan; revise it instead"
        )
    out.add(PlanEstablished(**out.envelope(), plan=c.plan, plan_version=1))


def _revise_plan(c: RevisePlan, state: CaseState, out: Emitter) -> None:
    if not state.plans:
        raise DomainError("plan", "plan_missing", "the case has no plan to revise; establish one")
    if not same(c.plan, state.plan):
        out.add(
            PlanRevised(
                **out.envelope(), plan=c.plan, plan_version=len(state.plans) + 1, reason=c.reason
            )
        )


def _follow_up(c: RecordPlanFollowUp, state: CaseState, out: Emitter) -> None:
    if not state.plans:
        raise DomainError("followed_up_on", "plan_missing", "there is no plan to follow up")
    not_after_today(c.followed_up_on, "followed_up_on", out)
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


def _reach_follow_up(c: ReachFollowUpDate, state: CaseState, out: Emitter) -> None:
    if c.due_on != state.follow_up_date or c.due_on in state.follow_up_dates_reached:
        return
    if out.now < start_of(c.due_on):
        raise DomainError(
            "due_on", "follow_up_not_due", f"the follow-up date {c.due_on} has not come"
        )
    out.add(FollowUpDue(**out.envelope(), due_on=c.due_on))
    out.notify("physician", "share_information", "plan_follow_up_due", due_on=c.due_on.isoformat())


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


def evolve(s: CaseState, e: CaseEvent) -> None:
    at = e.occurred_at
    match e:
        case CaseOpened():
            s.opened_at, s.patient_id, s.unit_id = at, e.patient_id, e.unit_id
            s.sick_period_start, s.employer_name = e.sick_period_start, e.employer_name
            s.protected_identity, s.merge_gap_days = e.protected_identity, e.merge_gap_days
        case SickPeriodStartCorrected():
            s.sick_period_start = e.sick_period_start
        case RehabChainLinked():
            s.rehab_chain = ChainLink(
                earlier_case_id=e.earlier_case_id,
                earlier_sick_period_end=e.earlier_sick_period_end,
                chain_days_before=e.chain_days_before,
            )
        case RehabChainUnlinked():
            s.rehab_chain = None
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
            unflag(s, "plan_follow_up_missing", "plan_follow_up_due")
        case FollowUpDue():
            s.follow_up_dates_reached.append(e.due_on)
            s.phase = "follow_up"
            flag(s, "plan_follow_up_due")
        case CaseReopened():
            s.closed_at, s.closed_reason = None, None
            s.phase = (
                "follow_up"
                if s.follow_ups or s.follow_up_dates_reached
                else "plan" if s.plans else "assessment"
            )
        case CaseClosed():
            s.closed_at, s.closed_reason, s.phase = at, e.reason, "closed"
        case _:
            assert_never(e)


def _opened(state: CaseState, opened: CaseOpened) -> CaseState:
    """The state once `opened` is applied (for the first certificate that comes with it)."""
    after = state.model_copy(deep=True)
    after.version = opened.version
    evolve(after, opened)
    return after
