"""Every FK message rule in DOMAIN.md, with the answer deadline timers."""

from datetime import date, timedelta
from typing import Any

import pytest

from domain import DomainError, next_timer, summarize
from domain.calendar import start_of
from domain.commands import (
    ReceiveFkMessage,
    RecordCertificate,
    RecordNotificationOutcome,
    RevokeCertificate,
    SendFkMessage,
)
from domain.fk import FkMessage, OutboundFkMessage
from tests.domain.support import (
    FK_GATEWAY,
    PATIENT,
    PHYSICIAN,
    START,
    SYSTEM,
    Case,
    at,
    certificate,
    make_pnr,
    opened,
)

LAST_ANSWER = START + timedelta(days=29)  # day 30, Tuesday 2 April 2024


def inbound(mid: str = "fk-1", topic: str = "KOMPLT", **changes: Any) -> FkMessage:
    data: dict[str, Any] = {
        "message_id": mid,
        "reference_id": f"ref-{mid}",
        "sent_at": at(20),
        "certificate_id": "c1",
        "patient_id": "19121212-1212",
        "topic": topic,
        "heading": "Komplettering" if topic == "KOMPLT" else topic,
        "text": "Please complete.",
        "sender": "Försäkringskassan",
    }
    if topic == "KOMPLT":
        data["completion_items"] = [
            {"question_id": "4", "instance": 1, "text": "Describe the limitation."}
        ]
        data["last_answer_date"] = LAST_ANSWER
    return FkMessage.model_validate({**data, **changes})


def outbound(mid: str = "care-1", topic: str = "AVSTMN", **changes: Any) -> OutboundFkMessage:
    data = {
        "message_id": mid,
        "certificate_id": "c1",
        "topic": topic,
        "text": "We propose a meeting.",
    }
    return OutboundFkMessage.model_validate({**data, **changes})


def receive(case: Case, message: FkMessage) -> list[Any]:
    return case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=message), at(20))


def request(case: Case, message: OutboundFkMessage) -> list[Any]:
    """Care writes the message: it goes to the outbox and a delivery is requested."""
    return case.do(SendFkMessage(actor=PHYSICIAN, message=message), at(21))


def deliver(case: Case, message_id: str, outcome: str = "sent") -> list[Any]:
    """The workflow's delivery of the outbox message ended with `outcome`."""
    note = next(
        n
        for n in case.state.pending_notifications
        if n.kind == "fk_message" and n.parameters["message_id"] == message_id
    )
    return case.do(
        RecordNotificationOutcome(
            actor=SYSTEM,
            notification_id=note.notification_id,
            outcome=outcome,  # type: ignore[arg-type]
            receipt=f"fk-receipt-{message_id}" if outcome == "sent" else None,
            reason=None if outcome == "sent" else "FK refused it",
        )
    )


def send(case: Case, message: OutboundFkMessage) -> list[Any]:
    """Write and deliver: the events of the successful delivery."""
    request(case, message)
    return deliver(case, message.message_id)


def refused(case: Case, message: FkMessage | OutboundFkMessage) -> DomainError:
    with pytest.raises(DomainError) as info:
        if isinstance(message, FkMessage):
            receive(case, message)
        else:
            request(case, message)
    return info.value


@pytest.fixture
def case() -> Case:
    return opened(cert=certificate(last=60), consents=(("fk", "share_information"),))


def test_a_completion_request_awaits_care_with_its_last_answer_date(case: Case) -> None:
    events = receive(case, inbound())
    assert [(e.type, e.status) for e in events] == [
        ("FkMessageReceived", "PENDING_INTERNAL_ACTION")
    ]
    summary = summarize(case.state)
    assert (summary.unanswered_fk, summary.fk_answer_due) == (1, LAST_ANSWER)


def test_a_duplicate_message_id_is_acknowledged_again_and_never_stored_twice(case: Case) -> None:
    receive(case, inbound())
    assert receive(case, inbound(text="resent")) == []
    assert len(case.state.fk_messages) == 1
    assert case.state.fk_messages["fk-1"].message.text == "Please complete."


