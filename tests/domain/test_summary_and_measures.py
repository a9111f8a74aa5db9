"""The case-list row and the follow-up measures, from what the record holds."""

from datetime import date, timedelta

from domain import summarize
from domain.calendar import day_start
from domain.commands import (
    CloseCase,
    EstablishPlan,
    PerformCoordination,
    ReceiveFkMessage,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordNotificationOutcome,
    RecordPlanFollowUp,
    SendFkMessage,
    SetCoordinationStatus,
    WithdrawConsent,
)
from domain.fk import FkMessage, OutboundFkMessage
from domain.measures import compute_measures, kva_counts, kva_registrations, length_bucket
from domain.plan import Plan
from domain.summary import in_coordinator_queue
from tests.domain.support import (
    COORDINATOR,
    FK_GATEWAY,
    PATIENT,
    PHYSICIAN,
    PNR,
    START,
    SYSTEM,
    at,
    certificate,
    make_pnr,
    opened,
)

WOMAN = make_pnr(date(1988, 8, 8), 242)


def plan(follow_up_day: int) -> Plan:
    return Plan(
        assessment="a",
        goals=["g"],
        sick_leave="s",
        return_to_work="r",
        follow_up_date=START + timedelta(days=follow_up_day - 1),
    )


def test_summary_of_a_running_case() -> None:
    cert = certificate(last=20, grade=100)
    case = opened(
        cert=cert, patient_id=WOMAN, consents=(("employer", "contact"), ("fk", "contact"))
    )
    stepped = certificate(
        "c2", first=21, last=50, grade=50, issued=20, diagnoses=[{"code": "M54.5"}]
    )
    case.do(RecordCertificate(actor=PHYSICIAN, certificate=stepped), at(20))
    case.do(WithdrawConsent(actor=PATIENT, recipient="fk", purpose="contact"))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)))
    s = summarize(case.state)
    assert (s.phase, s.sex, s.birth_year, s.age_band) == ("plan", "kvinna", 1988, "31-35")
    assert (s.sick_period_start, s.sick_period_end, s.days) == (
        START,
        START + timedelta(days=49),
        50,
    )
    assert (s.current_grade, s.diagnosis_code, s.diagnosis_chapter) == (50, "M54.5", "M00-M99")
    assert (s.next_milestone_day, s.next_milestone_at) == (30, day_start(START, 30))
    assert s.follow_up_due == START + timedelta(days=39)
    assert s.consents == {"employer": ["contact"]}
    assert (s.unanswered_fk, s.fk_answer_due, s.overdue) == (0, None, [])
    assert s.opened_at == at(1) and s.closed_at is None


def test_overdue_items_are_facts_in_the_record() -> None:
    case = opened(cert=certificate(last=90))
    case.advance(at(61))
    assert set(summarize(case.state).overdue) == {
        "plan_follow_up_missing",
        "employer_return_plan_missing",
    }
    case.do(RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=60)))
    assert summarize(case.state).overdue == ["plan_follow_up_missing"]


def test_cases_over_30_days_without_a_coordination_status_form_the_coordinators_queue() -> None:
    case = opened(cert=certificate(last=60))
    case.advance(at(29))
    assert not in_coordinator_queue(case.state)
    case.advance(at(30))
    assert summarize(case.state).in_coordinator_queue
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted"))
    assert not summarize(case.state).in_coordinator_queue


def test_closed_case_summary_has_no_next_milestone() -> None:
    case = opened(cert=certificate(last=12))
    case.advance(at(30))
    s = summarize(case.state)
    assert (s.phase, s.closed_reason, s.next_milestone_day) == ("closed", "sick_period_ended", None)
    assert s.closed_at == day_start(START, 19)


def test_length_buckets() -> None:
    assert [
        length_bucket(d) for d in (1, 14, 15, 30, 31, 60, 61, 90, 91, 180, 181, 365, 366, 730, 731)
    ] == [
        "<15",
        "<15",
        "15-30",
        "15-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "91-180",
        "91-180",
        "181-365",
        "181-365",
        "1-2 år",
        "1-2 år",
        ">2 år",
    ]


