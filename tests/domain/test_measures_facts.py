"""A case's measure facts (`case_facts`, what the measures projection stores per case and day)
give the same follow-up measures as folding the case's events (`compute_measures`).

The database answers /measures from these facts (store/projections.py, checked equal to
`compute_measures` against PostgreSQL in tests/store); here the same agreement is checked
without a database, over random case histories and a few chosen cases: for every period end,
what the facts say about the case (started, ongoing, ended, its splits and each share's
numerator and denominator) is what `compute_measures` counts for it.
"""

from __future__ import annotations

import contextlib
import statistics
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from domain import DomainError, decide, fold
from domain.calendar import start_of
from domain.commands import (
    CloseCase,
    Command,
    EstablishPlan,
    GiveConsent,
    OpenCase,
    PerformCoordination,
    ReceiveFkMessage,
    RecordCertificate,
    RecordEmployerReturnPlan,
    RecordPlanFollowUp,
)
from domain.events import Event
from domain.fk import OutboundFkMessage
from domain.measures import CaseFacts, Measures, case_facts, compute_measures, length_bucket
from tests.domain.support import (
    COORDINATOR,
    FK_GATEWAY,
    PATIENT,
    PHYSICIAN,
    PNR,
    START,
    Case,
    at,
    certificate,
    opened,
)
from tests.domain.test_fk import deliver, inbound, outbound, receive, request
from tests.domain.test_properties import (
    CERT_IDS,
    EXAMPLES,
    MILESTONE_CONSENTS,
    Run,
    command_for,
    plan,
    steps,
)
from tests.domain.test_summary_and_measures import WOMAN

#: Period ends from before day 1 to long after the case closed.
PERIOD_ENDS = [START + timedelta(days=d) for d in (-1, 0, 13, 14, 20, 29, 30, 31, 59, 120, 700)]


def from_facts(facts: CaseFacts | None, period_from: date, period_to: date) -> dict[str, Any]:
    """What the measures count for one case, read from its facts alone."""
    if facts is None:
        return {"cases": (0, 0, 0)}
    last_day = min(d for d in (facts.end, period_to) if d is not None)
    clipped = [(s, min(e, last_day)) for s, e in facts.covered if s <= last_day]
    days = sum((e - s).days + 1 for s, e in clipped)
    last_covered = max((e for _, e in clipped), default=None)
    grade = max((g for g, ranges in facts.grades for s, e in ranges if s <= last_day <= e),
                default=None)
    started = period_from <= facts.start <= period_to
    ended = facts.end is not None and period_from <= facts.end <= period_to
    ongoing = facts.start <= period_to and (facts.end is None or facts.end >= period_from)
    view: dict[str, Any] = {"cases": (int(started), int(ongoing), int(ended))}
    if started or ongoing or ended:
        view["split"] = {
            "by_sex": facts.sex,
            "by_unit": facts.unit_id or "",
            "by_chapter": facts.chapter,
            "by_grade": str(grade) if grade else "okänd",
            "by_length": length_bucket(days),
        }
    if ongoing:
        over_30 = last_covered is not None and last_covered > facts.day_30
        plan_due = last_day >= facts.day_30 and facts.long_absence_expected and facts.has_employer
        view["shares"] = {
            "with_plan": (int(facts.has_plan), 1),
            "plan_followed_up": (int(facts.has_plan and facts.followed_up), int(facts.has_plan)),
            "coordination_given": (int(facts.coordination_given), 1),
            "over_30_days_to_coordinator": (int(over_30 and facts.referred_to_coordinator),
                                            int(over_30)),
            "employer_plan_by_day_30": (int(plan_due and facts.employer_plan_by_day_30),
                                        int(plan_due)),
            "komplt_per_certificate": (facts.komplt, facts.certificates),
        }
        days = facts.answer_days
        view["answer_days"] = (len(days), max(days, default=None),
                               round(statistics.fmean(days), 2) if days else None,
                               float(statistics.median(days)) if days else None)
    return view


