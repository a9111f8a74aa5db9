"""Every refusal of the decider, as the clerk and the integrator see it: the field it names,
the rule and the sentence (the API turns all three into its problem detail), and that the
refused command changes nothing.

Each row builds a case, then issues one command that breaks one rule. The sentences are the
user-visible text, so they are compared word for word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from domain import DomainError
from domain.commands import (
    CloseCase,
    Command,
    CorrectSickPeriodStart,
    EstablishPlan,
    GiveConsent,
    OpenCase,
    PerformCoordination,
    ReachFkAnswerDeadline,
    ReachFollowUpDate,
    ReachMilestone,
    ReceiveFkMessage,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordJointIndividualPlan,
    RecordMappingConversation,
    RecordMultimodalTeamMeeting,
    RecordNotificationOutcome,
    RecordPlanFollowUp,
    RecordReconciliationMeeting,
    ReferToMultimodalTeam,
    RevisePlan,
    RevokeCertificate,
    SendCertificateToFk,
    SendFkMessage,
    SetCoordinationStatus,
)
from domain.rehab_chain import ChainLink
from tests.domain.support import (
    COORDINATOR,
    FK_GATEWAY,
    PATIENT,
    PHYSICIAN,
    PNR,
    START,
    SYSTEM,
    Case,
    at,
    certificate,
    make_pnr,
    opened,
)
from tests.domain.test_decider import plan
from tests.domain.test_fk import LAST_ANSWER, deliver, inbound, outbound, receive, request

D = timedelta(days=1)
COORDINATION = ("coordinator", "coordination")
FK_CONSENT = ("fk", "share_information")


@dataclass(frozen=True)
class Refusal:
    setup: Callable[[], Case]
    command: Callable[[], Command]
    field: str
    rule: str
    message: str


def with_fk() -> Case:
    return opened(cert=certificate(last=60), consents=(FK_CONSENT,))


def then(setup: Callable[[], Case], *steps: Callable[[Case], Any]) -> Callable[[], Case]:
    def build() -> Case:
        case = setup()
        for step in steps:
            step(case)
        return case

    return build


def doing(command: Command) -> Callable[[Case], Any]:
    return lambda case: case.do(command)


def with_plan() -> Case:
    case = opened(cert=certificate())
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan()))
    return case


def closed_in_error() -> Case:
    case = opened(cert=certificate())
    case.do(CloseCase(actor=PHYSICIAN, reason="opened_in_error"))
    return case


def coordination_ok(*more: tuple[str, str]) -> Callable[[], Case]:
    return lambda: opened(cert=certificate(), consents=(COORDINATION, *more))


def fk_answer(mid: str, to: str, topic: str = "KONTKT", **changes: Any) -> Any:
    return outbound(mid, topic, answer_to={"message_id": to}, **changes)


TOMORROW = START + D  # the cases below stand on day 1 (START), 09:00
LINK_ON_DAY_1 = ChainLink(earlier_case_id="old", earlier_sick_period_end=START, chain_days_before=40)

REFUSALS: dict[str, Refusal] = {
    # ------------------------------------------------------------ every command
    "a role not allowed": Refusal(
        opened, lambda: EstablishPlan(actor=COORDINATOR, plan=plan()),
        "actor.role", "role_not_allowed", "a coordinator may not establish plan",
    ),
    "a case not opened": Refusal(
        Case, lambda: RecordCertificate(actor=PHYSICIAN, certificate=certificate()),
        "case_id", "case_not_opened", "case case-1 is not opened",
    ),
    "a closed case": Refusal(
        closed_in_error, lambda: RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2")),
        "case_id", "case_closed",
        "case case-1 is closed (opened_in_error); nothing more can be recorded",
    ),
    # ------------------------------------------------------------ the case
    "opening twice": Refusal(
        opened,
        lambda: OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=PNR, unit_id="vc-norr",
                         sick_period_start=START),
        "case_id", "case_already_opened", "case case-1 is already opened",
    ),
    "opening another case's id": Refusal(
        Case,
        lambda: OpenCase(actor=PHYSICIAN, case_id="case-2", patient_id=PNR, unit_id="vc-norr",
                         sick_period_start=START),
        "case_id", "case_id_mismatch", "the command is for case case-2, not case-1",
    ),
    "opening with a chain link that ends on day 1": Refusal(
        Case,
        lambda: OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=PNR, unit_id="vc-norr",
                         sick_period_start=START, rehab_chain=LINK_ON_DAY_1),
        "rehab_chain.earlier_sick_period_end", "chain_link_not_earlier",
        f"the linked sick period ends on {START}, not before day 1 ({START})",
    ),
    "a day 1 after the first certificate's first day": Refusal(
        lambda: opened(cert=certificate()),
        lambda: CorrectSickPeriodStart(actor=PHYSICIAN, sick_period_start=TOMORROW),
        "sick_period_start", "certificate_before_sick_period",
        f"a certificate already puts the patient on sick leave from {START}, before {TOMORROW}",
    ),
    "a second plan": Refusal(
        with_plan, lambda: EstablishPlan(actor=PHYSICIAN, plan=plan()),
        "plan", "plan_already_established", "the case already has a plan; revise it instead",
    ),
    "revising no plan": Refusal(
        opened, lambda: RevisePlan(actor=PHYSICIAN, plan=plan()),
        "plan", "plan_missing", "the case has no plan to revise; establish one",
    ),
    "following up no plan": Refusal(
        opened, lambda: RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START),
        "followed_up_on", "plan_missing", "there is no plan to follow up",
    ),
    "a follow-up tomorrow": Refusal(
        with_plan, lambda: RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=TOMORROW),
        "followed_up_on", "date_in_future", f"{TOMORROW} is in the future",
    ),
    "a next follow-up on the same day": Refusal(
        with_plan,
        lambda: RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START, next_follow_up=START),
        "next_follow_up", "next_follow_up_not_after", "the next follow-up must come after this one",
    ),
    "a follow-up date not yet come": Refusal(
        with_plan, lambda: ReachFollowUpDate(actor=SYSTEM, due_on=START + 39 * D),
        "due_on", "follow_up_not_due", f"the follow-up date {START + 39 * D} has not come",
    ),
    "closing as ended before the merge gap passed": Refusal(
        lambda: opened(cert=certificate()),
        lambda: CloseCase(actor=PHYSICIAN, reason="sick_period_ended"),
        "reason", "sick_period_not_ended",
        "the sick period has not ended: the merge gap after the last certificate has not passed",
    ),
    # ------------------------------------------------------------ certificates
    "the same certificate id with other content": Refusal(
        lambda: opened(cert=certificate()),
        lambda: RecordCertificate(actor=PHYSICIAN, certificate=certificate(last=50)),
        "certificate.certificate_id", "certificate_duplicate",
        "another certificate with id c1 is already recorded",
    ),
    "a certificate before day 1": Refusal(
        lambda: opened(cert=certificate(first=3)),
        lambda: RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=0, last=2)),
        "certificate.periods", "certificate_before_sick_period",
        f"the sick leave starts {START - D}, before day 1 of this sick period ({START}); "
        "correct the start of the sick period first",
    ),
    "a relation to an unknown certificate": Refusal(
        lambda: opened(cert=certificate()),
        lambda: RecordCertificate(
            actor=PHYSICIAN,
            certificate=certificate("c2", relation={"kind": "ERSATT", "certificate_id": "c9"}),
        ),
        "certificate.relation.certificate_id", "relation_unknown_certificate",
        "certificate c9 is not in this case",
    ),
    "a certificate beyond the merge gap": Refusal(
        lambda: opened(cert=certificate(last=10)),
        lambda: RecordCertificate(
            actor=PHYSICIAN, certificate=certificate("c2", first=17, last=30, issued=1)
        ),
        "certificate.periods", "new_sick_period",
        "the certificate lies more than 5 days from the other certificates, so it starts a "
        "new sick period: open a new case",
    ),
    "revoking an unknown certificate": Refusal(
        opened, lambda: RevokeCertificate(actor=PHYSICIAN, certificate_id="c9"),
        "certificate_id", "certificate_unknown", "certificate c9 is not in this case",
    ),
    "sending an unknown certificate": Refusal(
        with_fk, lambda: SendCertificateToFk(actor=PHYSICIAN, certificate_id="c9"),
        "certificate_id", "certificate_unknown", "certificate c9 is not in this case",
    ),
    "sending a revoked certificate": Refusal(
        then(with_fk, doing(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"))),
        lambda: SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"),
        "certificate_id", "certificate_revoked",
        "certificate c1 is revoked or replaced; it cannot go to FK",
    ),
    "sending a certificate without consent": Refusal(
        lambda: opened(cert=certificate()),
        lambda: SendCertificateToFk(actor=PHYSICIAN, certificate_id="c1"),
        "certificate_id", "consent_required",
        "the patient has not consented to fk (share_information)",
    ),
    # ------------------------------------------------------------ consents
    "a consent for the care team": Refusal(
        opened,
        lambda: GiveConsent(actor=PATIENT, recipient="physician", purpose="share_information"),
        "recipient", "consent_not_needed", "the physician is informed without consent",
    ),
    "a consent ending yesterday": Refusal(
        opened,
        lambda: GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information",
                            valid_until=START - D),
        "valid_until", "valid_until_in_past", f"a consent cannot end in the past ({START - D})",
    ),
    # ------------------------------------------------------------ duties
    "a day that is no milestone": Refusal(
        opened, lambda: ReachMilestone(actor=SYSTEM, day=7),
        "day", "milestone_unknown", "day 7 is not a milestone (8, 14, 30, 60, 90, 180, 365)",
    ),
    "a milestone not yet begun": Refusal(
        opened, lambda: ReachMilestone(actor=SYSTEM, day=14),
        "day", "milestone_not_due", "day 14 has not begun",
    ),
    "an outcome of no notification": Refusal(
        opened,
        lambda: RecordNotificationOutcome(actor=SYSTEM, notification_id="n-404", outcome="sent"),
        "notification_id", "notification_unknown",
        "notification n-404 was never requested in this case",
    ),
    # ------------------------------------------------------------ coordination
    "a coordination measure tomorrow": Refusal(
        coordination_ok(),
        lambda: PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=TOMORROW),
        "performed_on", "date_in_future", f"{TOMORROW} is in the future",
    ),
    "a coordination measure without consent": Refusal(
        lambda: opened(cert=certificate()),
        lambda: PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START),
        "kind", "consent_required", "the patient has not consented to coordination",
    ),
    "a coordination measure after the patient declined": Refusal(
        then(coordination_ok(),
             doing(SetCoordinationStatus(actor=COORDINATOR, status="declined"))),
        lambda: PerformCoordination(actor=COORDINATOR, kind="internal", performed_on=START),
        "kind", "coordination_declined",
        "the patient declined coordination; set another coordination status first",
    ),
    "contacting the employer without the employer consent": Refusal(
        coordination_ok(),
        lambda: PerformCoordination(actor=COORDINATOR, kind="contact_employer", performed_on=START),
        "kind", "consent_required", "the patient has not consented to employer (coordination)",
    ),
    "a multimodal referral without consent": Refusal(
        coordination_ok(), lambda: ReferToMultimodalTeam(actor=COORDINATOR),
        "case_id", "consent_required",
        "the patient has not consented to multimodal_team (coordination)",
    ),
    "a mapping conversation tomorrow": Refusal(
        coordination_ok(), lambda: RecordMappingConversation(actor=COORDINATOR, held_on=TOMORROW),
        "held_on", "date_in_future", f"{TOMORROW} is in the future",
    ),
    "a mapping conversation without consent": Refusal(
        lambda: opened(cert=certificate()),
        lambda: RecordMappingConversation(actor=COORDINATOR, held_on=START),
        "held_on", "consent_required", "the patient has not consented to coordination",
    ),
    "a multimodal team meeting tomorrow": Refusal(
        coordination_ok(),
        lambda: RecordMultimodalTeamMeeting(actor=COORDINATOR, held_on=TOMORROW,
                                            participants=["physio"]),
        "held_on", "date_in_future", f"{TOMORROW} is in the future",
    ),
    "a multimodal team meeting without a referral": Refusal(
        coordination_ok(),
        lambda: RecordMultimodalTeamMeeting(actor=COORDINATOR, held_on=START,
                                            participants=["physio"]),
        "held_on", "not_referred_to_multimodal_team",
        "the patient has not been referred to the multimodal team",
    ),
    "a multimodal team meeting without coordination consent": Refusal(
        then(coordination_ok(("multimodal_team", "coordination")),
             doing(ReferToMultimodalTeam(actor=COORDINATOR)),
             doing(SetCoordinationStatus(actor=COORDINATOR, status="declined"))),
        lambda: RecordMultimodalTeamMeeting(actor=COORDINATOR, held_on=START,
                                            participants=["physio"]),
        "held_on", "coordination_declined",
        "the patient declined coordination; set another coordination status first",
    ),
    "a reconciliation meeting tomorrow": Refusal(
        coordination_ok(FK_CONSENT),
        lambda: RecordReconciliationMeeting(actor=COORDINATOR, held_on=TOMORROW,
                                            participants=["FK"]),
        "held_on", "date_in_future", f"{TOMORROW} is in the future",
    ),
    "a reconciliation meeting without coordination consent": Refusal(
        lambda: opened(cert=certificate(), consents=(("fk", "coordination"),)),
        lambda: RecordReconciliationMeeting(actor=COORDINATOR, held_on=START, participants=["FK"]),
        "held_on", "consent_required", "the patient has not consented to coordination",
    ),
    "a reconciliation meeting without FK consent": Refusal(
        coordination_ok(),
        lambda: RecordReconciliationMeeting(actor=COORDINATOR, held_on=START, participants=["FK"]),
        "held_on", "consent_required", "the patient has not consented to fk (coordination)",
    ),
    "a joint plan tomorrow": Refusal(
        coordination_ok(("social_services", "coordination")),
        lambda: RecordJointIndividualPlan(actor=COORDINATOR, agreed_on=TOMORROW,
                                          participants=["soc"]),
        "agreed_on", "date_in_future", f"{TOMORROW} is in the future",
    ),
    "a joint plan without coordination consent": Refusal(
        lambda: opened(cert=certificate(), consents=(("social_services", "coordination"),)),
        lambda: RecordJointIndividualPlan(actor=COORDINATOR, agreed_on=START,
                                          participants=["soc"]),
        "agreed_on", "consent_required", "the patient has not consented to coordination",
    ),
    "a joint plan without social services consent": Refusal(
        coordination_ok(),
        lambda: RecordJointIndividualPlan(actor=COORDINATOR, agreed_on=START,
                                          participants=["soc"]),
        "agreed_on", "consent_required",
        "the patient has not consented to social_services (coordination)",
    ),
    "an employer plan dated tomorrow": Refusal(
        opened, lambda: RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=TOMORROW),
        "plan_date", "date_in_future", f"{TOMORROW} is in the future",
    ),
}

# ------------------------------------------------------------ messages with FK (day 20 on)


def fk_step(*steps: Callable[[Case], Any]) -> Callable[[], Case]:
    return then(with_fk, *steps)


def receiving(message: Any) -> Callable[[Case], Any]:
    return lambda case: receive(case, message)


def requesting(message: Any) -> Callable[[Case], Any]:
    return lambda case: request(case, message)


def delivering(message_id: str) -> Callable[[Case], Any]:
    return lambda case: deliver(case, message_id)


def received(message: Any) -> Callable[[], Command]:
    return lambda: ReceiveFkMessage(actor=FK_GATEWAY, message=message)


def sent(message: Any) -> Callable[[], Command]:
    return lambda: SendFkMessage(actor=PHYSICIAN, message=message)


FK_REFUSALS: dict[str, Refusal] = {
    "another patient's message": Refusal(
        with_fk, received(inbound(patient_id=make_pnr(date(1980, 5, 5), 123))),
        "message.patient_id", "patient_mismatch",
        "the message's patient identity does not match the case",
    ),
    "a message about an unknown certificate": Refusal(
        with_fk, received(inbound(certificate_id="c404")),
        "message.certificate_id", "certificate_unknown", "certificate c404 is not in this case",
    ),
    "a message about a revoked certificate": Refusal(
        fk_step(doing(RevokeCertificate(actor=PHYSICIAN, certificate_id="c1"))),
        received(inbound()),
        "message.certificate_id", "certificate_revoked", "certificate c1 is revoked",
    ),
    "care starting a completion request": Refusal(
        with_fk, sent(outbound(topic="KOMPLT")),
        "message.topic", "topic_not_allowed_for_care",
        "care may start only AVSTMN, KONTKT, OVRIGT messages, not KOMPLT",
    ),
    "completion items on a contact message": Refusal(
        with_fk,
        received(inbound(topic="KONTKT",
                         completion_items=[{"question_id": "4", "text": "Describe."}])),
        "message.completion_items", "completion_items_only_on_komplt",
        "completion items belong only on KOMPLT messages",
    ),
    "a completion request without items": Refusal(
        with_fk, received(inbound(completion_items=[])),
        "message.completion_items", "komplt_requires_items",
        "a completion request must list at least one question to complete",
    ),
    "a reminder of nothing": Refusal(
        with_fk, received(inbound("fk-2", "PAMINN")),
        "message.reminder_of", "reminder_requires_reference",
        "a reminder must say which message it reminds of",
    ),
    "a reminder of an unknown message": Refusal(
        with_fk, received(inbound("fk-2", "PAMINN", reminder_of="fk-9")),
        "message.reminder_of", "reminder_of_unknown",
        "the reminder refers to message fk-9, which is not in this case",
    ),
    "a reminder reference on a contact message": Refusal(
        fk_step(receiving(inbound())), received(inbound("fk-2", "KONTKT", reminder_of="fk-1")),
        "message.reminder_of", "reminder_of_only_on_paminn",
        "only a PAMINN message may refer to a message it reminds of",
    ),
    "an answer to an unknown message": Refusal(
        with_fk, sent(fk_answer("care-1", "fk-9")),
        "message.answer_to.message_id", "answer_to_unknown",
        "the answer refers to message fk-9, which is not in this case",
    ),
    "care answering its own message": Refusal(
        fk_step(requesting(outbound("care-1", "KONTKT")), delivering("care-1")),
        sent(fk_answer("care-2", "care-1")),
        "message.answer_to.message_id", "answer_to_own_message",
        "an answer must refer to a message from the other party",
    ),
    "FK answering its own message": Refusal(
        fk_step(receiving(inbound("fk-1", "KONTKT"))),
        received(inbound("fk-2", "KONTKT", answer_to={"message_id": "fk-1"})),
        "message.answer_to.message_id", "answer_to_own_message",
        "an answer must refer to a message from the other party",
    ),
    "an answer on another topic": Refusal(
        fk_step(receiving(inbound())), sent(fk_answer("care-1", "fk-1", "KONTKT")),
        "message.topic", "answer_topic_mismatch",
        "an answer to a KOMPLT message must have topic KOMPLT, not KONTKT",
    ),
    "a second answer": Refusal(
        fk_step(receiving(inbound("fk-1", "KONTKT")),
                requesting(fk_answer("care-1", "fk-1")), delivering("care-1")),
        sent(fk_answer("care-2", "fk-1")),
        "message.answer_to.message_id", "already_answered",
        "message fk-1 is already answered or closed",
    ),
    "a second answer while the first is on its way": Refusal(
        fk_step(receiving(inbound("fk-1", "KONTKT")), requesting(fk_answer("care-1", "fk-1"))),
        sent(fk_answer("care-2", "fk-1")),
        "message.answer_to.message_id", "already_answered",
        "answer care-1 to message fk-1 is already on its way",
    ),
    "an answer with a last answer date": Refusal(
        fk_step(requesting(outbound("care-1", "AVSTMN")), delivering("care-1")),
        received(inbound("fk-2", "AVSTMN", answer_to={"message_id": "care-1"},
                         last_answer_date=LAST_ANSWER)),
        "message.last_answer_date", "last_answer_date_on_answer",
        "an answer may not carry a last answer date",
    ),
    "a message id care already used": Refusal(
        fk_step(requesting(outbound("care-1"))), sent(outbound("care-1", text="Another text.")),
        "message.message_id", "message_id_duplicate",
        "another message with id care-1 is already recorded",
    ),
    "a message id of a delivered message": Refusal(
        fk_step(requesting(outbound("care-1")), delivering("care-1")),
        sent(outbound("care-1", text="Another text.")),
        "message.message_id", "message_id_duplicate",
        "another message with id care-1 is already recorded",
    ),
    "a message id FK already used": Refusal(
        fk_step(receiving(inbound("fk-1", "KONTKT"))), sent(outbound("fk-1", "KONTKT")),
        "message.message_id", "message_id_duplicate",
        "another message with id fk-1 is already recorded",
    ),
    "a message to FK without consent": Refusal(
        lambda: opened(cert=certificate(last=60)), sent(outbound()),
        "message", "consent_required", "the patient has not consented to fk (share_information)",
    ),
    "an answer deadline on its last day": Refusal(
        fk_step(receiving(inbound()), lambda case: case.advance(at(30, 23))),
        lambda: ReachFkAnswerDeadline(actor=SYSTEM, message_id="fk-1"),
        "message_id", "answer_not_overdue", f"the answer is due by {LAST_ANSWER}",
    ),
}


@pytest.mark.parametrize("refusal", [*REFUSALS.values(), *FK_REFUSALS.values()],
                         ids=[*REFUSALS, *FK_REFUSALS])
def test_a_refused_command_names_field_rule_and_reason_and_changes_nothing(
    refusal: Refusal,
) -> None:
    case = refusal.setup()
    before = case.state.model_copy(deep=True)
    with pytest.raises(DomainError) as info:
        case.do(refusal.command())
    error = info.value
    assert (error.field, error.rule, error.message) == (refusal.field, refusal.rule, refusal.message)
    assert str(error) == refusal.message
    assert case.state == before