def test_the_patient_identity_must_match_the_case(case: Case) -> None:
    other = make_pnr(date(1980, 5, 5), 123)
    error = refused(case, inbound(patient_id=other))
    assert (error.field, error.rule) == ("message.patient_id", "patient_mismatch")


def test_the_certificate_must_exist_and_not_be_revoked(case: Case) -> None:
    assert refused(case, inbound(certificate_id="c404")).rule == "certificate_unknown"
    case.do(
        RecordCertificate(
            actor=PHYSICIAN, certificate=certificate("c2", first=30, last=60, issued=30)
        ),
        at(30),
    )
    case.do(RevokeCertificate(actor=PHYSICIAN, certificate_id="c2"))
    assert refused(case, inbound(certificate_id="c2")).rule == "certificate_revoked"


def test_completion_items_only_on_komplt_and_komplt_needs_items(case: Case) -> None:
    items = [{"question_id": "1", "text": "x"}]
    error = refused(case, inbound(topic="KONTKT", completion_items=items))
    assert (error.field, error.rule) == (
        "message.completion_items",
        "completion_items_only_on_komplt",
    )
    assert refused(case, inbound(completion_items=[])).rule == "komplt_requires_items"


def test_paminn_must_reference_an_existing_message(case: Case) -> None:
    assert refused(case, inbound("fk-2", topic="PAMINN")).rule == "reminder_requires_reference"
    assert (
        refused(case, inbound("fk-2", topic="PAMINN", reminder_of="fk-1")).rule
        == "reminder_of_unknown"
    )
    receive(case, inbound())
    events = receive(case, inbound("fk-2", topic="PAMINN", reminder_of="fk-1"))
    assert events[0].status == "CLOSED"
    assert case.state.fk_messages["fk-1"].status == "PENDING_INTERNAL_ACTION"
    assert summarize(case.state).unanswered_fk == 1
    assert (
        refused(case, inbound("fk-3", topic="KONTKT", reminder_of="fk-1")).rule
        == "reminder_of_only_on_paminn"
    )


def test_care_may_start_only_avstmn_kontkt_and_ovrigt(case: Case) -> None:
    for topic in ("KOMPLT", "PAMINN"):
        error = refused(case, outbound(topic=topic))
        assert (error.field, error.rule) == ("message.topic", "topic_not_allowed_for_care")
    for i, topic in enumerate(("AVSTMN", "KONTKT", "OVRIGT")):
        events = send(case, outbound(f"care-{i}", topic=topic))
        assert [e.type for e in events] == ["NotificationSent", "FkMessageSent"]
        assert events[1].status == "PENDING_EXTERNAL_ACTION"
        assert events[1].message.patient_id == case.state.patient_id


def test_sending_to_fk_needs_the_patients_consent() -> None:
    case = opened(cert=certificate(last=60))
    error = refused(case, outbound())
    assert error.rule == "consent_required" and "fk (share_information)" in error.message


def test_care_answers_a_completion_request_once(case: Case) -> None:
    receive(case, inbound())
    answer = outbound(
        "care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}, text="No new findings."
    )
    events = send(case, answer)
    assert [e.type for e in events] == ["NotificationSent", "FkMessageSent", "FkMessageAnswered"]
    assert case.state.fk_messages["fk-1"].status == "ANSWERED"
    assert summarize(case.state).unanswered_fk == 0
    again = outbound("care-2", topic="KOMPLT", answer_to={"message_id": "fk-1"})
    assert refused(case, again).rule == "already_answered"


def test_an_answer_must_reference_an_existing_message_of_the_same_topic(case: Case) -> None:
    assert (
        refused(case, outbound(topic="KOMPLT", answer_to={"message_id": "fk-9"})).rule
        == "answer_to_unknown"
    )
    receive(case, inbound())
    mismatch = outbound(topic="OVRIGT", answer_to={"message_id": "fk-1"})
    assert (refused(case, mismatch).field, refused(case, mismatch).rule) == (
        "message.topic",
        "answer_topic_mismatch",
    )


