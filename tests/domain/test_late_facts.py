"""Late facts: duties of milestones already passed, done once when the fact arrives (revised rules).

Also the revised closure (E+g+2, reopening) and certificates that replace others.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import RELEASED, DomainError, decide, fold
from domain.calendar import day_start
from domain.commands import (
    CloseCase,
    CorrectSickPeriodStart,
    GiveConsent,
    ReceiveFkMessage,
    RecordCertificate,
    RevokeCertificate,
)
from domain.fk import FkMessage
from tests.domain.support import (
    FK_GATEWAY,
    PATIENT,
    PHYSICIAN,
    PNR,
    START,
    Case,
    at,
    certificate,
    kinds,
    opened,
)

CONSENTS = (("employer", "share_information"), ("fk", "share_information"))


def requested(case: Case) -> list[tuple[str, str]]:
    return kinds(case.events)


def fk_sends(case: Case) -> list[str]:
    return [e.parameters["certificate_id"] for e in case.of_type("NotificationRequested")
            if e.kind == "certificate_to_fk"]


def record(case: Case, cert_id: str, first: int, last: int, day: int, hour: int = 10,
           **extra: object) -> list[object]:
    return case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        cert_id, first=first, last=last, issued=day, **extra)), at(day, hour))


# ------------------------------------------------------------------ day 14, late certificate


def test_certificate_recorded_on_day_14_at_10_does_the_day_14_duties_once_and_late() -> None:
    case = opened(cert=certificate(last=10), consents=CONSENTS)
    case.advance(at(14, 10))
    assert case.of_type("MilestoneReached")[-1].findings == []  # at 00:00 the leave had ended

    events = record(case, "c2", 11, 40, day=14, relation={"kind": "FRLANG", "certificate_id": "c1"})

    late = [e for e in events if e.type == "MilestoneDutiesDoneLate"]
    assert [(e.day, e.reason) for e in late] == [(14, "certificate c2 recorded")]
    assert late[0].findings == ["sick_leave_continues"]
    assert kinds(events) == [("employer", "employer_report_to_fk_by_day_21"),
                             ("patient", "apply_for_sickness_benefit"),
                             ("fk", "certificate_to_fk")]
    assert fk_sends(case) == ["c2"]  # c1 ends on day 10: FK pays nothing by it

    # the same certificate again, and more days passing: nothing is done twice
    record(case, "c2", 11, 40, day=14, relation={"kind": "FRLANG", "certificate_id": "c1"})
    case.advance(at(29))
    assert requested(case).count(("fk", "certificate_to_fk")) == 1
    assert requested(case).count(("patient", "apply_for_sickness_benefit")) == 1


def test_released_rules_leave_a_late_certificate_without_duties() -> None:
    case = opened(cert=certificate(last=10), consents=CONSENTS)
    case.advance(at(14, 10))
    command = RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=11, last=40,
                                                                         issued=14))
    events = decide(command, case.state, at(14, 10), RELEASED)
    assert [e.type for e in events] == ["CertificateRecorded"]


def test_an_extension_after_day_14_goes_to_fk_once() -> None:
    case = opened(cert=certificate(last=20), consents=CONSENTS)
    case.advance(at(18))
    assert fk_sends(case) == ["c1"]
    record(case, "c2", 21, 35, day=18, relation={"kind": "FRLANG", "certificate_id": "c1"})
    record(case, "c3", 36, 38, day=30, relation={"kind": "FRLANG", "certificate_id": "c2"})
    assert fk_sends(case) == ["c1", "c2", "c3"]
    late = case.of_type("MilestoneDutiesDoneLate")
    assert [e.duties for e in late if e.day == 14] == [["certificate_to_fk>fk:c2"],
                                                      ["certificate_to_fk>fk:c3"]]


# ------------------------------------------------------------------ day 30, late extension


def test_extension_on_day_30_refers_to_the_coordinator_once() -> None:
    case = opened(cert=certificate(last=29), consents=CONSENTS)
    case.advance(at(30, 8))
    assert case.of_type("ReferredToCoordinator") == []

    events = record(case, "c2", 30, 60, day=30, relation={"kind": "FRLANG", "certificate_id": "c1"})

    types = [e.type for e in events]
    assert types.count("ReferredToCoordinator") == 1
    late = {e.day: e for e in events if e.type == "MilestoneDutiesDoneLate"}
    assert late[14].duties == ["certificate_to_fk>fk:c2"]  # FK pays by the extension too
    assert "referral>coordinator" in late[30].duties
    assert ("coordinator", "offer_coordination") in kinds(events)
    # no consent for the multimodal team: the record says so, once
    assert kinds(events, "NotificationSuppressed") == [("multimodal_team", "multimodal_team_referral")]

    record(case, "c3", 61, 70, day=45, relation={"kind": "FRLANG", "certificate_id": "c2"})
    assert len(case.of_type("ReferredToCoordinator")) == 1
    assert kinds(case.events, "NotificationSuppressed").count(
        ("multimodal_team", "multimodal_team_referral")) == 1  # not recorded again


def test_consent_arriving_later_does_the_suppressed_duty_once() -> None:
    case = opened(cert=certificate(last=60), consents=CONSENTS)
    case.advance(at(31))
    assert case.of_type("ReferredToMultimodalTeam") == []

    events = case.do(GiveConsent(actor=PATIENT, recipient="multimodal_team", purpose="coordination"),
                     at(33))

    assert kinds(events) == [("multimodal_team", "multimodal_team_referral")]
    assert [e.type for e in events].count("ReferredToMultimodalTeam") == 1
    late = [e for e in events if e.type == "MilestoneDutiesDoneLate"]
    assert [(e.day, e.reason) for e in late] == [(30, "consent given to multimodal_team (coordination)")]
    case.do(GiveConsent(actor=PATIENT, recipient="multimodal_team", purpose="coordination",
                        valid_until=START + timedelta(days=100)), at(34))
    assert len(case.of_type("ReferredToMultimodalTeam")) == 1


def test_fk_consent_after_day_14_sends_the_waiting_certificate() -> None:
    case = opened(cert=certificate(last=40), consents=(("employer", "share_information"),))
    case.advance(at(15))
    assert fk_sends(case) == []
    case.do(GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information"), at(16))
    assert fk_sends(case) == ["c1"]
    assert requested(case).count(("employer", "employer_report_to_fk_by_day_21")) == 1


# ------------------------------------------------------------------ corrected day 1


def test_day_1_corrected_before_the_first_certificate() -> None:
    case = opened(consents=CONSENTS)  # no certificate yet
    case.advance(at(15))
    assert [e.findings for e in case.of_type("MilestoneReached")] == [
        ["no_certificate_for_day_8"], []]
    earlier = START - timedelta(days=3)
    case.do(CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=earlier), at(15))
    events = record(case, "c1", -2, 40, day=15, motivation_early_start="telefon")
    late = [e for e in events if e.type == "MilestoneDutiesDoneLate"]
    assert [e.day for e in late] == [14]
    assert fk_sends(case) == ["c1"]
    assert "no_certificate_for_day_8" not in case.state.flags


# ------------------------------------------------------------------ job seekers


def test_job_seeker_has_no_employer_duties_and_goes_to_fk_from_day_8() -> None:
    cert = certificate(last=40, occupations=["ARBETSSOKANDE"])
    case = opened(cert=cert, consents=CONSENTS)
    case.advance(at(8, 1))
    assert requested(case) == [("patient", "apply_for_sickness_benefit"), ("fk", "certificate_to_fk")]
    case.advance(at(70))
    assert not any(r == "employer" for r, _ in requested(case))
    assert not any(r == "employer" for r, _ in kinds(case.events, "NotificationSuppressed"))
    assert requested(case).count(("patient", "apply_for_sickness_benefit")) == 1
    assert "employer_return_plan_missing" not in case.state.flags


def test_occupation_changing_to_job_seeker_does_the_day_8_duties_late() -> None:
    case = opened(cert=certificate(last=7), consents=CONSENTS)
    case.advance(at(9))
    events = record(case, "c2", 8, 12, day=9, occupations=["ARBETSSOKANDE"],
                    relation={"kind": "FRLANG", "certificate_id": "c1"})
    late = [e for e in events if e.type == "MilestoneDutiesDoneLate"]
    assert [e.day for e in late] == [8]
    assert "job_seeker" in late[0].findings
    assert fk_sends(case) == ["c2"]


# ------------------------------------------------------------------ closure and reopening


def test_certificate_starting_on_end_plus_gap_plus_1_merges() -> None:
    case = opened(cert=certificate(last=10))
    case.advance(at(16, 12))  # days 11-15 are the gap; day 16 may still bring a certificate
    assert not case.state.is_closed
    record(case, "c2", 16, 20, day=16, hour=12)
    assert not case.state.is_closed


def test_automatic_closure_reopens_for_a_backdated_merging_certificate() -> None:
    case = opened(cert=certificate(last=10), consents=CONSENTS)
    case.advance(at(20))
    assert case.state.closed_reason == "sick_period_ended"

    events = record(case, "c2", 14, 40, day=20, relation={"kind": "FRLANG", "certificate_id": "c1"})

    assert [e.type for e in events][:2] == ["CaseReopened", "CertificateRecorded"]
    assert not case.state.is_closed and case.state.sick_period_start == START
    assert fk_sends(case) == ["c2"]  # the day-14 duties follow the certificate
    case.advance(at(31))
    assert [e.day for e in case.of_type("MilestoneReached")] == [8, 14, 30]


def test_certificate_that_does_not_merge_after_closure_is_a_new_sick_period() -> None:
    case = opened(cert=certificate(last=10))
    case.advance(at(20))
    with pytest.raises(DomainError) as info:
        record(case, "c2", 18, 30, day=20)
    assert info.value.rule == "new_sick_period"


def test_other_closures_stay_final() -> None:
    case = opened(cert=certificate(last=10))
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"), at(9))
    with pytest.raises(DomainError) as info:
        record(case, "c2", 11, 30, day=12)
    assert info.value.rule == "case_closed"


def test_reopening_ends_with_the_window() -> None:
    case = opened(cert=certificate(last=10))  # closes as day 17 begins; reopens until day 24
    case.advance(at(23, 23))
    assert case.state.is_closed
    assert decide(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", first=14, last=30, issued=23, motivation_early_start="efterhand")),
        case.state, at(23, 23))[0].type == "CaseReopened"
    with pytest.raises(DomainError) as info:
        record(case, "c2", 14, 30, day=24, hour=0, motivation_early_start="efterhand")
    assert info.value.rule == "case_closed"


# ------------------------------------------------------------------ replacements


def test_revoked_replacement_restores_the_original() -> None:
    case = opened(cert=certificate(last=40))
    record(case, "c2", 1, 20, day=5, relation={"kind": "ERSATT", "certificate_id": "c1"})
    assert case.state.sick_period_end == START + timedelta(days=19)
    case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c2"), at(6))
    assert case.state.sick_period_end == START + timedelta(days=39)
    assert [c.certificate_id for c in case.state.counting_certificates] == ["c1"]
    assert fold(case.events) == case.state


def test_completion_replaces_and_resolves_only_its_own_komplt() -> None:
    case = opened(cert=certificate(last=40), consents=CONSENTS)
    record(case, "c2", 41, 50, day=20, relation={"kind": "FRLANG", "certificate_id": "c1"})
    for mid, cid in (("m1", "c1"), ("m2", "c2")):
        case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=FkMessage.model_validate({
            "message_id": mid, "reference_id": f"r-{mid}", "sent_at": at(21), "certificate_id": cid,
            "patient_id": PNR, "topic": "KOMPLT", "heading": "Komplettering", "text": "Beskriv",
            "sender": "FK", "completion_items": [{"question_id": "1", "text": "Mer"}],
            "last_answer_date": START + timedelta(days=40)})), at(21))
    record(case, "c3", 1, 40, day=22, relation={"kind": "KOMPLT", "certificate_id": "c1"})
    assert [r.message.message_id for r in case.state.fk_awaiting_care()] == ["m2"]
    counting = sorted(c.certificate_id for c in case.state.counting_certificates)
    assert counting == ["c2", "c3"]


def test_closure_timer_follows_the_whole_gap() -> None:
    case = opened(cert=certificate(last=10))
    case.advance(at(15))
    assert case.state.closes_at() == day_start(START, 17)
    assert case.state.closes_at(whole_gap=False) == day_start(START, 16)


def test_a_state_from_before_the_duty_record_never_does_duties_twice() -> None:
    """A state carried across continue-as-new by older code has no duty record: late duties
    are left alone rather than risk doing one twice."""
    case = opened(cert=certificate(last=20), consents=CONSENTS)
    case.advance(at(18))
    legacy = case.state.model_copy(update={"duties": {}, "duties_tracked": False})
    command = RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", first=21, last=40, issued=18, relation={"kind": "FRLANG", "certificate_id": "c1"}))
    events = decide(command, legacy, at(18, 10))
    assert [e.type for e in events] == ["CertificateRecorded"]
    from domain.state import CaseState
    assert CaseState.model_validate({"case_id": "x"}).duties_tracked is False
