"""What the record keeps of certificates and of each notification's outcome: a revocation
with its reason and time, a reopening naming the certificate, the released rules' completion
and replacement, FK's receipt for a certificate sent, and why a notification failed or was
suppressed."""

from __future__ import annotations

from datetime import timedelta

from domain import decide, fold
from domain.commands import (
    CloseCase,
    OpenCase,
    ReachMilestone,
    RecordCertificate,
    RecordNotificationOutcome,
    RevokeCertificate,
    SendCertificateToFk,
)
from domain.events import CertificateRecorded
from domain.rehab_chain import ChainLink
from domain.rules import RELEASED
from tests.domain.support import OPS, PHYSICIAN, PNR, START, SYSTEM, Case, at, certificate, opened
from tests.domain.test_fk import inbound, receive


def test_a_revocation_is_recorded_with_its_reason_and_time() -> None:
    case = opened(cert=certificate(last=30))
    (event,) = case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1",
                                         reason="wrong patient"), at(2))
    assert (event.certificate_id, event.reason, event.restores) == ("c1", "wrong patient", None)  # type: ignore[attr-defined]
    record = case.state.certificates["c1"]
    assert (record.revoked, record.revoked_at, record.counts) == (True, at(2), False)
    assert case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1")) == []  # once


def test_revoking_a_replaced_certificate_restores_nothing() -> None:
    case = opened(cert=certificate(last=30))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", last=30, relation={"kind": "ERSATT", "certificate_id": "c1"})))
    (event,) = case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"))
    assert event.restores is None  # type: ignore[attr-defined]
    assert case.state.certificates["c2"].counts


def test_a_merging_certificate_reopens_a_case_that_closed_itself_naming_it() -> None:
    case = opened(cert=certificate(last=10))
    case.advance(at(20))
    events = case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", first=12, last=30, issued=20)))
    assert [(e.type, getattr(e, "certificate_id", None)) for e in events][:1] == [
        ("CaseReopened", "c2")
    ]
    assert events[0].reason == "a certificate merges with the sick period"  # type: ignore[attr-defined]


def test_released_rules_a_completion_neither_replaces_nor_picks_its_komplt() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=1, last=60)))
    receive(case, inbound("fk-1"))  # about c1
    receive(case, inbound("fk-2", certificate_id="c2"))
    completion = certificate("c3", first=1, last=60, issued=21,
                             relation={"kind": "KOMPLT", "certificate_id": "c1"})
    events = decide(RecordCertificate(actor=PHYSICIAN, certificate=completion), case.state,
                    at(21), RELEASED)
    recorded = next(e for e in events if isinstance(e, CertificateRecorded))
    assert recorded.replaces is None
    closed = [e.message_id for e in events if e.type == "FkMessageClosed"]  # type: ignore[attr-defined]
    assert closed == ["fk-1", "fk-2"]
    state = fold(events, case.state)
    assert state.certificates["c1"].counts


def test_an_old_replacement_record_without_replaces_still_replaces() -> None:
    case = opened(cert=certificate(last=30))
    newer = certificate("c2", last=30, relation={"kind": "ERSATT", "certificate_id": "c1"})
    old_record = CertificateRecorded(
        event_id="e-old", case_id="case-1", version=case.state.version + 1,
        occurred_at=at(2), recorded_by=PHYSICIAN.id, certificate=newer,
    )  # recorded before `replaces` existed: None
    state = fold([old_record], case.state)
    assert state.certificates["c2"].replaces == "c1"
    assert state.certificates["c1"].replaced_by == "c2"


def test_fk_s_receipt_for_a_certificate_is_kept() -> None:
    case = opened(cert=certificate(last=30), consents=(("fk", "share_information"),))
    (note,) = case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"))
    case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=note.notification_id,  # type: ignore[attr-defined]
                                      outcome="sent", receipt="fk-r-1"))
    assert case.state.certificates_sent_to_fk == {"c1": "fk-r-1"}
    assert case.state.pending_notifications == []
    assert case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1")) == []


def pending_note(case: Case) -> str:
    (note,) = case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"))
    return note.notification_id  # type: ignore[attr-defined, no-any-return]


def test_a_failed_notification_keeps_why_and_is_settled_once() -> None:
    case = opened(cert=certificate(last=30), consents=(("fk", "share_information"),))
    nid = pending_note(case)
    (failed,) = case.do(RecordNotificationOutcome(actor=OPS, notification_id=nid,
                                                  outcome="failed", reason="FK down"))
    assert (failed.type, failed.notification_id, failed.reason) == (  # type: ignore[attr-defined]
        "NotificationFailed", nid, "FK down"
    )
    assert case.state.notification_outcomes == {nid: "failed"}
    assert case.state.certificates_sent_to_fk == {}
    assert case.do(RecordNotificationOutcome(actor=OPS, notification_id=nid, outcome="sent")) == []
    nid2 = pending_note(case)
    (failed,) = case.do(RecordNotificationOutcome(actor=OPS, notification_id=nid2,
                                                  outcome="failed"))
    assert failed.reason == ""  # type: ignore[attr-defined]


