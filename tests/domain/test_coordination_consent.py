"""The patient's consent to coordination (revised rules): recorded with the coordinator as
recipient, required for every GC001 measure, blocked by a "declined" status; consents and the
current grade as of the moment of reading."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import RELEASED, DomainError, decide, summarize
from domain.commands import (
    GiveConsent,
    PerformCoordination,
    RecordMappingConversation,
    RecordReconciliationMeeting,
    SetCoordinationStatus,
)
from domain.measures import kva_registrations
from tests.domain.support import COORDINATOR, PATIENT, START, at, certificate, opened


def rule(case: object, command: object) -> str:
    with pytest.raises(DomainError) as info:
        case.do(command)  # type: ignore[attr-defined]
    return info.value.rule


def test_consent_to_coordination_is_recorded_and_required_for_every_measure() -> None:
    case = opened(cert=certificate())
    internal = PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START)
    mapping = RecordMappingConversation(actor=COORDINATOR, held_on=START)
    assert rule(case, internal) == "consent_required"
    assert rule(case, mapping) == "consent_required"

    case.do(GiveConsent(actor=PATIENT, recipient="coordinator", purpose="coordination"), at(2))
    case.do(internal)
    case.do(mapping)
    assert [k.code for k in kva_registrations(case.events)] == ["GC001", "GC001"]
    assert summarize(case.state, at(3)).consents == {"coordinator": ["coordination"]}


def test_an_external_actor_needs_its_own_consent_as_well() -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    meeting = RecordReconciliationMeeting(actor=COORDINATOR, held_on=START, participants=["FK"])
    with pytest.raises(DomainError) as info:
        case.do(meeting)
    assert "fk (coordination)" in info.value.message


def test_declined_coordination_blocks_measures() -> None:
    case = opened(cert=certificate(), consents=(("coordinator", "coordination"),))
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="declined"))
    internal = PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START)
    assert rule(case, internal) == "coordination_declined"
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="active"))
    case.do(internal)


def test_only_coordination_consent_to_the_coordinator_is_recordable() -> None:
    case = opened()
    assert rule(case, GiveConsent(actor=PATIENT, recipient="coordinator",
                                  purpose="share_information")) == "consent_not_needed"
    released = GiveConsent(actor=PATIENT, recipient="coordinator", purpose="coordination")
    with pytest.raises(DomainError):
        decide(released, case.state, at(2), RELEASED)


def test_expired_consent_is_not_shown_as_held_when_read_later() -> None:
    case = opened(cert=certificate(last=40))
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information",
                        valid_until=START + timedelta(days=9)), at(2))
    assert summarize(case.state, at(10, 23)).consents == {"fk": ["share_information"]}
    assert summarize(case.state, at(11, 0)).consents == {}


def test_current_grade_is_the_grade_on_the_day_read() -> None:
    cert = certificate(last=40).model_copy(update={"periods": [
        certificate(first=1, last=20, grade=100).periods[0],
        certificate(first=21, last=40, grade=50).periods[0],
    ]})
    case = opened(cert=cert)
    assert summarize(case.state, at(10)).current_grade == 100
    assert summarize(case.state, at(25)).current_grade == 50
    assert summarize(case.state, at(45)).current_grade is None


def test_a_consent_about_to_lapse_is_reminded_14_days_before_its_end() -> None:
    from domain import next_timer
    from domain.calendar import day_start

    case = opened(cert=certificate(last=90))
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information",
                        valid_until=START + timedelta(days=59)), at(2))  # ends with day 60
    case.advance(at(46, 23))
    assert case.of_type("ConsentLapsingSoon") == []
    case.advance(at(47, 1))  # day 47 begins 14 days before the end of day 60
    [reminder] = case.of_type("ConsentLapsingSoon")
    assert reminder.occurred_at == day_start(START, 47)
    assert [e.kind for e in case.of_type("NotificationRequested")
            if e.recipient == "coordinator"].count("consent_lapsing") == 1
    case.advance(at(59))
    assert len(case.of_type("ConsentLapsingSoon")) == 1  # once
    timer = next_timer(case.state)
    assert timer is None or timer.command.type != "ReachConsentReminder"


def test_a_renewed_or_short_consent_is_not_reminded() -> None:
    case = opened(cert=certificate(last=90))
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information",
                        valid_until=START + timedelta(days=59)), at(2))
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information",
                        valid_until=START + timedelta(days=200)), at(40))  # renewed in time
    case.do(GiveConsent(actor=PATIENT, recipient="af", purpose="coordination",
                        valid_until=START + timedelta(days=45)), at(40))  # six days long
    case.advance(at(89))
    assert case.of_type("ConsentLapsingSoon") == []


def test_every_coordination_occasion_registers_gc001() -> None:
    from domain.commands import (
        RecordJointIndividualPlan,
        RecordMultimodalTeamMeeting,
        ReferToMultimodalTeam,
    )

    consents = (("coordinator", "coordination"), ("fk", "coordination"),
                ("social_services", "coordination"), ("multimodal_team", "coordination"))
    case = opened(cert=certificate(), consents=consents)
    case.do(ReferToMultimodalTeam(actor=COORDINATOR))
    case.do(RecordMultimodalTeamMeeting(actor=COORDINATOR, held_on=START, participants=["kurator"]),
            at(3))
    case.do(RecordReconciliationMeeting(actor=COORDINATOR, held_on=START, participants=["FK"]))
    case.do(RecordJointIndividualPlan(actor=COORDINATOR, agreed_on=START, participants=["soc"]))
    assert [k.code for k in kva_registrations(case.events)] == ["GC001"] * 3
    assert case.state.coordination_measures == 3