def test_fk_answers_care_question_and_may_not_answer_its_own(case: Case) -> None:
    send(case, outbound("care-1", topic="AVSTMN"))
    receive(case, inbound("fk-1", topic="KOMPLT"))
    own = inbound(
        "fk-2",
        topic="KOMPLT",
        answer_to={"message_id": "fk-1"},
        completion_items=[],
        last_answer_date=None,
    )
    assert refused(case, own).rule == "answer_to_own_message"
    events = receive(case, inbound("fk-3", topic="AVSTMN", answer_to={"message_id": "care-1"}))
    assert [e.type for e in events] == ["FkMessageReceived", "FkMessageAnswered"]
    assert case.state.fk_messages["care-1"].status == "ANSWERED"


def test_answers_carry_no_last_answer_date(case: Case) -> None:
    send(case, outbound("care-1", topic="KONTKT"))
    answer = inbound(
        "fk-2", topic="KONTKT", answer_to={"message_id": "care-1"}, last_answer_date=LAST_ANSWER
    )
    error = refused(case, answer)
    assert (error.field, error.rule) == ("message.last_answer_date", "last_answer_date_on_answer")


def test_a_completion_certificate_closes_every_open_komplt(case: Case) -> None:
    receive(case, inbound("fk-1"))
    receive(case, inbound("fk-2"))
    receive(case, inbound("fk-3", topic="KONTKT"))
    completion = certificate(
        "c1-k", last=60, issued=22, relation={"kind": "KOMPLT", "certificate_id": "c1"}
    )
    events = case.do(RecordCertificate(actor=PHYSICIAN, certificate=completion), at(22))
    assert [e.type for e in events] == [
        "CertificateRecorded",
        "FkMessageClosed",
        "FkMessageClosed",
        "NotificationRequested",
    ]
    assert (events[-1].recipient, events[-1].kind, events[-1].parameters) == (
        "fk",
        "certificate_to_fk",
        {"certificate_id": "c1-k"},
    )
    statuses = {mid: r.status for mid, r in case.state.fk_messages.items()}
    assert statuses == {"fk-1": "CLOSED", "fk-2": "CLOSED", "fk-3": "PENDING_INTERNAL_ACTION"}
    assert case.state.fk_messages["fk-1"].resolved_by == "c1-k"
    late = outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"})
    assert refused(case, late).rule == "already_answered"


def test_outbound_retry_is_a_no_op_but_a_reused_id_is_refused(case: Case) -> None:
    request(case, outbound())
    assert request(case, outbound()) == []  # still in the outbox
    assert refused(case, outbound(text="something else")).rule == "message_id_duplicate"
    deliver(case, "care-1")
    assert request(case, outbound()) == []  # acknowledged by FK
    assert refused(case, outbound(text="something else")).rule == "message_id_duplicate"


def test_last_answer_date_reminds_three_working_days_before_then_flags_overdue(case: Case) -> None:
    receive(case, inbound())
    timer = next_timer(case.state)
    # the last answer date is Tuesday 2 April 2024; Easter Monday (1 April) and Good Friday
    # (29 March) are holidays, so three working days before is Tuesday 26 March
    assert timer is not None and timer.command.type == "ReachFkAnswerReminder"
    assert timer.at == start_of(date(2024, 3, 26))
    case.advance(start_of(date(2024, 3, 26)))
    assert [e.type for e in case.events[-2:]] == ["FkAnswerReminderDue", "NotificationRequested"]
    assert case.events[-1].kind == "fk_answer_due_soon" and case.events[-1].recipient == "physician"
    case.advance(start_of(LAST_ANSWER + timedelta(days=1)))
    overdue = case.of_type("FkAnswerOverdue")
    assert [o.message_id for o in overdue] == ["fk-1"]
    assert "fk_answer_overdue:fk-1" in summarize(case.state).overdue
    send(case, outbound("care-9", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    assert "fk_answer_overdue:fk-1" not in summarize(case.state).overdue


def test_an_answered_message_has_no_deadline_timer(case: Case) -> None:
    receive(case, inbound())
    send(case, outbound("care-1", topic="KOMPLT", answer_to={"message_id": "fk-1"}))
    timer = next_timer(case.state)
    assert timer is not None and timer.command.type == "ReachMilestone"


def test_fk_messages_come_through_the_gateway(case: Case) -> None:
    with pytest.raises(DomainError) as info:
        case.do(ReceiveFkMessage(actor=PATIENT, message=inbound()))
    assert info.value.rule == "role_not_allowed"
