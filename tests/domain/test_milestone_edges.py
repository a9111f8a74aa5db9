"""The edge of each milestone row: it acts only while the sick leave runs on past the day the
row names (DOMAIN.md: past day 14, past day 30, through day 60, from day 91 and 366), what it
finds is recorded by name, and its notices carry their dates and reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain import decide, fold, next_timer
from domain.commands import (
    EstablishPlan,
    RecordCertificate,
    RecordPlanFollowUp,
    SendCertificateToFk,
)
from domain.rules import RELEASED
from tests.domain.support import PHYSICIAN, START, Case, at, certificate, opened
from tests.domain.test_decider import plan

CONSENTS = (("employer", "share_information"), ("multimodal_team", "coordination"),
            ("coordinator", "coordination"), ("fk", "share_information"))


def findings(case: Case, day: int) -> list[str]:
    (reached,) = [e for e in case.of_type("MilestoneReached") if e.day == day]
    return list(reached.findings)


def reach(day: int, last: int, **cert: Any) -> Case:
    case = opened(cert=certificate(last=last, **cert), consents=CONSENTS)
    case.advance(at(day, 1))
    return case


@pytest.mark.parametrize(
    "day,finding,last_without,last_with",
    [
        (14, "sick_leave_continues", 15 - 1, 15),  # sickness benefit from day 15
        (30, "sick_leave_over_30_days", 31 - 1, 31),
        (60, "plan_follow_up_missing", 60 - 1, 60),
        (90, "sick_leave_continues", 91 - 1, 91),  # from day 91
        (180, "sick_leave_continues", 181 - 1, 181),
        (365, "sick_leave_continues", 366 - 1, 366),
    ],
)
def test_a_row_acts_only_when_the_sick_leave_runs_past_its_day(
    day: int, finding: str, last_without: int, last_with: int
) -> None:
    assert finding not in findings(reach(day, last_without), day)
    assert finding in findings(reach(day, last_with), day)


@pytest.mark.parametrize("last,due", [(29, False), (30, True)])
def test_the_employer_plan_is_due_on_day_30_when_the_leave_runs_through_it(
    last: int, due: bool
) -> None:
    # 30 more days expected after the last period: 60 days or more only when it ends on day 30
    case = reach(30, last, prognosis={"kind": "ATER_X_ANTAL_DGR", "days": 30})
    assert ("employer_return_plan_due" in findings(case, 30)) is due
    notes = [e.parameters for e in case.of_type("NotificationRequested")
             if e.kind == "employer_return_plan_due"]
    assert notes == ([{"due_by": "2024-04-02"}] if due else [])  # day 30


def test_day_30_hands_the_case_to_the_coordinator_and_the_team_saying_why() -> None:
    case = reach(30, 45)
    (to_coordinator,) = case.of_type("ReferredToCoordinator")
    (to_team,) = case.of_type("ReferredToMultimodalTeam")
    assert to_coordinator.reason == to_team.reason == "sick leave longer than 30 days"


def released_to(case: Case, until: datetime) -> None:
    """Fire the timers due by `until` as a workflow started before the revised rules does."""
    while (timer := next_timer(case.state, RELEASED)) is not None and timer.at <= until:
        case.clock = max(case.clock, timer.at)
        events = decide(timer.command, case.state, case.clock, RELEASED)
        case.state = fold(events, case.state)
        case.events += events


@pytest.mark.parametrize("sent_by_physician,to_fk", [(False, ["c2"]), (True, [])])
def test_released_rules_send_only_the_latest_certificate_on_day_14_unless_already_sent(
    sent_by_physician: bool, to_fk: list[str]
) -> None:
    case = opened(cert=certificate(last=20), consents=CONSENTS)
    case.do(RecordCertificate(actor=PHYSICIAN,
                              certificate=certificate("c2", first=21, last=45, issued=10)), at(10))
    if sent_by_physician:
        case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c2"))
    before = len(case.events)
    released_to(case, at(14, 1))
    sent = [e.parameters["certificate_id"] for e in case.events[before:]
            if e.type == "NotificationRequested" and e.kind == "certificate_to_fk"]
    assert sent == to_fk


def fk_sends(case: Case) -> list[str]:
    return [e.parameters["certificate_id"] for e in case.of_type("NotificationRequested")
            if e.kind == "certificate_to_fk"]


@pytest.mark.parametrize("last,missing", [(7, True), (8, False)])
def test_day_8_asks_the_patient_for_a_certificate_covering_day_8(last: int, missing: bool) -> None:
    case = reach(8, last)
    assert ("no_certificate_for_day_8" in findings(case, 8)) is missing
    notes = [e.parameters for e in case.of_type("NotificationRequested")
             if e.kind == "certificate_required_day_8"]
    assert notes == ([{"day": "8"}] if missing else [])


@pytest.mark.parametrize("last,job_seeker", [(7, False), (8, True)])
def test_a_job_seekers_certificate_through_day_8_goes_to_fk_on_day_8(
    last: int, job_seeker: bool
) -> None:
    case = reach(8, last, occupations=["ARBETSSOKANDE"])
    assert ("job_seeker" in findings(case, 8)) is job_seeker
    assert fk_sends(case) == (["c1"] if job_seeker else [])


@pytest.mark.parametrize("last,sent", [(14, False), (15, True)])
def test_a_certificate_reaching_day_15_goes_to_fk_on_day_14(last: int, sent: bool) -> None:
    assert fk_sends(reach(14, last)) == (["c1"] if sent else [])


def test_a_late_certificate_raises_a_flag_of_a_milestone_already_reached() -> None:
    # day 60 passed with the leave ending on day 59; a certificate recorded on day 61 runs
    # it to day 90: the employer's plan is now missing (the follow-up was done)
    case = opened(cert=certificate(last=59))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(20)), at(5))
    case.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + timedelta(days=19)), at(20))
    case.advance(at(61))
    assert "employer_return_plan_missing" not in case.state.flags
    case.do(RecordCertificate(actor=PHYSICIAN,
                              certificate=certificate("c2", first=60, last=90, issued=61)))
    assert "employer_return_plan_missing" in case.state.flags
    late = [e for e in case.of_type("MilestoneDutiesDoneLate") if e.day == 60]
    assert [(e.duties, "employer_return_plan_missing" in e.findings) for e in late] == [([], True)]
