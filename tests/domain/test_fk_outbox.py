"""Sending to FK through the outbox, certificates to FK, and PAMINN priority."""

from typing import Any

import pytest

from domain import DomainError, summarize
from domain.commands import (
    ReceiveFkMessage,
    RecordCertificate,
    RecordNotificationOutcome,
    RevokeCertificate,
    SendCertificateToFk,
    WithdrawConsent,
)
from tests.domain.support import (
    COORDINATOR,
    FK_GATEWAY,
    PATIENT,
    PHYSICIAN,
    SYSTEM,
    Case,
    at,
    certificate,
    opened,
)
from tests.domain.test_fk import deliver, inbound, outbound, request


@pytest.fixture
def case() -> Case:
    return opened(cert=certificate(last=60), consents=(("fk", "share_information"),))


def test_a_message_is_sent_only_when_fk_acknowledged_it(case: Case) -> None:
    case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound()), at(20))
    answer = outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}, text="Svar.")
    events = request(case, answer)
    assert [e.type for e in events] == ["FkMessageSendRequested", "NotificationRequested"]
    note = events[1]
    assert (note.recipient, note.purpose, note.kind) == ("fk", "share_information", "fk_message")
    assert note.parameters == {"message_id": "care-1", "topic": "KOMPLT"}  # no health text
    assert "care-1" not in case.state.fk_messages
    assert case.state.fk_messages["fk-1"].status == "PENDING_INTERNAL_ACTION"

    delivered = deliver(case, "care-1")
    assert [e.type for e in delivered] == ["NotificationSent", "FkMessageSent", "FkMessageAnswered"]
    assert delivered[1].receipt == "fk-receipt-care-1"
    assert case.state.fk_messages["care-1"].receipt == "fk-receipt-care-1"
    assert case.state.fk_messages["fk-1"].status == "ANSWERED"
    assert case.state.fk_outbox == {}


def test_a_second_answer_is_refused_while_the_first_is_on_its_way(case: Case) -> None:
    case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound()), at(20))
    request(case, outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    with pytest.raises(DomainError) as info:
        request(case, outbound("care-2", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    assert (info.value.rule, info.value.field) == (
        "already_answered",
        "message.answer_to.message_id",
    )


@pytest.mark.parametrize("outcome", ["suppressed", "failed"])
def test_an_undelivered_message_leaves_the_outbox_unsent(case: Case, outcome: str) -> None:
    case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound()), at(20))
    request(case, outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    events = deliver(case, "care-1", outcome)
    assert [e.type for e in events] == [f"Notification{outcome.capitalize()}"]
    assert case.state.fk_outbox == {} and "care-1" not in case.state.fk_messages
    assert summarize(case.state).unanswered_fk == 1  # FK never got it: care still owes the answer
    again = request(case, outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    assert [e.type for e in again] == ["FkMessageSendRequested", "NotificationRequested"]


def test_a_reminder_links_to_its_original_and_raises_its_priority(case: Case) -> None:
    case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound()), at(20))
    reminder = inbound("fk-2", topic="PAMINN", reminder_of="fk-1", text="Påminnelse")
    events = case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=reminder), at(22))
    assert [e.type for e in events] == ["FkMessageReceived", "NotificationRequested"]
    assert (events[1].recipient, events[1].kind) == ("physician", "fk_reminder_received")
    original = case.state.fk_messages["fk-1"]
    assert (original.priority, original.reminders) == ("high", ["fk-2"])
    assert "fk_reminder:fk-1" in summarize(case.state).overdue

    request(case, outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    deliver(case, "care-1")
    assert "fk_reminder:fk-1" not in summarize(case.state).overdue


def test_the_physician_sends_a_certificate_to_fk_once(case: Case) -> None:
    events = case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"), at(3))
    assert [(e.type, e.kind, e.parameters) for e in events] == [
        ("NotificationRequested", "certificate_to_fk", {"certificate_id": "c1"})
    ]
    assert case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1")) == []  # pending
    case.do(_outcome(events[0].notification_id, "sent", receipt="fk-r-c1"))
    assert case.state.certificates_sent_to_fk == {"c1": "fk-r-c1"}
    assert case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1")) == []  # sent
    case.advance(at(15))  # day 14 does not send the same certificate again
    assert [n.kind for n in case.of_type("NotificationRequested")].count("certificate_to_fk") == 1


def test_a_certificate_to_fk_needs_consent_a_counting_certificate_and_a_physician() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    for actor, cid, rule in [
        (COORDINATOR, "c1", "role_not_allowed"),
        (PHYSICIAN, "c9", "certificate_unknown"),
    ]:
        with pytest.raises(DomainError) as info:
            case.do(SendCertificateToFk(actor=actor, certificate_id=cid))
        assert info.value.rule == rule
    case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"))
    with pytest.raises(DomainError) as info:
        case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"))
    assert info.value.rule == "certificate_revoked"
    unconsented = opened(cert=certificate(last=60))
    with pytest.raises(DomainError) as info:
        unconsented.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"))
    assert info.value.rule == "consent_required"


def test_a_completion_certificate_without_consent_is_suppressed_and_says_why(case: Case) -> None:
    case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound()), at(20))
    case.do(WithdrawConsent(actor=PATIENT, recipient="fk", purpose="share_information"), at(21))
    completion = certificate(
        "c1-k", last=60, issued=22, relation={"kind": "KOMPLT", "certificate_id": "c1"}
    )
    events = case.do(RecordCertificate(actor=PHYSICIAN, certificate=completion), at(22))
    assert [e.type for e in events] == [
        "CertificateRecorded",
        "FkMessageClosed",
        "NotificationSuppressed",
    ]
    assert events[-1].kind == "certificate_to_fk" and "withdrew" in events[-1].reason


def _outcome(notification_id: str, outcome: str, **extra: Any) -> RecordNotificationOutcome:
    return RecordNotificationOutcome(
        actor=SYSTEM, notification_id=notification_id, outcome=outcome, **extra
    )


def test_revoking_a_certificate_fk_has_revokes_it_at_fk_too(case: Case) -> None:
    sent = case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"), at(3))
    case.do(_outcome(sent[0].notification_id, "sent", receipt="fk-r-c1"))
    events = case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1", reason="Fel."))
    assert [(e.type, getattr(e, "kind", None)) for e in events] == [
        ("CertificateRevoked", None),
        ("NotificationRequested", "certificate_revoked_to_fk"),  # last: see workflows/case.py
    ]
    assert events[-1].parameters == {"certificate_id": "c1"}  # the reason stays in the case


def test_a_certificate_fk_never_got_is_revoked_here_only(case: Case) -> None:
    events = case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"), at(3))
    assert [e.type for e in events] == ["CertificateRevoked"]


def test_a_certificate_revoked_while_on_its_way_to_fk_is_revoked_there_when_fk_has_it(
    case: Case,
) -> None:
    sent = case.do(SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"), at(3))
    assert [e.type for e in case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"))] == [
        "CertificateRevoked"
    ]
    events = case.do(_outcome(sent[0].notification_id, "sent", receipt="fk-r-c1"))
    assert [(e.type, getattr(e, "kind", None)) for e in events] == [
        ("NotificationSent", None),
        ("NotificationRequested", "certificate_revoked_to_fk"),
    ]
