"""What the coordinator's work leaves in the case: each meeting as recorded (who, what, when),
the count of coordination measures (GC001), the status and referrals recorded once, and which
external actor's consent each kind of coordination measure needs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import DomainError, decide, fold
from domain.commands import (
    Command,
    GiveConsent,
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
from domain.rules import RELEASED
from domain.state import Meeting
from tests.domain.support import COORDINATOR, PATIENT, START, Case, at, certificate, opened

DAY_3 = START + timedelta(days=2)
ALL_CONSENTS = (
    ("coordinator", "coordination"),
    ("fk", "coordination"),
    ("social_services", "coordination"),
    ("multimodal_team", "coordination"),
)


def coordinated() -> Case:
    case = opened(cert=certificate(last=60), consents=ALL_CONSENTS)
    case.advance(at(3, 10))
    return case


MEETINGS: dict[str, tuple[list[Command], Meeting]] = {
    "mapping conversation": (
        [RecordMappingConversation(actor=COORDINATOR, held_on=DAY_3, note="works nights")],
        Meeting(kind="mapping_conversation", held_on=DAY_3, note="works nights",
                recorded_by=COORDINATOR.id),
    ),
    "multimodal team meeting": (
        [ReferToMultimodalTeam(actor=COORDINATOR, reason="pain"),
         RecordMultimodalTeamMeeting(actor=COORDINATOR, held_on=DAY_3,
                                     participants=["physio", "psychologist"],
                                     decisions=["graded activity"])],
        Meeting(kind="multimodal_team", held_on=DAY_3, participants=["physio", "psychologist"],
                decisions=["graded activity"], recorded_by=COORDINATOR.id),
    ),
    "reconciliation meeting": (
        [RecordReconciliationMeeting(actor=COORDINATOR, held_on=DAY_3,
                                     participants=["FK", "employer"], outcome="work trial")],
        Meeting(kind="reconciliation", held_on=DAY_3, participants=["FK", "employer"],
                note="work trial", recorded_by=COORDINATOR.id),
    ),
    "joint individual plan": (
        [RecordJointIndividualPlan(actor=COORDINATOR, agreed_on=DAY_3,
                                   participants=["social services"], note="SIP agreed")],
        Meeting(kind="joint_individual_plan", held_on=DAY_3, participants=["social services"],
                note="SIP agreed", recorded_by=COORDINATOR.id),
    ),
}


@pytest.mark.parametrize("commands,meeting", MEETINGS.values(), ids=MEETINGS)
def test_each_meeting_is_recorded_as_held_and_counts_as_one_coordination_measure(
    commands: list[Command], meeting: Meeting
) -> None:
    case = coordinated()
    for command in commands:
        case.do(command)
    assert case.state.meetings == [meeting]
    assert case.state.coordination_measures == 1


def test_coordination_measures_add_up_and_are_recorded_with_their_kind_and_day() -> None:
    case = coordinated()
    events = case.do(PerformCoordination(actor=COORDINATOR, kind="contact_fk", performed_on=DAY_3,
                                         note="called the handläggare"))
    assert [(e.type, e.kind, e.performed_on, e.note) for e in events] == [  # type: ignore[attr-defined]
        ("CoordinationPerformed", "contact_fk", DAY_3, "called the handläggare")
    ]
    case.do(PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=DAY_3))
    case.do(RecordMappingConversation(actor=COORDINATOR, held_on=DAY_3))
    assert case.state.coordination_measures == 3


@pytest.mark.parametrize(
    "kind,counterpart",
    [("contact_employer", "employer"), ("contact_fk", "fk"), ("contact_af", "af"),
     ("contact_social_services", "social_services"),
     ("contact_occupational_health", "occupational_health")],
)
def test_contacting_an_external_actor_needs_the_patients_consent_to_coordinate_with_it(
    kind: str, counterpart: str
) -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    command = PerformCoordination(actor=COORDINATOR, kind=kind, performed_on=START)  # type: ignore[arg-type]
    with pytest.raises(DomainError) as info:
        case.do(command)
    assert (info.value.field, info.value.rule, info.value.message) == (
        "kind", "consent_required", f"the patient has not consented to {counterpart} (coordination)"
    )
    case.do(GiveConsent(actor=PATIENT, recipient=counterpart, purpose="coordination"))  # type: ignore[arg-type]
    assert [e.type for e in case.do(command)] == ["CoordinationPerformed"]


def test_an_internal_measure_needs_only_the_coordination_consent() -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    case.do(PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START))
    assert case.state.coordination_measures == 1


def test_released_rules_need_no_coordination_consent_and_ignore_a_declined_status() -> None:
    case = opened(cert=certificate())
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="declined"))
    for command in (
        PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START),
        RecordMappingConversation(actor=COORDINATOR, held_on=START),
    ):
        events = decide(command, case.state, case.clock, RELEASED)
        assert len(events) == 1
        case.state = fold(events, case.state)
    assert case.state.coordination_measures == 2


def test_the_coordination_status_is_recorded_with_who_and_when_and_only_when_it_changes() -> None:
    case = opened(cert=certificate())
    first = case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted", note="by phone"),
                    at(2))
    assert [(e.type, e.status, e.note) for e in first] == [  # type: ignore[attr-defined]
        ("CoordinationStatusSet", "contacted", "by phone")
    ]
    record = case.state.coordination_status
    assert record is not None
    assert (record.status, record.set_by, record.set_at, record.note) == (
        "contacted", COORDINATOR.id, at(2), "by phone"
    )
    assert case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted",
                                         note="by phone"), at(3)) == []
    assert len(case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted",
                                             note="by letter"))) == 1
    assert len(case.do(SetCoordinationStatus(actor=COORDINATOR, status="active",
                                             note="by letter"))) == 1
    assert case.state.coordination_status.status == "active"  # type: ignore[union-attr]
    long_note = "x" * 500  # stored as a digest: the same long note again is no change
    assert len(case.do(SetCoordinationStatus(actor=COORDINATOR, status="active",
                                             note=long_note))) == 1
    assert case.do(SetCoordinationStatus(actor=COORDINATOR, status="active",
                                         note=long_note)) == []


def test_offers_and_referrals_are_recorded_with_their_time_and_referrals_only_once() -> None:
    case = opened(cert=certificate(), consents=ALL_CONSENTS)
    offered = case.do(OfferCoordination(actor=COORDINATOR, note="leaflet given"), at(2))
    assert [(e.type, e.note) for e in offered] == [("CoordinationOffered", "leaflet given")]  # type: ignore[attr-defined]
    assert case.state.coordination_offered_at == at(2)
    referred = case.do(ReferToCoordinator(actor=COORDINATOR, reason="long absence"), at(3))
    assert [(e.type, e.reason) for e in referred] == [("ReferredToCoordinator", "long absence")]  # type: ignore[attr-defined]
    assert case.do(ReferToCoordinator(actor=COORDINATOR), at(4)) == []
    assert case.state.referred_to_coordinator_at == at(3)
    team = case.do(ReferToMultimodalTeam(actor=COORDINATOR, reason="pain"), at(5))
    assert [(e.type, e.reason) for e in team] == [("ReferredToMultimodalTeam", "pain")]  # type: ignore[attr-defined]
    assert case.do(ReferToMultimodalTeam(actor=COORDINATOR), at(6)) == []
    assert case.state.referred_to_multimodal_team_at == at(5)


def test_the_employer_plan_date_is_recorded_once_per_date_and_settles_its_flag() -> None:
    case = opened(cert=certificate(last=90))  # 90 days expected: the plan is due by day 30
    case.advance(at(60, 10))  # day 60: no employer plan recorded
    assert "employer_return_plan_missing" in case.state.flags
    day_30 = START + timedelta(days=29)
    events = case.do(RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=day_30, note="trial"))
    assert [(e.type, e.plan_date, e.note) for e in events] == [  # type: ignore[attr-defined]
        ("EmployerReturnPlanRecorded", day_30, "trial")
    ]
    assert case.state.employer_return_plan_date == day_30
    assert "employer_return_plan_missing" not in case.state.flags
    assert case.do(RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=day_30)) == []


def test_every_kind_of_meeting_adds_one_measure_to_those_before() -> None:
    case = coordinated()
    case.do(PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=DAY_3))
    for commands, _ in MEETINGS.values():
        for command in commands:
            case.do(command)
    assert case.state.coordination_measures == 1 + len(MEETINGS)
    assert [m.kind for m in case.state.meetings] == [
        "mapping_conversation", "multimodal_team", "reconciliation", "joint_individual_plan"
    ]
