"""The decider's rules for opening, certificates, plans, coordination and closing."""

from datetime import date, timedelta

import pytest

from domain import DomainError, decide, fold, initial_state
from domain.commands import (
    CloseCase,
    CorrectSickPeriodStart,
    EstablishPlan,
    GiveConsent,
    OfferCoordination,
    OpenCase,
    PerformCoordination,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordJointIndividualPlan,
    RecordMappingConversation,
    RecordMultimodalTeamMeeting,
    RecordPlanFollowUp,
    RecordReconciliationMeeting,
    ReferToMultimodalTeam,
    RevisePlan,
    RevokeCertificate,
    SetCoordinationStatus,
)
from domain.events import event_id_for
from domain.measures import kva_registrations
from domain.plan import Plan
from tests.domain.support import (
    COORDINATOR,
    OPS,
    PATIENT,
    PHYSICIAN,
    PNR,
    START,
    Case,
    at,
    certificate,
    opened,
)


def plan(follow_up_day: int = 40, **changes: object) -> Plan:
    data: dict[str, object] = {
        "assessment": "Exhaustion disorder; capacity for stress markedly reduced.",
        "goals": ["50 % work by day 60"],
        "sick_leave": "100 % to day 45, then 50 %",
        "return_to_work": "tapering via work trial at the current employer",
        "follow_up_date": START + timedelta(days=follow_up_day - 1),
        **changes,
    }
    return Plan.model_validate(data)


def rule_of(case: Case, command: object) -> str:
    with pytest.raises(DomainError) as info:
        case.do(command)  # type: ignore[arg-type]
    return info.value.rule


# ---------------------------------------------------------------- opening


def test_open_case_records_the_patient_normalised_and_the_envelope() -> None:
    case = Case()
    events = case.do(
        OpenCase(
            actor=PHYSICIAN,
            case_id="case-1",
            patient_id="19121212-1212",
            unit_id="vc-norr",
            sick_period_start=START,
        ),
        at(3),
    )
    assert [e.type for e in events] == ["CaseOpened"]
    opened_event = events[0]
    assert opened_event.patient_id == PNR
    assert (opened_event.version, opened_event.event_id) == (1, event_id_for("case-1", 1))
    assert opened_event.recorded_by == "dr-anna" and opened_event.occurred_at == at(3)
    assert case.state.phase == "assessment" and case.state.version == 1


def test_open_with_first_certificate_records_both_in_one_decision() -> None:
    case = opened(cert=certificate())
    assert [e.type for e in case.events] == ["CaseOpened", "CertificateRecorded"]
    assert [e.version for e in case.events] == [1, 2]


def test_a_case_opens_once_and_only_under_its_own_id() -> None:
    case = opened()
    again = OpenCase(
        actor=PHYSICIAN, case_id="case-1", patient_id=PNR, unit_id="u", sick_period_start=START
    )
    assert rule_of(case, again) == "case_already_opened"
    other = initial_state("case-2")
    with pytest.raises(DomainError) as info:
        decide(again, other, at(1))
    assert (info.value.rule, info.value.field) == ("case_id_mismatch", "case_id")


def test_nothing_but_opening_works_on_an_unopened_case() -> None:
    with pytest.raises(DomainError) as info:
        decide(
            RecordCertificate(actor=PHYSICIAN, certificate=certificate()), initial_state("x"), at(1)
        )
    assert info.value.rule == "case_not_opened"


def test_roles_are_checked_before_anything_else() -> None:
    case = opened()
    with pytest.raises(DomainError) as info:
        case.do(EstablishPlan(actor=COORDINATOR, plan=plan()))
    assert (info.value.field, info.value.rule) == ("actor.role", "role_not_allowed")
    assert str(info.value) == "a coordinator may not establish plan"
    assert (
        rule_of(case, RecordCertificate(actor=PATIENT, certificate=certificate()))
        == "role_not_allowed"
    )


def test_decide_does_not_mutate_the_state() -> None:
    case = opened(cert=certificate())
    before = case.state.model_dump()
    decide(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"), case.state, at(3))
    decide(GiveConsent(actor=PATIENT, recipient="employer", purpose="contact"), case.state, at(3))
    assert case.state.model_dump() == before


# ---------------------------------------------------------------- certificates


def test_same_certificate_twice_is_a_no_op_a_different_one_with_its_id_is_refused() -> None:
    case = opened(cert=certificate())
    assert case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate())) == []
    changed = certificate(last=50)
    assert (
        rule_of(case, RecordCertificate(actor=PHYSICIAN, certificate=changed))
        == "certificate_duplicate"
    )


