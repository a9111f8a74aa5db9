"""Every row of DOMAIN.md's milestone table, the named scenarios, and the timers."""

from datetime import timedelta
from typing import Any

import pytest

from domain import DomainError, next_timer
from domain.calendar import day_start
from domain.certificate import Certificate
from domain.commands import (
    CloseCase,
    CorrectSickPeriodStart,
    EstablishPlan,
    ReachMilestone,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordNotificationOutcome,
    RecordPlanFollowUp,
    SetCoordinationStatus,
    WithdrawConsent,
)
from domain.plan import Plan
from tests.domain.support import (
    COORDINATOR,
    PATIENT,
    PHYSICIAN,
    START,
    SYSTEM,
    Case,
    at,
    certificate,
    kinds,
    opened,
)

ALL_CONSENTS = (
    ("employer", "share_information"),
    ("fk", "share_information"),
    ("fk", "coordination"),
    ("af", "coordination"),
    ("multimodal_team", "coordination"),
)


def reached(case: Case, day: int) -> list[Any]:
    """The events the given milestone produced."""
    events = case.events
    first = next(i for i, e in enumerate(events) if e.type == "MilestoneReached" and e.day == day)
    rest = events[first + 1 :]
    end = next(
        (
            i
            for i, e in enumerate(rest)
            if e.type == "MilestoneReached" or e.recorded_by != "system"
        ),
        len(rest),
    )
    return events[first : first + 1 + end]


# ---------------------------------------------------------------- day 8


def test_day_8_reminds_the_patient_when_no_certificate_covers_day_8() -> None:
    case = opened(cert=certificate(first=1, last=5))  # ends day 5: gap keeps it open to day 10
    case.advance(at(8))
    events = reached(case, 8)
    assert events[0].findings == ["no_certificate_for_day_8"]
    assert kinds(events) == [("patient", "certificate_required_day_8")]
    assert "no_certificate_for_day_8" in case.state.flags
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=8, last=30)))
    assert "no_certificate_for_day_8" not in case.state.flags


def test_day_8_does_nothing_when_a_certificate_covers_day_8() -> None:
    case = opened(cert=certificate(first=1, last=30))
    case.advance(at(8))
    assert reached(case, 8)[0].findings == []
    assert kinds(reached(case, 8)) == []


# ---------------------------------------------------------------- day 14


def test_day_14_with_consent_notifies_employer_patient_and_sends_the_certificate_to_fk() -> None:
    case = opened(cert=certificate(last=40), consents=ALL_CONSENTS)
    case.advance(at(14))
    events = reached(case, 14)
    assert kinds(events) == [
        ("employer", "employer_report_to_fk_by_day_21"),
        ("patient", "apply_for_sickness_benefit"),
        ("fk", "certificate_to_fk"),
    ]
    employer = events[1]
    assert employer.parameters == {"report_by": (START + timedelta(days=20)).isoformat()}
    assert events[3].parameters == {"certificate_id": "c1"}


def test_day_14_without_consent_suppresses_what_would_leave_care() -> None:
    case = opened(cert=certificate(last=40))
    case.advance(at(14))
    events = reached(case, 14)
    assert kinds(events) == [("patient", "apply_for_sickness_benefit")]
    suppressed = [e for e in events if e.type == "NotificationSuppressed"]
    assert [(e.recipient, e.kind) for e in suppressed] == [
        ("employer", "employer_report_to_fk_by_day_21"),
        ("fk", "certificate_to_fk"),
    ]
    assert suppressed[0].reason == "the patient has not consented to employer (share_information)"


def test_day_14_without_an_employer_suppresses_the_employer_notice() -> None:
    case = opened(cert=certificate(last=40), employer=None, consents=ALL_CONSENTS)
    case.advance(at(14))
    suppressed = [e for e in reached(case, 14) if e.type == "NotificationSuppressed"]
    assert [e.reason for e in suppressed] == ["no employer is recorded for the patient"]


