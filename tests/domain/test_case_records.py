"""What the case records of its plan, follow-ups, day 1 and closing, as the physician and the
coordinator see it: versions with who and when, the next follow-up date, the phase, and the
follow-up reminder (once, naming its date)."""

from __future__ import annotations

from datetime import timedelta

from domain.calendar import start_of
from domain.commands import (
    CloseCase,
    CorrectSickPeriodStart,
    EstablishPlan,
    OpenCase,
    ReachFollowUpDate,
    RecordCertificate,
    RecordPlanFollowUp,
    RevisePlan,
)
from domain.state import FollowUpRecord, PlanVersion
from tests.domain.support import (
    COORDINATOR,
    PHYSICIAN,
    PNR,
    START,
    SYSTEM,
    Case,
    at,
    certificate,
    opened,
)
from tests.domain.test_decider import plan

D = timedelta(days=1)


def test_a_plan_is_versioned_with_who_and_when_and_an_unchanged_revision_is_no_version() -> None:
    case = opened(cert=certificate(last=60))
    first = plan(40)
    case.do(EstablishPlan(actor=PHYSICIAN, plan=first), at(3))
    assert case.state.plans == [PlanVersion(version=1, plan=first, recorded_at=at(3),
                                            recorded_by=PHYSICIAN.id)]
    assert (case.state.phase, case.state.follow_up_date) == ("plan", START + 39 * D)
    assert case.do(RevisePlan(actor=PHYSICIAN, plan=plan(40), reason="same"), at(4)) == []
    second = plan(45)
    (revised,) = case.do(RevisePlan(actor=PHYSICIAN, plan=second, reason="slower"), at(5))
    assert (revised.type, revised.plan_version, revised.reason) == ("PlanRevised", 2, "slower")  # type: ignore[attr-defined]
    assert [(v.version, v.plan, v.recorded_at) for v in case.state.plans] == [
        (1, first, at(3)), (2, second, at(5))
    ]
    assert case.state.follow_up_date == START + 44 * D


def test_a_follow_up_is_recorded_and_sets_the_next_date() -> None:
    case = opened(cert=certificate(last=90))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(20)), at(3))
    followed = START + 19 * D
    nxt = START + 49 * D
    (event,) = case.do(RecordPlanFollowUp(actor=COORDINATOR, followed_up_on=followed,
                                          note="half time from Monday", next_follow_up=nxt),
                       at(20, 8))
    assert (event.type, event.note, event.next_follow_up) == (  # type: ignore[attr-defined]
        "PlanFollowedUp", "half time from Monday", nxt
    )
    assert case.state.follow_ups == [
        FollowUpRecord(followed_up_on=followed, recorded_at=at(20, 8),
                       recorded_by=COORDINATOR.id, note="half time from Monday")
    ]
    assert (case.state.phase, case.state.follow_up_date) == ("follow_up", nxt)
    # the next follow-up may be the day after
    case.do(RecordPlanFollowUp(actor=COORDINATOR, followed_up_on=followed,
                               next_follow_up=followed + D))
    assert case.state.follow_up_date == followed + D


def test_the_follow_up_date_reminds_the_physician_once_naming_the_date() -> None:
    case = opened(cert=certificate(last=90))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(20)), at(3))
    due = START + 19 * D
    case.clock = start_of(due)
    events = case.do(ReachFollowUpDate(actor=SYSTEM, due_on=due))
    assert [e.type for e in events] == ["FollowUpDue", "NotificationRequested"]
    note = events[1]
    assert (note.recipient, note.purpose, note.kind, note.parameters) == (  # type: ignore[attr-defined]
        "physician", "share_information", "plan_follow_up_due", {"due_on": due.isoformat()}
    )
    assert "plan_follow_up_due" in case.state.flags and case.state.phase == "follow_up"
    assert case.do(ReachFollowUpDate(actor=SYSTEM, due_on=due)) == []
    assert case.do(ReachFollowUpDate(actor=SYSTEM, due_on=due - D)) == []  # not the plan's date


def test_a_corrected_day_1_is_recorded_with_the_previous_one_and_why() -> None:
    case = opened(cert=certificate(first=3, last=60))
    (event,) = case.do(CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=START + 2 * D,
                                              reason="first day of absence was Wednesday"))
    assert (event.previous, event.sick_period_start, event.reason) == (  # type: ignore[attr-defined]
        START, START + 2 * D, "first day of absence was Wednesday"
    )
    assert case.state.start == START + 2 * D
    assert case.do(CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=START + 2 * D)) == []


def test_a_case_opens_with_what_the_command_says() -> None:
    case = Case()
    case.do(OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=PNR, unit_id="vc-syd",
                     sick_period_start=START, employer_name="Bygg AB", protected_identity=True,
                     merge_gap_days=14), at(2))
    s = case.state
    assert (s.opened_at, s.patient_id, s.unit_id, s.sick_period_start, s.employer_name,
            s.protected_identity, s.merge_gap_days) == (
        at(2), PNR, "vc-syd", START, "Bygg AB", True, 14
    )


def test_closing_records_why_and_a_reopened_case_returns_to_its_phase() -> None:
    case = opened(cert=certificate(last=10))
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full", note="back at work"), at(5))
    assert (case.state.closed_at, case.state.closed_reason, case.state.phase) == (
        at(5), "return_to_work_full", "closed"
    )
    assert case.of_type("CaseClosed")[0].note == "back at work"
    for setup, phase in (
        (lambda c: None, "assessment"),
        (lambda c: c.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3)), "plan"),
        (lambda c: (c.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3)),
                    c.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + 2 * D))),
         "follow_up"),
    ):
        c = opened(cert=certificate(last=10))
        setup(c)
        c.advance(at(20))  # closes by itself after the merge gap
        assert c.state.phase == "closed"
        c.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=11, last=30,
                                                                        issued=20)))
        assert (c.state.phase, c.state.closed_at, c.state.closed_reason) == (phase, None, None)


def test_a_follow_up_settles_the_follow_up_flags() -> None:
    case = opened(cert=certificate(last=90))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(20)), at(3))
    case.advance(at(61))  # the follow-up date came (day 20) and day 60 passed without one
    assert {"plan_follow_up_due", "plan_follow_up_missing"} <= set(case.state.flags)
    case.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + 60 * D))
    assert not {"plan_follow_up_due", "plan_follow_up_missing"} & set(case.state.flags)