def test_certificate_may_not_start_before_day_one() -> None:
    case = opened()
    early = certificate(first=0, last=10)
    with pytest.raises(DomainError) as info:
        case.do(RecordCertificate(actor=PHYSICIAN, certificate=early))
    assert info.value.rule == "certificate_before_sick_period"
    assert "correct the start" in info.value.message


def test_extension_after_a_four_day_gap_joins_the_sick_period() -> None:
    case = opened(cert=certificate(last=10))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=15, last=30)))
    assert case.state.sick_period_end == START + timedelta(days=29)
    assert case.state.covered_days == 26


def test_a_six_day_gap_starts_a_new_sick_period_so_a_new_case() -> None:
    case = opened(cert=certificate(last=10))
    with pytest.raises(DomainError) as info:
        case.do(
            RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=17, last=30))
        )
    assert (info.value.field, info.value.rule) == ("certificate.periods", "new_sick_period")
    assert "open a new case" in info.value.message


def test_merge_gap_configured_per_case() -> None:
    case = opened(cert=certificate(last=10), merge_gap_days=14)
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=25, last=30)))
    assert len(case.state.certificates) == 2


def test_revoked_certificate_stops_counting() -> None:
    case = opened(cert=certificate(last=30))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=31, last=60)))
    assert case.state.sick_period_end == START + timedelta(days=59)
    case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c2", reason="wrong patient"))
    assert case.state.certificates["c2"].revoked
    assert case.state.sick_period_end == START + timedelta(days=29)
    assert case.state.covered_days == 30
    assert case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c2")) == []
    assert (
        rule_of(case, RevokeCertificate(actor=PHYSICIAN, certificate_id="nope"))
        == "certificate_unknown"
    )


def test_replacement_makes_the_replaced_certificate_stop_counting() -> None:
    case = opened(cert=certificate(last=60))
    ersatt = certificate("c2", last=20, relation={"kind": "ERSATT", "certificate_id": "c1"})
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=ersatt))
    assert case.state.certificates["c1"].replaced_by == "c2"
    assert case.state.sick_period_end == START + timedelta(days=19)


def test_relation_must_point_to_a_certificate_of_the_case() -> None:
    case = opened(cert=certificate())
    frlang = certificate(
        "c2", first=46, last=60, relation={"kind": "FRLANG", "certificate_id": "zz"}
    )
    assert (
        rule_of(case, RecordCertificate(actor=PHYSICIAN, certificate=frlang))
        == "relation_unknown_certificate"
    )


def test_correcting_the_start_checks_the_certificates() -> None:
    case = opened(cert=certificate(first=3, last=30))
    events = case.do(
        CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=START + timedelta(days=2))
    )
    assert events[0].previous == START and case.state.start == START + timedelta(days=2)
    later = CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=START + timedelta(days=5))
    assert rule_of(case, later) == "certificate_before_sick_period"


# ---------------------------------------------------------------- plan and phases


def test_phases_follow_plan_and_follow_up_and_register_kva() -> None:
    case = opened(cert=certificate(last=90))
    assert case.state.phase == "assessment"
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan()), at(5))
    assert case.state.phase == "plan" and case.state.follow_up_date == START + timedelta(days=39)
    assert rule_of(case, EstablishPlan(actor=PHYSICIAN, plan=plan())) == "plan_already_established"
    case.do(RevisePlan(actor=PHYSICIAN, plan=plan(goals=["full time by day 90"])), at(6))
    assert [v.version for v in case.state.plans] == [1, 2]
    assert case.do(RevisePlan(actor=PHYSICIAN, plan=case.state.plans[-1].plan)) == []
    case.do(
        RecordPlanFollowUp(actor=COORDINATOR, followed_up_on=START + timedelta(days=20)), at(21)
    )
    assert case.state.phase == "follow_up"
    assert case.state.follow_up_date is None  # done, and no next date was set
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"), at(22))
    assert case.state.phase == "closed"
    assert [k.code for k in kva_registrations(case.events)] == ["DV077", "AW026"]


def test_follow_up_needs_a_plan_and_a_date_not_in_the_future() -> None:
    case = opened(cert=certificate())
    assert (
        rule_of(case, RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START)) == "plan_missing"
    )
    assert rule_of(case, RevisePlan(actor=PHYSICIAN, plan=plan())) == "plan_missing"
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan()))
    future = RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + timedelta(days=30))
    assert rule_of(case, future) == "date_in_future"