def test_sick_leave_ending_on_day_12_means_nothing_happens_at_day_14() -> None:
    case = opened(cert=certificate(last=12), consents=ALL_CONSENTS)
    case.advance(at(14))
    events = reached(case, 14)
    assert [e.type for e in events] == ["MilestoneReached"]
    assert events[0].findings == []
    timer = next_timer(case.state)
    assert timer is not None and timer.command.type == "CloseCase"
    assert timer.at == day_start(START, 19)  # days 13-17 the gap; a day-18 certificate merges
    case.advance(at(40))
    assert case.state.closed_reason == "sick_period_ended"
    assert case.state.milestones_reached == [8, 14]  # closing cancelled the rest
    assert next_timer(case.state) is None


# ---------------------------------------------------------------- day 30


def long_certificate(last: int = 90) -> Certificate:
    return certificate(last=last)


def test_day_30_reminds_the_employer_when_60_days_or_more_are_expected() -> None:
    case = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    case.advance(at(30))
    events = reached(case, 30)
    assert events[0].findings == ["employer_return_plan_due", "sick_leave_over_30_days"]
    assert ("employer", "employer_return_plan_due") in kinds(events)


def test_day_30_expected_absence_counts_the_prognosis() -> None:
    cert = certificate(last=35, prognosis={"kind": "ATER_X_ANTAL_DGR", "days": 30})
    case = opened(cert=cert, consents=ALL_CONSENTS)
    case.advance(at(30))
    assert ("employer", "employer_return_plan_due") in kinds(reached(case, 30))


def test_day_30_no_employer_reminder_for_a_short_expected_absence_or_a_recorded_plan() -> None:
    short = opened(cert=certificate(last=45), consents=ALL_CONSENTS)
    short.advance(at(30))
    assert ("employer", "employer_return_plan_due") not in kinds(reached(short, 30))
    planned = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    planned.do(
        RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=20)), at(21)
    )
    planned.advance(at(30))
    assert ("employer", "employer_return_plan_due") not in kinds(reached(planned, 30))


def test_consent_withdrawn_on_day_25_suppresses_the_day_30_employer_reminder() -> None:
    case = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    case.do(
        WithdrawConsent(actor=PATIENT, recipient="employer", purpose="share_information"), at(25)
    )
    case.advance(at(30))
    events = reached(case, 30)
    assert ("employer", "employer_return_plan_due") not in kinds(events)
    suppressed = [e for e in events if e.type == "NotificationSuppressed"]
    assert [(e.recipient, e.kind) for e in suppressed] == [("employer", "employer_return_plan_due")]
    assert suppressed[0].reason.startswith(
        "the patient withdrew consent to employer (share_information) at"
    )


def test_over_30_days_hands_the_case_to_the_coordinator_and_refers_with_consent() -> None:
    case = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    case.advance(at(30))
    events = reached(case, 30)
    types = [e.type for e in events]
    assert "ReferredToCoordinator" in types and "ReferredToMultimodalTeam" in types
    assert ("coordinator", "offer_coordination") in kinds(events)
    assert ("multimodal_team", "multimodal_team_referral") in kinds(events)
    assert case.state.referred_to_coordinator_at == day_start(START, 30)


def test_over_30_days_without_consent_the_multimodal_referral_is_suppressed() -> None:
    case = opened(cert=long_certificate())
    case.advance(at(30))
    events = reached(case, 30)
    assert "ReferredToMultimodalTeam" not in [e.type for e in events]
    assert ("multimodal_team", "multimodal_team_referral") in kinds(
        events, "NotificationSuppressed"
    )
    assert case.state.referred_to_multimodal_team_at is None


def test_day_30_for_a_sick_leave_of_exactly_30_days_does_not_hand_over() -> None:
    case = opened(cert=certificate(last=30), consents=ALL_CONSENTS)
    case.advance(at(30))
    assert [e.type for e in reached(case, 30)] == ["MilestoneReached"]


def test_a_case_with_a_coordination_status_gets_no_offer_prompt() -> None:
    case = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="active"), at(29))
    case.advance(at(30))
    assert ("coordinator", "offer_coordination") not in kinds(reached(case, 30))


# ---------------------------------------------------------------- day 60