def test_a_suppressed_notification_says_to_whom_what_and_why() -> None:
    case = opened(cert=certificate(last=30), consents=(("fk", "share_information"),))
    nid = pending_note(case)
    (suppressed,) = case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=nid,
                                                      outcome="suppressed"))
    assert (suppressed.recipient, suppressed.purpose, suppressed.kind, suppressed.reason) == (  # type: ignore[attr-defined]
        "fk", "share_information", "certificate_to_fk",
        "consent no longer valid when it was to be sent",
    )
    assert case.state.notification_outcomes == {nid: "suppressed"}
    nid2 = pending_note(case)
    (suppressed,) = case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=nid2,
                                                      outcome="suppressed", reason="withdrawn"))
    assert suppressed.reason == "withdrawn"  # type: ignore[attr-defined]


def test_a_closed_case_still_takes_the_outcome_of_its_pending_notification() -> None:
    case = opened(cert=certificate(last=30), consents=(("fk", "share_information"),))
    nid = pending_note(case)
    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"))
    (sent,) = case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=nid,
                                                outcome="sent", receipt="r"))
    assert (sent.type, sent.receipt) == ("NotificationSent", "r")  # type: ignore[attr-defined]


def test_a_milestone_is_reached_once_and_not_at_all_when_it_lay_in_the_earlier_period() -> None:
    case = opened(cert=certificate(last=30))
    case.advance(at(8, 1))
    assert case.state.milestones_reached == [8]
    assert case.do(ReachMilestone(actor=SYSTEM, day=8)) == []
    linked = Case()
    linked.do(OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=PNR, unit_id="vc-norr",
                       sick_period_start=START, certificate=certificate(last=30),
                       rehab_chain=ChainLink(earlier_case_id="old",
                                             earlier_sick_period_end=START - timedelta(days=5),
                                             chain_days_before=100)), at(1))
    assert linked.do(ReachMilestone(actor=SYSTEM, day=90)) == []  # chain day 90 lay before
    assert 90 not in linked.state.milestones_reached


def test_revoking_a_replacement_that_was_itself_replaced_restores_nothing() -> None:
    case = opened(cert=certificate(last=30))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", last=30, relation={"kind": "ERSATT", "certificate_id": "c1"})))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c3", last=30, relation={"kind": "ERSATT", "certificate_id": "c2"})))
    (event,) = case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c2"))
    assert event.restores is None  # type: ignore[attr-defined]
    assert [c for c, r in case.state.certificates.items() if r.counts] == ["c3"]


def test_released_rules_revoking_a_replacement_restores_nothing() -> None:
    case = opened(cert=certificate(last=30))
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", last=30, relation={"kind": "ERSATT", "certificate_id": "c1"})))
    events = decide(RevokeCertificate(actor=PHYSICIAN, certificate_id="c2"), case.state,
                    case.clock, RELEASED)
    assert [getattr(e, "restores", "-") for e in events] == [None]


def test_a_certificate_fk_took_without_a_receipt_is_sent_with_none_shown() -> None:
    case = opened(cert=certificate(last=30), consents=(("fk", "share_information"),))
    nid = pending_note(case)
    case.do(RecordNotificationOutcome(actor=SYSTEM, notification_id=nid, outcome="sent"))
    assert case.state.certificates_sent_to_fk == {"c1": ""}


def test_a_late_certificate_through_day_8_settles_the_day_8_flag() -> None:
    case = opened()
    case.advance(at(9))
    assert "no_certificate_for_day_8" in case.state.flags
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(last=8, issued=9)))
    assert "no_certificate_for_day_8" not in case.state.flags


def test_a_replacement_names_what_it_replaces_and_only_counting_certificates_bound_the_gap() -> None:
    case = opened(cert=certificate(last=10))
    (recorded,) = case.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", first=30, last=40, issued=1, relation={"kind": "ERSATT", "certificate_id": "c1"})))
    assert recorded.replaces == "c1"  # type: ignore[attr-defined]  # and c1's days no longer count
    other = opened(cert=certificate(last=10))
    other.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"))
    events = other.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        "c2", first=30, last=40, issued=1)))  # a revoked certificate's days bound nothing
    assert [e.type for e in events][:1] == ["CertificateRecorded"]