# ---------------------------------------------------------------- coordinator's work


def test_coordination_status_records_who_and_when_and_ignores_repeats() -> None:
    case = opened(cert=certificate())
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted"), at(31))
    record = case.state.coordination_status
    assert record is not None and (record.status, record.set_by, record.set_at) == (
        "contacted",
        "co-bo",
        at(31),
    )
    assert case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted")) == []


def test_coordination_with_an_external_actor_needs_coordination_consent() -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    contact = PerformCoordination(actor=COORDINATOR, kind="contact_employer", performed_on=START)
    with pytest.raises(DomainError) as info:
        case.do(contact, at(3))
    assert info.value.rule == "consent_required"
    assert "not consented to employer (coordination)" in info.value.message
    case.do(PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START))
    case.do(GiveConsent(actor=PATIENT, recipient="employer", purpose="coordination"))
    case.do(contact)
    case.do(RecordMappingConversation(actor=COORDINATOR, held_on=START))
    assert case.state.coordination_measures == 3
    assert [k.code for k in kva_registrations(case.events)] == ["GC001", "GC001", "GC001"]


def test_multimodal_team_referral_needs_consent_and_meetings_need_a_referral() -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    meeting = RecordMultimodalTeamMeeting(
        actor=COORDINATOR,
        held_on=START,
        participants=["kurator", "fysioterapeut"],
        decisions=["start graded activity"],
    )
    assert rule_of(case, meeting) == "not_referred_to_multimodal_team"
    assert rule_of(case, ReferToMultimodalTeam(actor=COORDINATOR)) == "consent_required"
    case.do(GiveConsent(actor=PATIENT, recipient="multimodal_team", purpose="coordination"))
    case.do(ReferToMultimodalTeam(actor=COORDINATOR, reason="complex pain"))
    case.do(meeting, at(5))
    assert case.state.meetings[-1].decisions == ["start graded activity"]


def test_avstamningsmote_and_sip_need_consent_for_fk_and_social_services() -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    avstamning = RecordReconciliationMeeting(
        actor=COORDINATOR, held_on=START, participants=["FK", "patient"]
    )
    sip = RecordJointIndividualPlan(
        actor=COORDINATOR, agreed_on=START, participants=["socialtjänsten"]
    )
    assert rule_of(case, avstamning) == "consent_required"
    assert rule_of(case, sip) == "consent_required"
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="coordination"))
    case.do(GiveConsent(actor=PATIENT, recipient="social_services", purpose="coordination"))
    case.do(avstamning)
    case.do(sip)
    assert [m.kind for m in case.state.meetings] == ["reconciliation", "joint_individual_plan"]


def test_employer_return_plan_is_recorded_with_its_date() -> None:
    case = opened(cert=certificate())
    case.do(
        RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=20)), at(25)
    )
    assert case.state.employer_return_plan_date == START + timedelta(days=20)
    assert (
        rule_of(case, RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=date(2030, 1, 1)))
        == "date_in_future"
    )


# ---------------------------------------------------------------- closing


def test_closed_case_rejects_every_command() -> None:
    case = opened(cert=certificate())
    case.do(CloseCase(actor=PHYSICIAN, reason="moved_to_other_care_provider"), at(10))
    for command in (
        RecordCertificate(actor=PHYSICIAN, certificate=certificate("c9")),
        GiveConsent(actor=PATIENT, recipient="fk", purpose="contact"),
        OfferCoordination(actor=COORDINATOR),
        CloseCase(actor=PHYSICIAN, reason="deceased"),
    ):
        assert rule_of(case, command) == "case_closed"


def test_sick_period_ended_only_after_the_merge_gap_passed() -> None:
    case = opened(cert=certificate(last=12))
    ended = CloseCase(actor=OPS, reason="sick_period_ended")
    with pytest.raises(DomainError) as info:
        decide(ended, case.state, at(18, hour=23))  # a certificate from day 18 would still merge
    assert info.value.rule == "sick_period_not_ended"
    events = decide(ended, case.state, at(19, hour=0))  # days 13-17 (the gap) and 18 passed
    assert [e.type for e in events] == ["CaseClosed"]


def test_fold_rebuilds_the_same_state_from_the_record() -> None:
    case = opened(cert=certificate(), consents=(("employer", "share_information"),))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan()), at(4))
    assert fold(case.events) == case.state