def test_day_60_alerts_physician_and_coordinator_when_no_follow_up_and_flags_missing_employer_plan() -> (
    None
):
    case = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    case.advance(at(60))
    events = reached(case, 60)
    assert events[0].findings == ["plan_follow_up_missing", "employer_return_plan_missing"]
    assert kinds(events) == [
        ("physician", "plan_follow_up_missing"),
        ("coordinator", "plan_follow_up_missing"),
    ]
    assert {"plan_follow_up_missing", "employer_return_plan_missing"} <= set(case.state.flags)


def test_day_60_is_quiet_when_followed_up_and_the_employer_plan_exists() -> None:
    case = opened(cert=long_certificate(), consents=ALL_CONSENTS)
    plan = Plan(
        assessment="a",
        goals=["g"],
        sick_leave="s",
        return_to_work="r",
        follow_up_date=START + timedelta(days=50),
    )
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan), at(10))
    case.do(
        RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=25)), at(26)
    )
    case.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + timedelta(days=44)), at(45))
    case.advance(at(60))
    assert [e.type for e in reached(case, 60)] == ["MilestoneReached"]
    assert case.state.flags == []


# ---------------------------------------------------------------- days 90, 180, 365


def test_day_90_informs_patient_and_employer_of_the_rehabilitation_chain() -> None:
    case = opened(cert=certificate(last=100), consents=ALL_CONSENTS)
    case.advance(at(90))
    assert kinds(reached(case, 90)) == [
        ("patient", "rehab_chain_day_91"),
        ("employer", "rehab_chain_day_91"),
    ]


def test_day_180_informs_and_considers_af_with_consent() -> None:
    case = opened(cert=certificate(last=200), consents=ALL_CONSENTS)
    case.advance(at(180))
    assert kinds(reached(case, 180)) == [
        ("patient", "rehab_chain_day_181"),
        ("employer", "rehab_chain_day_181"),
        ("af", "consider_af"),
    ]


def test_day_365_reassesses_and_coordinates_with_fk_only_with_consent() -> None:
    case = opened(
        cert=certificate(last=400), consents=ALL_CONSENTS[:2]
    )  # no FK coordination consent
    case.advance(at(365))
    events = reached(case, 365)
    assert kinds(events) == [("patient", "rehab_chain_day_366"), ("physician", "reassess_day_366")]
    assert kinds(events, "NotificationSuppressed") == [("fk", "coordinate_with_fk")]


@pytest.mark.parametrize("day", [90, 180, 365])
def test_rehabilitation_chain_rows_are_quiet_when_the_sick_leave_ends_on_that_day(day: int) -> None:
    case = opened(cert=certificate(last=day), consents=ALL_CONSENTS)
    case.advance(at(day))
    assert [e.type for e in reached(case, day)] == ["MilestoneReached"]


# ---------------------------------------------------------------- timing rules


def test_a_case_opened_on_day_20_fires_day_8_and_14_at_once_in_order() -> None:
    case = opened(day=20, cert=certificate(last=60, issued=20), consents=ALL_CONSENTS)
    fired = case.advance(at(20))
    milestones = [e.day for e in fired if e.type == "MilestoneReached"]
    assert milestones == [8, 14]
    assert all(e.occurred_at == at(20) for e in fired)
    assert kinds(reached(case, 8)) == []  # the certificate covers day 8: no reminder
    assert ("patient", "apply_for_sickness_benefit") in kinds(reached(case, 14))
    timer = next_timer(case.state)
    assert timer is not None and timer.at == day_start(START, 30)


def test_a_milestone_fires_at_most_once_and_not_before_its_day() -> None:
    case = opened(cert=certificate(last=60))
    with pytest.raises(DomainError) as info:
        case.do(ReachMilestone(actor=SYSTEM, day=14), at(13, hour=23))
    assert info.value.rule == "milestone_not_due"
    case.advance(at(14))
    assert case.do(ReachMilestone(actor=SYSTEM, day=14)) == []
    with pytest.raises(DomainError) as unknown:
        case.do(ReachMilestone(actor=SYSTEM, day=15))
    assert unknown.value.rule == "milestone_unknown"