def komplt(mid: str, day: int) -> FkMessage:
    return FkMessage.model_validate(
        {
            "message_id": mid,
            "sent_at": at(day),
            "certificate_id": "c1",
            "patient_id": PNR,
            "topic": "KOMPLT",
            "text": "t",
            "completion_items": [{"question_id": "1", "text": "q"}],
            "last_answer_date": START + timedelta(days=day + 10),
        }
    )


def test_measures_count_split_and_share() -> None:
    # A: man, 90 days, plan + follow-up + coordination, handed over, employer plan by day 25, one KOMPLT
    a = opened(
        cert=certificate(last=90),
        case_id="a",
        consents=(("fk", "share_information"), ("employer", "coordination"),
                  ("coordinator", "coordination")),
    )
    a.do(EstablishPlan(actor=PHYSICIAN, plan=plan(30)), at(5))
    a.do(ReceiveFkMessage(actor=FK_GATEWAY, message=komplt("k-a", 20)), at(20))
    a.do(
        SendFkMessage(
            actor=PHYSICIAN,
            message=OutboundFkMessage(
                message_id="ans-a",
                certificate_id="c1",
                topic="KOMPLT",
                answer_to={"message_id": "k-a"},
            ),
        ),
        at(23),
    )  # type: ignore[arg-type]
    delivery = next(n for n in a.state.pending_notifications if n.kind == "fk_message")
    a.do(  # FK acknowledged the answer the same day: only then is it sent
        RecordNotificationOutcome(
            actor=SYSTEM, notification_id=delivery.notification_id, outcome="sent", receipt="r"
        )
    )
    a.do(RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=24)), at(25))
    a.do(
        PerformCoordination(
            actor=COORDINATOR, kind="contact_employer", performed_on=START + timedelta(days=24)
        )
    )
    a.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + timedelta(days=29)), at(30))
    a.advance(at(100))  # closes by itself: day 90 + 5 days gap
    # B: woman, ten days, other unit; ended in March
    b = opened(cert=certificate(last=10, grade=50), case_id="b", patient_id=WOMAN, unit_id="vc-syd")
    b.advance(at(20))
    # C: opened in error: left out
    c = opened(cert=certificate(last=40), case_id="c")
    c.do(CloseCase(actor=PHYSICIAN, reason="opened_in_error"), at(2))
    events = a.events + b.events + c.events

    march = compute_measures(events, date(2024, 3, 1), date(2024, 3, 31))
    assert (march.started.total, march.ongoing.total, march.ended.total) == (2, 2, 1)
    assert march.started.by_sex == {"kvinna": 1, "man": 1}
    assert march.ended.by_unit == {"vc-syd": 1}
    assert march.ongoing.by_grade == {"100": 1, "50": 1}
    assert march.ongoing.by_length == {"15-30": 1, "<15": 1}  # A has 28 days by 31 March
    assert march.ongoing.by_chapter == {"F00-F99": 2}

    whole = compute_measures(events, date(2024, 3, 1), date(2024, 6, 30))
    assert whole.ended.total == 2 and whole.ongoing.by_length == {"61-90": 1, "<15": 1}
    assert (whole.with_plan.numerator, whole.with_plan.denominator, whole.with_plan.share) == (
        1,
        2,
        0.5,
    )
    assert (whole.plan_followed_up.numerator, whole.plan_followed_up.denominator) == (1, 1)
    assert (whole.coordination_given.numerator, whole.coordination_given.denominator) == (1, 2)
    assert (
        whole.over_30_days_to_coordinator.numerator,
        whole.over_30_days_to_coordinator.denominator,
    ) == (1, 1)
    assert (whole.employer_plan_by_day_30.numerator, whole.employer_plan_by_day_30.denominator) == (
        1,
        1,
    )
    assert (whole.komplt_per_certificate.numerator, whole.komplt_per_certificate.denominator) == (
        1,
        2,
    )
    assert (whole.fk_answer_days.count, whole.fk_answer_days.max_days) == (1, 3)

    syd = compute_measures(events, date(2024, 3, 1), date(2024, 6, 30), unit_id="vc-syd")
    assert syd.ongoing.total == 1 and syd.with_plan.share == 0.0

    before = compute_measures(events, date(2024, 2, 1), date(2024, 2, 29))
    assert before.ongoing.total == 0 and before.with_plan.share is None