def from_fold(m: Measures) -> dict[str, Any]:
    """The same view of `compute_measures` over one case's events."""
    view: dict[str, Any] = {"cases": (m.started.total, m.ongoing.total, m.ended.total)}
    splits = [
        {k: next(iter(getattr(b, k))) for k in ("by_sex", "by_unit", "by_chapter", "by_grade",
                                                  "by_length")}
        for b in (m.started, m.ongoing, m.ended)
        if b.total
    ]
    if splits:
        assert all(s == splits[0] for s in splits)
        view["split"] = splits[0]
    if m.ongoing.total:
        view["shares"] = {
            name: (getattr(m, name).numerator, getattr(m, name).denominator)
            for name in ("with_plan", "plan_followed_up", "coordination_given",
                         "over_30_days_to_coordinator", "employer_plan_by_day_30",
                         "komplt_per_certificate")
        }
        answer = m.fk_answer_days
        view["answer_days"] = (answer.count, answer.max_days, answer.mean_days,
                               answer.median_days)
    return view


def send(case: Case, message: OutboundFkMessage, now: datetime) -> None:
    case.advance(now)
    request(case, message)
    deliver(case, message.message_id)


def assert_facts_agree(events: list[Event]) -> None:
    for period_to in PERIOD_ENDS:
        cutoff = start_of(period_to + timedelta(days=1))
        known = [e for e in events if e.occurred_at < cutoff]
        facts = case_facts(fold(known)) if known else None
        for period_from in (period_to - timedelta(days=30), START - timedelta(days=400)):
            m = compute_measures(events, period_from, period_to)
            assert (m.period_from, m.period_to, m.unit_id) == (period_from, period_to, None)
            assert from_facts(facts, period_from, period_to) == from_fold(m), period_to


