"""What each milestone does (DOMAIN.md's table), each action checking the state first.

Every milestone records `MilestoneReached(day, findings)`: the findings are what the checks
found, and the actions follow from them. Rows from day 14 on act only while the sick leave
runs on (by the certificates recorded): past day 14 (sickness benefit from day 15), past
day 30 ("> 30 days"), through day 60, and past days 90, 180 and 365 ("from day 91/181/366").
"""

from __future__ import annotations

from collections.abc import Callable

from .emitter import Emitter
from .events import MilestoneReached, ReferredToCoordinator, ReferredToMultimodalTeam
from .state import CaseState


def _reached(out: Emitter, day: int, **findings: bool) -> None:
    out.add(
        MilestoneReached(
            **out.envelope(),
            day=day,
            findings=[name for name, found in findings.items() if found],
        )
    )


def _day_8(state: CaseState, out: Emitter) -> None:
    """The employer needs a certificate from day 8: remind the patient if none covers it."""
    missing = not state.covers(state.day(8))
    _reached(out, 8, no_certificate_for_day_8=missing)
    if missing:
        out.notify("patient", "share_information", "certificate_required_day_8", day="8")


def _day_14(state: CaseState, out: Emitter) -> None:
    """Sick pay ends: employer reports to FK by day 21, patient applies, FK7804 goes to FK."""
    continues = state.on_sick_leave_through(state.day(15))
    _reached(out, 14, sick_leave_continues=continues)
    if not continues:
        return
    out.notify(
        "employer",
        "share_information",
        "employer_report_to_fk_by_day_21",
        report_by=state.day(21).isoformat(),
    )
    out.notify("patient", "share_information", "apply_for_sickness_benefit")
    latest = state.latest_certificate
    assert latest is not None
    if not state.certificate_to_fk_requested(latest.certificate_id):  # the physician sent it
        out.notify(
            "fk", "share_information", "certificate_to_fk", certificate_id=latest.certificate_id
        )


def _day_30(state: CaseState, out: Emitter) -> None:
    """Employer's return-to-work plan due if >= 60 days expected; > 30 days: to the coordinator."""
    plan_due = (
        state.on_sick_leave_through(state.day(30))
        and state.expects_long_absence()
        and state.employer_return_plan_date is None
    )
    over_30 = state.on_sick_leave_through(state.day(31))
    _reached(out, 30, employer_return_plan_due=plan_due, sick_leave_over_30_days=over_30)
    if plan_due:
        out.notify(
            "employer",
            "share_information",
            "employer_return_plan_due",
            due_by=state.day(30).isoformat(),
        )
    if not over_30:
        return
    if state.referred_to_coordinator_at is None:
        out.add(ReferredToCoordinator(**out.envelope(), reason="sick leave longer than 30 days"))
    if state.coordination_status is None:
        out.notify("coordinator", "share_information", "offer_coordination")
    if state.referred_to_multimodal_team_at is None and out.notify(
        "multimodal_team", "coordination", "multimodal_team_referral"
    ):
        out.add(ReferredToMultimodalTeam(**out.envelope(), reason="sick leave longer than 30 days"))


def _day_60(state: CaseState, out: Emitter) -> None:
    """Plan follow-up (AW026) due: alert physician and coordinator; flag a missing employer plan."""
    running = state.on_sick_leave_through(state.day(60))
    no_follow_up = running and not state.follow_ups
    no_employer_plan = (
        running and state.expects_long_absence() and state.employer_return_plan_date is None
    )
    _reached(
        out, 60, plan_follow_up_missing=no_follow_up, employer_return_plan_missing=no_employer_plan
    )
    if no_follow_up:
        out.notify("physician", "share_information", "plan_follow_up_missing")
        out.notify("coordinator", "share_information", "plan_follow_up_missing")


def _rehab_chain(day: int, state: CaseState, out: Emitter) -> bool:
    """Milestone bookkeeping for days 90/180/365; True when the sick leave runs past the day."""
    continues = state.on_sick_leave_through(state.day(day + 1))
    _reached(out, day, sick_leave_continues=continues)
    return continues


def _day_90(state: CaseState, out: Emitter) -> None:
    """From day 91 capacity is assessed against any work at the employer: inform."""
    if _rehab_chain(90, state, out):
        out.notify("patient", "share_information", "rehab_chain_day_91")
        out.notify("employer", "share_information", "rehab_chain_day_91")


def _day_180(state: CaseState, out: Emitter) -> None:
    """From day 181 capacity is assessed against the labour market: inform, consider AF."""
    if _rehab_chain(180, state, out):
        out.notify("patient", "share_information", "rehab_chain_day_181")
        out.notify("employer", "share_information", "rehab_chain_day_181")
        out.notify("af", "coordination", "consider_af")


def _day_365(state: CaseState, out: Emitter) -> None:
    """From day 366 the continued level applies: reassess, coordinate with FK."""
    if _rehab_chain(365, state, out):
        out.notify("patient", "share_information", "rehab_chain_day_366")
        out.notify("physician", "share_information", "reassess_day_366")
        out.notify("fk", "coordination", "coordinate_with_fk")


MILESTONE_ACTIONS: dict[int, Callable[[CaseState, Emitter], None]] = {
    8: _day_8,
    14: _day_14,
    30: _day_30,
    60: _day_60,
    90: _day_90,
    180: _day_180,
    365: _day_365,
}
