"""What each milestone does (DOMAIN.md's table), as findings and duties checked on the state.

`check(day, state, rules)` says what the milestone finds and which duties follow: a `Notice`
(a notification to someone) or the `Referral` to the coordinator. `reach` records
`MilestoneReached(day, findings)` and does the duties at 00:00 of the day. Rows from day 14 on
act only while the sick leave runs on (by the certificates recorded): past day 14 (sickness
benefit from day 15), past day 30 ("> 30 days"), through day 60, and past days 90, 180 and 365
("from day 91/181/366").

Late facts (revised rules): certificates are often recorded on or after the day they matter.
`catch_up(state, out, reason)` runs after a fact arrives (a certificate recorded or revoked, a
corrected day 1, a consent, a reopening): for every milestone already reached it checks again
and does the duties not yet done, preceded by `MilestoneDutiesDoneLate(day, reason, ...)`.
A duty is done once: a notice is known by its `duty_key` (kind, recipient, certificate) in
`state.duties`; a duty suppressed for lack of consent is tried again only when the consent
(or employer) it lacked is there now, so the record is not repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from .consent import Purpose, Recipient
from .emitter import Emitter
from .events import (
    MilestoneDutiesDoneLate,
    MilestoneReached,
    ReferredToCoordinator,
    ReferredToMultimodalTeam,
)
from .rules import Rules
from .state import CaseState, duty_key
from .vocabulary import NotificationKind

#: Milestone findings that stay on the case as open flags until the fact changes.
FLAGGED_FINDINGS = frozenset(
    {
        "no_certificate_for_day_8",
        "plan_follow_up_missing",
        "employer_return_plan_missing",
    }
)

REFERRAL_REASON = "sick leave longer than 30 days"


@dataclass(frozen=True)
class Notice:
    """Tell `recipient` (with consent where needed); `refers` the patient to the multimodal
    team when the notice is requested."""

    recipient: Recipient
    purpose: Purpose
    kind: NotificationKind
    parameters: tuple[tuple[str, str], ...] = ()
    refers: bool = False

    @property
    def key(self) -> str:
        return duty_key(self.kind, self.recipient, dict(self.parameters))


@dataclass(frozen=True)
class Referral:
    """Hand the case to the rehab coordinator (sick leave over 30 days)."""

    key: str = "referral>coordinator"


Duty = Notice | Referral


@dataclass
class Check:
    findings: dict[str, bool] = field(default_factory=dict)
    duties: list[Duty] = field(default_factory=list)

    @property
    def found(self) -> list[str]:
        return [name for name, yes in self.findings.items() if yes]


def _no_employer(state: CaseState, rules: Rules) -> bool:
    return rules.job_seekers and state.is_job_seeker


def _to_fk(state: CaseState, after_day: int, rules: Rules) -> list[Duty]:
    """The FK7804s FK pays by: as released the latest only (if not already on its way); under
    the revised rules every counting certificate reaching past `after_day`."""
    if not rules.late_duties:
        latest = state.latest_certificate
        assert latest is not None
        if state.certificate_to_fk_requested(latest.certificate_id):  # the physician sent it
            return []
        certificates = [latest]
    else:
        certificates = sorted(
            (c for c in state.counting_certificates if c.last_day > state.day(after_day)),
            key=lambda c: (c.issued_at, c.certificate_id),
        )
    return [
        Notice("fk", "share_information", "certificate_to_fk", (("certificate_id", c.certificate_id),))
        for c in certificates
    ]


def _day_8(state: CaseState, rules: Rules) -> Check:
    """The employer needs a certificate from day 8: remind the patient if none covers it. A job
    seeker's certificate goes to FK from day 8 and the patient applies to FK then."""
    missing = not state.covers(state.day(8))
    job_seeker = _no_employer(state, rules) and state.on_sick_leave_through(state.day(8))
    check = Check({"no_certificate_for_day_8": missing})
    if job_seeker:
        check.findings["job_seeker"] = True
    if missing:
        check.duties.append(
            Notice("patient", "share_information", "certificate_required_day_8", (("day", "8"),))
        )
    if job_seeker:
        check.duties.append(Notice("patient", "share_information", "apply_for_sickness_benefit"))
        check.duties += _to_fk(state, 7, rules)
    return check


def _day_14(state: CaseState, rules: Rules) -> Check:
    """Sick pay ends: employer reports to FK by day 21, patient applies, FK7804 goes to FK."""
    continues = state.on_sick_leave_through(state.day(15))
    check = Check({"sick_leave_continues": continues})
    if not continues:
        return check
    if not _no_employer(state, rules):
        report_by = (("report_by", state.day(21).isoformat()),)
        check.duties.append(
            Notice("employer", "share_information", "employer_report_to_fk_by_day_21", report_by)
        )
    check.duties.append(Notice("patient", "share_information", "apply_for_sickness_benefit"))
    check.duties += _to_fk(state, 14, rules)
    return check


def _day_30(state: CaseState, rules: Rules) -> Check:
    """Employer's return-to-work plan due if >= 60 days expected; > 30 days: to the coordinator."""
    plan_due = (
        state.on_sick_leave_through(state.day(30))
        and state.expects_long_absence()
        and state.employer_return_plan_date is None
        and not _no_employer(state, rules)
    )
    over_30 = state.on_sick_leave_through(state.day(31))
    check = Check({"employer_return_plan_due": plan_due, "sick_leave_over_30_days": over_30})
    if plan_due:
        due_by = (("due_by", state.day(30).isoformat()),)
        check.duties.append(
            Notice("employer", "share_information", "employer_return_plan_due", due_by)
        )
    if not over_30:
        return check
    if state.referred_to_coordinator_at is None:
        check.duties.append(Referral())
    if state.coordination_status is None:
        check.duties.append(Notice("coordinator", "share_information", "offer_coordination"))
    if state.referred_to_multimodal_team_at is None:
        check.duties.append(
            Notice("multimodal_team", "coordination", "multimodal_team_referral", refers=True)
        )
    return check