def test_correcting_the_start_earlier_replans_and_past_milestones_fire_at_once() -> None:
    case = opened(day=5, cert=certificate(first=1, last=60, issued=5))
    case.advance(at(5))
    assert case.state.milestones_reached == []
    case.do(
        CorrectSickPeriodStart(
            actor=PHYSICIAN,
            sick_period_start=START - timedelta(days=10),
            reason="first visit found earlier onset",
        )
    )
    # day 5 of the old count is day 15 of the new one: days 8 and 14 are past
    timer = next_timer(case.state)
    assert timer is not None and timer.command.day == 8  # type: ignore[union-attr]
    fired = case.advance(at(5))
    assert [e.day for e in fired if e.type == "MilestoneReached"] == [8, 14]
    assert reached(case, 8)[0].findings == ["no_certificate_for_day_8"]


def test_follow_up_date_from_the_plan_is_a_timer_that_fires_once() -> None:
    case = opened(cert=certificate(last=60))
    plan = Plan(
        assessment="a",
        goals=["g"],
        sick_leave="s",
        return_to_work="r",
        follow_up_date=START + timedelta(days=20),
    )
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan), at(3))
    case.advance(at(21, hour=8))
    due = case.of_type("FollowUpDue")
    assert [d.due_on for d in due] == [START + timedelta(days=20)]
    assert case.state.phase == "follow_up" and "plan_follow_up_due" in case.state.flags
    assert ("physician", "plan_follow_up_due") in kinds(case.events)
    timer = next_timer(case.state)
    assert timer is not None and timer.command.type == "ReachMilestone"


def test_closing_cancels_the_remaining_timers() -> None:
    case = opened(cert=certificate(last=60))
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"), at(10))
    assert next_timer(case.state) is None


def test_a_new_certificate_moves_the_automatic_closure() -> None:
    case = opened(cert=certificate(last=12))
    case.do(
        RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=16, last=40)), at(16)
    )
    case.advance(at(40))
    assert not case.state.is_closed
    timer = next_timer(case.state)
    assert timer is not None and timer.command.type == "CloseCase"
    assert timer.at == day_start(START, 47)


# ---------------------------------------------------------------- notification outcomes


def test_notification_outcomes_resolve_pending_notifications_once() -> None:
    case = opened(cert=certificate(last=40), consents=ALL_CONSENTS)
    case.advance(at(14))
    pending = case.state.pending_notifications
    assert [n.kind for n in pending] == [
        "employer_report_to_fk_by_day_21",
        "apply_for_sickness_benefit",
        "certificate_to_fk",
    ]
    first, second, third = (n.notification_id for n in pending)
    case.do(
        RecordNotificationOutcome(
            actor=SYSTEM, notification_id=first, outcome="sent", receipt="r-1"
        )
    )
    suppressed = case.do(
        RecordNotificationOutcome(
            actor=SYSTEM,
            notification_id=second,
            outcome="suppressed",
            reason="consent withdrawn before sending",
        )
    )
    assert (suppressed[0].recipient, suppressed[0].kind) == (
        "patient",
        "apply_for_sickness_benefit",
    )
    assert (
        case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=first, outcome="sent"))
        == []
    )
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"))
    failed = case.do(
        RecordNotificationOutcome(
            actor=SYSTEM, notification_id=third, outcome="failed", reason="503"
        )
    )
    assert failed[0].type == "NotificationFailed"
    assert case.state.pending_notifications == []
    with pytest.raises(DomainError) as info:
        case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=first, outcome="sent"))
    assert info.value.rule == "case_closed"


def test_unknown_notification_outcome_is_refused() -> None:
    case = opened(cert=certificate())
    with pytest.raises(DomainError) as info:
        case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id="nope", outcome="sent"))
    assert info.value.rule == "notification_unknown"


def test_timer_commands_come_from_the_system_only() -> None:
    case = opened(cert=certificate())
    with pytest.raises(DomainError) as info:
        case.do(ReachMilestone(actor=COORDINATOR, day=8), at(9))
    assert info.value.rule == "role_not_allowed"