def test_measures_for_a_past_period_ignore_later_events() -> None:
    case = opened(cert=certificate(last=60), case_id="late")
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(50))  # 22 April
    march = compute_measures(case.events, date(2024, 3, 1), date(2024, 3, 31))
    assert march.with_plan.numerator == 0
    april = compute_measures(case.events, date(2024, 4, 1), date(2024, 4, 30))
    assert april.with_plan.numerator == 1


def test_kva_registrations_carry_the_procedure_date() -> None:
    case = opened(cert=certificate(last=60),
                  consents=(("af", "coordination"), ("coordinator", "coordination")))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3))
    case.do(
        PerformCoordination(
            actor=COORDINATOR, kind="contact_af", performed_on=START + timedelta(days=1)
        )
    )
    assert [(k.code, k.performed_on) for k in kva_registrations(case.events)] == [
        ("DV077", START + timedelta(days=2)),
        ("GC001", START + timedelta(days=1)),
    ]


def test_kva_counts_go_by_the_day_performed_with_the_cases_sex_and_unit() -> None:
    man = opened(cert=certificate(last=60), case_id="kva-m")
    man.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3))
    # followed up on day 28 (31 March), recorded on day 35 (April): counts in March
    man.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + timedelta(days=27)), at(35))
    woman = opened(cert=certificate(last=60), case_id="kva-w", patient_id=WOMAN, unit_id="vc-syd")
    woman.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(4))
    wrong = opened(cert=certificate(last=60), case_id="kva-x")
    wrong.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(4))
    wrong.do(CloseCase(actor=PHYSICIAN, reason="opened_in_error"), at(5))
    events = man.events + woman.events + wrong.events

    march = kva_counts(events, date(2024, 3, 1), date(2024, 3, 31)).codes
    assert march["DV077"].model_dump() == {
        "total": 2, "by_sex": {"kvinna": 1, "man": 1}, "by_unit": {"vc-norr": 1, "vc-syd": 1}}
    assert march["AW026"].model_dump() == {
        "total": 1, "by_sex": {"kvinna": 0, "man": 1}, "by_unit": {"vc-norr": 1}}
    assert march["GC001"].total == 0
    assert kva_counts(events, date(2024, 4, 1), date(2024, 4, 30)).codes["AW026"].total == 0
    syd = kva_counts(events, date(2024, 3, 1), date(2024, 3, 31), unit_id="vc-syd").codes
    assert (syd["DV077"].total, syd["AW026"].total) == (1, 0)


def test_protected_identity_is_shown_only_to_physicians() -> None:
    from domain import patient_identity_for

    case = opened(cert=certificate(), protected_identity=True)
    assert patient_identity_for(case.state, "physician") == PNR
    assert patient_identity_for(case.state, "coordinator") is None
    assert summarize(case.state).protected_identity
    assert patient_identity_for(opened().state, "coordinator") == PNR


_FOLD_SAMPLE = """
import hashlib
from domain import fold, summarize
from domain.measures import case_facts
from store.sample_cases import sample_cases
digest = hashlib.sha256()
for _, events in sample_cases(60, seed=3):
    state = fold(events)
    digest.update(state.model_dump_json().encode())
    digest.update(summarize(state).model_dump_json().encode())
    digest.update(repr(case_facts(state)).encode())
print(digest.hexdigest())
"""


def test_folding_does_not_depend_on_the_process_hash_seed() -> None:
    """Projections are folded in other processes than the workflows and the API (a rebuild runs
    one process per projection): a state, summary or measure that followed the iteration order
    of a set of strings would differ between them."""
    import os
    import subprocess
    import sys

    def digest(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", _FOLD_SAMPLE], env=env, capture_output=True, text=True, check=True
        )
        return run.stdout.strip()

    assert len({digest(seed) for seed in ("1", "2", "3")}) == 1
