"""What care and FK see of their messages: the record of each message (who sent it, its status,
what resolved it and when), the answer deadline's reminder and overdue alert (each once, with
the date to answer by), and FK's reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.calendar import start_of
from domain.commands import (
    ReachFkAnswerDeadline,
    ReachFkAnswerReminder,
    ReceiveFkMessage,
    RecordCertificate,
)
from tests.domain.support import (
    FK_GATEWAY,
    PHYSICIAN,
    PNR,
    SYSTEM,
    Case,
    at,
    certificate,
    opened,
)
from tests.domain.test_fk import LAST_ANSWER, deliver, inbound, outbound, receive, request


@pytest.fixture
def case() -> Case:
    return opened(cert=certificate(last=60), consents=(("fk", "share_information"),))


def test_cares_message_is_sent_from_its_unit_about_its_patient_and_awaits_fk(case: Case) -> None:
    (requested, _) = request(case, outbound("care-1", "AVSTMN"))
    message = requested.message
    assert (message.sender, message.patient_id, message.sent_at) == ("vc-norr", PNR, at(21))
    deliver(case, "care-1")
    record = case.state.fk_messages["care-1"]
    assert (record.direction, record.status, record.recorded_at) == (
        "outbound", "PENDING_EXTERNAL_ACTION", at(21)
    )


def test_an_answer_records_what_resolved_the_question_and_when(case: Case) -> None:
    receive(case, inbound("fk-1", "KONTKT"))
    assert case.state.fk_messages["fk-1"].status == "PENDING_INTERNAL_ACTION"
    request(case, outbound("care-1", "KONTKT", answer_to={"message_id": "fk-1"}))
    deliver(case, "care-1")
    question = case.state.fk_messages["fk-1"]
    assert (question.status, question.resolved_by, question.resolved_at) == (
        "ANSWERED", "care-1", at(21)
    )
    assert case.state.fk_messages["care-1"].status == "CLOSED"  # an answer is itself closed


def test_fk_answering_cares_question_resolves_it(case: Case) -> None:
    request(case, outbound("care-1", "AVSTMN"))
    deliver(case, "care-1")
    receive(case, inbound("fk-2", "AVSTMN", answer_to={"message_id": "care-1"}))
    question = case.state.fk_messages["care-1"]
    assert (question.status, question.resolved_by) == ("ANSWERED", "fk-2")


def test_a_completion_certificate_closes_the_request_naming_the_certificate(case: Case) -> None:
    receive(case, inbound())
    case.do(
        RecordCertificate(
            actor=PHYSICIAN,
            certificate=certificate("c2", last=60, issued=25,
                                    relation={"kind": "KOMPLT", "certificate_id": "c1"}),
        ),
        at(25),
    )
    request_record = case.state.fk_messages["fk-1"]
    assert (request_record.status, request_record.resolved_by, request_record.resolved_at) == (
        "CLOSED", "c2", at(25)
    )


def test_the_deadline_reminds_once_and_alerts_once_with_the_date_to_answer_by(case: Case) -> None:
    receive(case, inbound())
    reminded = case.advance(start_of(LAST_ANSWER - timedelta(days=3)))
    notes = [(e.recipient, e.kind, e.parameters) for e in reminded
             if e.type == "NotificationRequested" and e.kind.startswith("fk_answer")]
    answer_by = {"answer_by": LAST_ANSWER.isoformat()}
    assert notes == [("physician", "fk_answer_due_soon", answer_by)]
    assert case.state.fk_messages["fk-1"].reminded
    assert case.do(ReachFkAnswerReminder(actor=SYSTEM, message_id="fk-1")) == []

    overdue = case.advance(start_of(LAST_ANSWER + timedelta(days=1)))
    notes = [(e.recipient, e.kind, e.parameters) for e in overdue
             if e.type == "NotificationRequested" and e.kind.startswith("fk_answer")]
    assert notes == [("physician", "fk_answer_overdue", answer_by),
                     ("coordinator", "fk_answer_overdue", answer_by)]
    assert case.state.fk_messages["fk-1"].overdue
    assert case.do(ReachFkAnswerDeadline(actor=SYSTEM, message_id="fk-1")) == []


@pytest.mark.parametrize("command", [ReachFkAnswerReminder, ReachFkAnswerDeadline])
def test_no_deadline_for_a_message_answered_unknown_or_without_a_date(
    case: Case, command: type[ReachFkAnswerReminder] | type[ReachFkAnswerDeadline]
) -> None:
    receive(case, inbound("fk-1", "KONTKT"))  # no last answer date
    receive(case, inbound("fk-2"))
    request(case, outbound("care-1", "KOMPLT", answer_to={"message_id": "fk-2"}))
    deliver(case, "care-1")
    case.advance(start_of(LAST_ANSWER + timedelta(days=2)))
    for message_id in ("fk-1", "fk-2", "fk-404", "care-1"):
        assert case.do(command(actor=SYSTEM, message_id=message_id)) == []
    assert not case.of_type("FkAnswerOverdue") and not case.of_type("FkAnswerReminderDue")


def test_fks_reminder_of_an_answered_message_alerts_nobody(case: Case) -> None:
    receive(case, inbound("fk-1", "KONTKT"))
    request(case, outbound("care-1", "KONTKT", answer_to={"message_id": "fk-1"}))
    deliver(case, "care-1")
    events = case.do(
        ReceiveFkMessage(actor=FK_GATEWAY,
                         message=inbound("fk-2", "PAMINN", reminder_of="fk-1")), at(22)
    )
    assert [e.type for e in events] == ["FkMessageReceived"]
    original = case.state.fk_messages["fk-1"]
    assert (original.reminders, original.priority) == (["fk-2"], "high")
    assert not [f for f in case.state.flags if f.startswith("fk_reminder")]


def test_fks_reminder_names_the_message_it_chases(case: Case) -> None:
    receive(case, inbound())
    events = case.do(
        ReceiveFkMessage(actor=FK_GATEWAY,
                         message=inbound("fk-2", "PAMINN", reminder_of="fk-1")), at(22)
    )
    note = events[-1]
    assert (note.recipient, note.purpose, note.kind, note.parameters) == (  # type: ignore[union-attr]
        "physician", "share_information", "fk_reminder_received", {"message_id": "fk-1"}
    )
    assert case.state.fk_messages["fk-2"].status == "CLOSED"


def test_an_answer_delivered_after_a_completion_closed_the_request_leaves_it_closed(
    case: Case,
) -> None:
    receive(case, inbound())  # KOMPLT about c1
    request(case, outbound("care-1", "KOMPLT", answer_to={"message_id": "fk-1"}))
    case.do(
        RecordCertificate(
            actor=PHYSICIAN,
            certificate=certificate("c2", last=60, issued=22,
                                    relation={"kind": "KOMPLT", "certificate_id": "c1"}),
        ),
        at(22),
    )
    delivered = deliver(case, "care-1")
    assert [e.type for e in delivered] == ["NotificationSent", "FkMessageSent"]
    request_record = case.state.fk_messages["fk-1"]
    assert (request_record.status, request_record.resolved_by) == ("CLOSED", "c2")


def test_an_answer_may_go_while_another_question_of_care_waits_in_the_outbox(case: Case) -> None:
    receive(case, inbound("fk-1", "KONTKT"))
    request(case, outbound("care-1", "AVSTMN"))  # care's own question, not yet delivered
    events = request(case, outbound("care-2", "KONTKT", answer_to={"message_id": "fk-1"}))
    assert [e.type for e in events] == ["FkMessageSendRequested", "NotificationRequested"]