def _day_60(state: CaseState, rules: Rules) -> Check:
    """Plan follow-up (AW026) due: alert physician and coordinator; flag a missing employer plan."""
    running = state.on_sick_leave_through(state.day(60))
    no_follow_up = running and not state.follow_ups
    no_employer_plan = (
        running
        and state.expects_long_absence()
        and state.employer_return_plan_date is None
        and not _no_employer(state, rules)
    )
    check = Check(
        {"plan_follow_up_missing": no_follow_up, "employer_return_plan_missing": no_employer_plan}
    )
    if no_follow_up:
        check.duties.append(Notice("physician", "share_information", "plan_follow_up_missing"))
        check.duties.append(Notice("coordinator", "share_information", "plan_follow_up_missing"))
    return check


def _rehab_chain(day: int, state: CaseState) -> Check:
    """Chain day `day` (it may come earlier in a sick period that continues a linked one)."""
    on = state.milestone_date(day)
    if on is None:  # that chain day lay in the linked earlier period (linked after reaching it)
        return Check()
    return Check({"sick_leave_continues": state.on_sick_leave_through(on + timedelta(days=1))})


def _day_90(state: CaseState, rules: Rules) -> Check:
    """From day 91 capacity is assessed against any work at the employer: inform."""
    check = _rehab_chain(90, state)
    if check.found:
        check.duties.append(Notice("patient", "share_information", "rehab_chain_day_91"))
        if not _no_employer(state, rules):
            check.duties.append(Notice("employer", "share_information", "rehab_chain_day_91"))
    return check


def _day_180(state: CaseState, rules: Rules) -> Check:
    """From day 181 capacity is assessed against the labour market: inform, consider AF."""
    check = _rehab_chain(180, state)
    if check.found:
        check.duties.append(Notice("patient", "share_information", "rehab_chain_day_181"))
        if not _no_employer(state, rules):
            check.duties.append(Notice("employer", "share_information", "rehab_chain_day_181"))
        check.duties.append(Notice("af", "coordination", "consider_af"))
    return check


def _day_365(state: CaseState, rules: Rules) -> Check:
    """From day 366 the continued level applies: reassess, coordinate with FK."""
    check = _rehab_chain(365, state)
    if check.found:
        check.duties.append(Notice("patient", "share_information", "rehab_chain_day_366"))
        check.duties.append(Notice("physician", "share_information", "reassess_day_366"))
        check.duties.append(Notice("fk", "coordination", "coordinate_with_fk"))
    return check


CHECKS: dict[int, Callable[[CaseState, Rules], Check]] = {
    8: _day_8,
    14: _day_14,
    30: _day_30,
    60: _day_60,
    90: _day_90,
    180: _day_180,
    365: _day_365,
}


def check(day: int, state: CaseState, rules: Rules) -> Check:
    return CHECKS[day](state, rules)


def _done(duty: Duty, state: CaseState, done_now: set[str]) -> bool:
    if duty.key in done_now:
        return True
    if isinstance(duty, Referral):
        return state.referred_to_coordinator_at is not None
    return state.duties.get(duty.key) == "done"


def _do(duty: Duty, out: Emitter) -> None:
    if isinstance(duty, Referral):
        out.add(ReferredToCoordinator(**out.envelope(), reason=REFERRAL_REASON))
        return
    requested = out.notify(duty.recipient, duty.purpose, duty.kind, **dict(duty.parameters))
    if requested and duty.refers:
        out.add(ReferredToMultimodalTeam(**out.envelope(), reason=REFERRAL_REASON))


def reach(day: int, state: CaseState, out: Emitter) -> None:
    """The milestone at 00:00 of its day: record what it finds, do its duties."""
    found = check(day, state, out.rules)
    out.add(MilestoneReached(**out.envelope(), day=day, findings=found.found))
    for duty in found.duties:
        if not (out.rules.late_duties and _done(duty, state, set())):
            _do(duty, out)


def _owed(duty: Duty, state: CaseState, out: Emitter, done_now: set[str]) -> bool:
    """Not done yet, and not suppressed before for a reason that still holds."""
    if _done(duty, state, done_now):
        return False
    if isinstance(duty, Notice) and state.duties.get(duty.key) == "suppressed":
        return out.refusal(duty.recipient, duty.purpose) is None
    return True


def catch_up(state: CaseState, out: Emitter, reason: str) -> None:
    """Do the duties of reached milestones that `reason` (a late fact) made due, once each."""
    if state.is_closed or not state.duties_tracked:
        return
    done_now: set[str] = set()
    for day in sorted(state.milestones_reached):
        found = check(day, state, out.rules)
        todo = [d for d in found.duties if _owed(d, state, out, done_now)]
        new_flags = [f for f in found.found if f in FLAGGED_FINDINGS and f not in state.flags]
        if not todo and not new_flags:
            continue
        out.add(
            MilestoneDutiesDoneLate(
                **out.envelope(),
                day=day,
                reason=reason,
                findings=found.found,
                duties=[d.key for d in todo],
            )
        )
        for duty in todo:
            _do(duty, out)
            done_now.add(duty.key)