class Recording(Run):
    """The property run, keeping every event it decided."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def apply(self, command: Command) -> None:
        events = decide(command, self.state, self.now)
        self.state = fold(events, self.state)
        self.events += events
        self.decisions += 1


# no shrinking: a failure is reported at once (a broken rule fails quickly, also under mutmut)
@settings(max_examples=max(5, EXAMPLES // 6), deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 40), st.integers(5, 120), steps,
       st.frozensets(st.integers(0, len(MILESTONE_CONSENTS) - 1)))
def test_the_facts_of_any_case_give_the_measures_of_its_events(
    opening_day: int, first_cert: int, sequence: list[tuple[int, tuple[Any, ...]]],
    consents: frozenset[int],
) -> None:
    run = Recording()
    run.now = at(opening_day)
    run.apply(OpenCase(actor=PHYSICIAN, case_id="case-p", patient_id=PNR, unit_id="u",
                       sick_period_start=START, employer_name="AB",
                       certificate=certificate(CERT_IDS[0], last=first_cert,
                                               issued=opening_day)))
    for i in sorted(consents):
        recipient, purpose = MILESTONE_CONSENTS[i]
        run.apply(GiveConsent(actor=PATIENT, recipient=recipient, purpose=purpose))  # type: ignore[arg-type]
    for hours, choice in sequence:
        run.advance(run.now + timedelta(hours=hours))
        if run.state.is_closed:
            break
        with contextlib.suppress(DomainError):
            run.apply(command_for(run, choice))
    run.advance(run.now + timedelta(days=500))
    assert_facts_agree(run.events)


def test_the_facts_of_chosen_cases_give_their_measures() -> None:
    # a woman at 50 %, then 100 %, a plan followed up, the employer's plan on day 30, a
    # coordination measure, a completion request answered in 3 days, handed to the
    # coordinator on day 30
    a = opened(cert=certificate(last=20, grade=50), patient_id=WOMAN, unit_id="vc-syd",
               consents=(("coordinator", "coordination"), ("fk", "share_information")))
    a.do(EstablishPlan(actor=PHYSICIAN, plan=plan(25)), at(5))
    receive(a, inbound("k-1", patient_id=WOMAN))  # day 20
    a.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=21, last=90)),
         at(21))
    send(a, outbound("ans-1", "KOMPLT", answer_to={"message_id": "k-1"}), at(23))
    receive(a, inbound("k-2", "KONTKT", patient_id=WOMAN))  # never answered
    send(a, outbound("q-1", "AVSTMN"), at(24))  # care's own question, answered by FK
    a.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound(
        "a-1", "AVSTMN", patient_id=WOMAN, answer_to={"message_id": "q-1"})), at(26))
    a.do(PerformCoordination(actor=COORDINATOR, kind="internal",
                             performed_on=START + timedelta(days=22)))
    a.do(RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=START + timedelta(days=24)), at(25))
    a.do(RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=29)),
         at(30))
    a.advance(at(200))
    assert_facts_agree(a.events)
    # a job seeker: no employer plan is due
    b = opened(cert=certificate(last=90, occupations=["ARBETSSOKANDE"]), case_id="b")
    b.advance(at(200))
    assert_facts_agree(b.events)


def test_the_facts_of_a_case_still_open_after_its_last_day_and_of_one_opened_in_error() -> None:
    # on sick leave days 1-10; still open on day 14 (the merge gap runs), closed by day 30
    c = opened(cert=certificate(last=10), case_id="c")
    c.advance(at(40))
    assert_facts_agree(c.events)
    wrong = opened(cert=certificate(last=40), case_id="d")
    wrong.do(CloseCase(actor=PHYSICIAN, reason="opened_in_error"), at(2))
    assert case_facts(wrong.state) is None
    assert_facts_agree(wrong.events)


def test_the_facts_of_a_case_without_certificate_and_of_a_late_employer_plan() -> None:
    bare = opened(case_id="e")
    bare.advance(at(40))
    assert_facts_agree(bare.events)
    late = opened(cert=certificate(last=90), case_id="f")
    late.do(RecordEmployerReturnPlan(actor=COORDINATOR, plan_date=START + timedelta(days=30)),
            at(31))  # day 31: not by day 30
    late.advance(at(120))
    assert_facts_agree(late.events)
    # 14 days, then a certificate from day 15: on day 15 the case has 15 days ("15-30")
    longer = opened(cert=certificate(last=14), case_id="g")
    longer.do(RecordCertificate(actor=PHYSICIAN, certificate=certificate("c2", first=15, last=40)),
              at(15))
    assert_facts_agree(longer.events)
    on_day_15 = compute_measures(longer.events, START, START + timedelta(days=14))
    assert on_day_15.ongoing.by_length == {"15-30": 1}


def test_shares_by_sex_and_unit_and_to_four_decimals() -> None:
    man = opened(cert=certificate(last=60), case_id="m1")
    man.do(EstablishPlan(actor=PHYSICIAN, plan=plan(25)), at(5))
    other = opened(cert=certificate(last=60), case_id="m2", unit_id="vc-syd")
    woman = opened(cert=certificate(last=60), case_id="w1", patient_id=WOMAN, unit_id="vc-syd")
    m = compute_measures(man.events + other.events + woman.events, START, START + timedelta(days=9))
    assert (m.with_plan.numerator, m.with_plan.denominator, m.with_plan.share) == (1, 3, 0.3333)
    assert {s: (v.numerator, v.denominator) for s, v in m.with_plan.by_sex.items()} == {
        "kvinna": (0, 1), "man": (1, 2)}
    assert {u: (v.numerator, v.denominator) for u, v in m.with_plan.by_unit.items()} == {
        "vc-norr": (1, 1), "vc-syd": (0, 2)}


def test_a_case_ends_when_it_closed_and_counts_on_its_last_day_in_a_period() -> None:
    # on sick leave days 1-10; it closes itself at 00:00 on day 17 (merge gap 5 days)
    case = opened(cert=certificate(last=10), case_id="h", unit_id="vc-syd")
    case.advance(at(20))
    day = [START + timedelta(days=d - 1) for d in range(1, 21)]
    before_closing = compute_measures(case.events, day[0], day[15])  # to day 16
    assert (before_closing.ongoing.total, before_closing.ended.total) == (1, 0)
    closed = compute_measures(case.events, day[9], day[16], unit_id="vc-syd")  # from day 10
    assert (closed.unit_id, closed.ongoing.total, closed.ended.total) == ("vc-syd", 1, 1)
    assert compute_measures(case.events, day[10], day[16]).ongoing.total == 0  # from day 11


def test_answer_times_are_given_to_two_decimals() -> None:
    case = opened(cert=certificate(last=60), consents=(("fk", "share_information"),))
    for mid in ("k-1", "k-2", "k-3"):  # all asked on day 20
        case.do(ReceiveFkMessage(actor=FK_GATEWAY, message=inbound(mid)), at(20))
    for mid, answered in (("k-1", 21), ("k-2", 21), ("k-3", 22)):
        send(case, outbound(f"ans-{mid}", "KOMPLT", answer_to={"message_id": mid}), at(answered))
    answers = compute_measures(case.events, START, START + timedelta(days=59)).fk_answer_days
    assert (answers.count, answers.mean_days, answers.median_days, answers.max_days) == (
        3, 1.33, 1.0, 2
    )
