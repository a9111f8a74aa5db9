"""Follow-up measures (uppföljningsmått) computed from the event record, and KVÅ registrations.

Chosen rules where DOMAIN.md is silent:
- Each case is folded from its events up to the end of `period_to` (Stockholm), so a
  period's measures do not change when later events arrive.
- A case ends on the earlier of its closing date and its last certificate day; cases closed
  as opened in error are left out. Started: day 1 in the period; ended: end in the period;
  ongoing: on sick leave some day of the period.
- Splits (sex, unit, chapter, grade, length bucket) describe a case on its last day in the
  period; length is the union of certificate days up to then.
- Shares are taken over the ongoing cases; KOMPLT per certificate counts completion
  requests over certificates recorded; FK answer times are calendar days from receiving a
  question until care answered it or a completion certificate closed it.
- Every share is also given by sex (kvinna, man: both always listed) and by unit (each unit
  with an ongoing case in the period), numerator and denominator each (seed 004).
- "Over 30 days" counts calendar days from day 1: on sick leave on day 31 or later (up to
  the case's last day in the period), gaps between certificates included, as the day-30
  milestone refers a case to the coordinator. (Length buckets count certificate days.)
- The employer-plan group leaves out patients without an employer (job seekers: the latest
  certificate gives ARBETSSOKANDE and no current job), who have no employer plan to make.
- Length buckets as Intygsstatistik: ... 91-180, 181-365, 1-2 år (366-730), >2 år.
- KVÅ counts (`kva_counts`) go by the day the measure was performed, whenever it was
  recorded, with the case's unit and sex; cases closed as opened in error are left out.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from .calendar import DateRange, local_date, merge_ranges, start_of
from .decider import fold
from .events import (
    CoordinationPerformed,
    Event,
    JointIndividualPlanRecorded,
    MappingConversationHeld,
    MultimodalTeamMeetingHeld,
    PlanEstablished,
    PlanFollowedUp,
    ReconciliationMeetingHeld,
)
from .icd import chapter
from .identity import Sex, sex_for_statistics
from .state import CaseState
from .vocabulary import CoordinationKind

KvaCode = Literal["DV077", "AW026", "GC001"]

#: Length buckets in days covered: (label, first day, last day).
LENGTH_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("<15", 0, 14),
    ("15-30", 15, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-180", 91, 180),
    ("181-365", 181, 365),
    ("1-2 år", 366, 730),
)


def length_bucket(days: int) -> str:
    return next((label for label, low, high in LENGTH_BUCKETS if low <= days <= high), ">2 år")


#: The occasion a KVÅ registration comes from.
KvaOccasion = Literal[
    "plan_established",
    "plan_followed_up",
    "coordination_measure",
    "mapping_conversation",
    "multimodal_team_meeting",
    "reconciliation_meeting",
    "joint_individual_plan",
]
KVA_CODES: tuple[KvaCode, ...] = ("DV077", "AW026", "GC001")
SEXES: tuple[Sex, ...] = ("kvinna", "man")


class KvaRegistration(BaseModel):
    """One KVÅ code a journal system must register for the case: what, when, from which
    event, by whom."""

    case_id: str = Field(description="The case's id.")
    code: KvaCode = Field(description="DV077 plan, AW026 plan follow-up, GC001 coordination.")
    performed_on: date = Field(description="The day the measure was performed (Stockholm).")
    event_id: str = Field(description="The event it comes from (its id in the history).")
    occasion: KvaOccasion = Field(description="What was done.")
    event_type: str = Field(description="The event's type.", examples=["PlanEstablished"])
    version: int = Field(description="The event's place in the case's history.")
    recorded_by: str = Field(description="Who recorded it (HSA id or user id).")
    recorded_at: datetime = Field(description="When it was recorded.")
    coordination_kind: CoordinationKind | None = Field(
        default=None, description="For a coordination measure: its kind (internal, contact_...)."
    )


def kva_registration(e: Event) -> KvaRegistration | None:
    """The KVÅ registration an event makes, if any: DV077 for a plan established, AW026 for a
    follow-up, GC001 per coordination occasion (measures, mapping conversations, multimodal
    team meetings, avstämningsmöten and SIP)."""
    kind: CoordinationKind | None = None
    code: KvaCode
    occasion: KvaOccasion
    match e:
        case PlanEstablished():
            code, occasion, on = "DV077", "plan_established", local_date(e.occurred_at)
        case PlanFollowedUp():
            code, occasion, on = "AW026", "plan_followed_up", e.followed_up_on
        case CoordinationPerformed():
            code, occasion, on, kind = "GC001", "coordination_measure", e.performed_on, e.kind
        case MappingConversationHeld():
            code, occasion, on = "GC001", "mapping_conversation", e.held_on
        case MultimodalTeamMeetingHeld():
            code, occasion, on = "GC001", "multimodal_team_meeting", e.held_on
        case ReconciliationMeetingHeld():
            code, occasion, on = "GC001", "reconciliation_meeting", e.held_on
        case JointIndividualPlanRecorded():
            code, occasion, on = "GC001", "joint_individual_plan", e.agreed_on
        case _:
            return None
    return KvaRegistration(
        case_id=e.case_id,
        code=code,
        performed_on=on,
        event_id=e.event_id,
        occasion=occasion,
        event_type=e.type,
        version=e.version,
        recorded_by=e.recorded_by,
        recorded_at=e.occurred_at,
        coordination_kind=kind,
    )


def kva_registrations(events: Iterable[Event]) -> list[KvaRegistration]:
    """The registrations the events make, in order (`kva_registration`)."""
    return [r for e in events if (r := kva_registration(e)) is not None]


class KvaCount(BaseModel):
    total: int = Field(default=0, description="Registrations of the code in the period.")
    by_sex: dict[str, int] = Field(
        default_factory=lambda: {str(s): 0 for s in SEXES},
        description="By the patient's sex (kvinna, man; both always listed).",
    )
    by_unit: dict[str, int] = Field(
        default_factory=dict, description="By the case's care unit (units with registrations)."
    )


class KvaCounts(BaseModel):
    period_from: date = Field(description="First day of the period.")
    period_to: date = Field(description="Last day of the period.")
    unit_id: str | None = Field(description="The unit counted; null: every unit (ops).")
    codes: dict[KvaCode, KvaCount] = Field(
        description="Per KVÅ code (DV077, AW026, GC001; each always listed)."
    )


@dataclass(frozen=True)
class KvaRow:
    """`n` registrations with what the counts split them by."""

    code: KvaCode
    performed_on: date
    unit_id: str
    sex: str
    n: int = 1


def count_kva(
    rows: Iterable[KvaRow], period_from: date, period_to: date, unit_id: str | None = None
) -> KvaCounts:
    """KVÅ registrations performed in the period (inclusive), per code, by sex and unit."""
    codes = {code: KvaCount() for code in KVA_CODES}
    for r in rows:
        if period_from <= r.performed_on <= period_to and unit_id in (None, r.unit_id):
            count = codes[r.code]
            count.total += r.n
            count.by_sex[r.sex] = count.by_sex.get(r.sex, 0) + r.n
            count.by_unit[r.unit_id] = count.by_unit.get(r.unit_id, 0) + r.n
    for count in codes.values():
        count.by_unit = dict(sorted(count.by_unit.items()))
    return KvaCounts(period_from=period_from, period_to=period_to, unit_id=unit_id, codes=codes)


def kva_counts(
    events: Iterable[Event], period_from: date, period_to: date, unit_id: str | None = None
) -> KvaCounts:
    """`count_kva` over the event record: each case as recorded now (its unit, the patient's
    sex), cases closed as opened in error left out."""
    streams: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        streams[event.case_id].append(event)
    rows = []
    for stream in streams.values():
        stream.sort(key=lambda e: e.version)
        state = fold(stream)
        if not state.is_opened or state.closed_reason == "opened_in_error":
            continue
        sex = sex_for_statistics(state.patient_id or "")
        rows += [
            KvaRow(r.code, r.performed_on, state.unit_id or "", sex)
            for r in kva_registrations(stream)
        ]
    return count_kva(rows, period_from, period_to, unit_id)


class Breakdown(BaseModel):
    total: int = 0
    by_sex: dict[str, int] = Field(default_factory=dict)
    by_unit: dict[str, int] = Field(default_factory=dict)
    by_chapter: dict[str, int] = Field(default_factory=dict)
    by_grade: dict[str, int] = Field(default_factory=dict)
    by_length: dict[str, int] = Field(default_factory=dict)


class Share(BaseModel):
    numerator: int = Field(description="Cases (or requests) that meet the measure.")
    denominator: int = Field(description="Cases (or certificates) it is taken over.")
    share: float | None = Field(description="numerator / denominator; null when it is 0.")


class SplitShare(Share):
    """A share, and the same share for each sex and each unit (seed 004)."""

    by_sex: dict[str, Share] = Field(
        default_factory=dict,
        description="The share among women and among men (kvinna, man; both always listed).",
    )
    by_unit: dict[str, Share] = Field(
        default_factory=dict,
        description="The share at each care unit with an ongoing case in the period.",
    )


class AnswerTimes(BaseModel):
    count: int
    mean_days: float | None
    median_days: float | None
    max_days: int | None


class Measures(BaseModel):
    period_from: date
    period_to: date
    unit_id: str | None
    started: Breakdown
    ongoing: Breakdown
    ended: Breakdown
    with_plan: SplitShare
    plan_followed_up: SplitShare
    coordination_given: SplitShare
    over_30_days_to_coordinator: SplitShare
    employer_plan_by_day_30: SplitShare
    komplt_per_certificate: SplitShare
    fk_answer_days: AnswerTimes


@dataclass(frozen=True)
class _Case:
    """One case as the measures see it on its last day in the period."""

    state: CaseState
    start: date
    end: date | None
    last_day: date
    days: int
    #: The last day on sick leave up to `last_day` (None: no certificate by then).
    last_covered: date | None

    @property
    def sex(self) -> str:
        return sex_for_statistics(self.state.patient_id or "")

    @property
    def unit(self) -> str:
        return self.state.unit_id or ""

    @property
    def split(self) -> dict[str, str]:
        latest = self.state.latest_certificate
        grade = self.state.grade_on(self.last_day)
        return {
            "by_sex": self.sex,
            "by_unit": self.unit,
            "by_chapter": chapter(latest.main_diagnosis.code) if latest else "okänd",
            "by_grade": str(grade) if grade else "okänd",
            "by_length": length_bucket(self.days),
        }


def _case(state: CaseState, period_to: date) -> _Case | None:
    if not state.is_opened or state.closed_reason == "opened_in_error":
        return None
    ends = [d for d in (state.closed_at and local_date(state.closed_at),) if d]
    if state.is_closed and state.sick_period_end is not None:
        ends.append(state.sick_period_end)
    end = min(ends, default=None)
    last_day = min(d for d in (end, period_to) if d is not None)
    clipped = [(s, min(e, last_day)) for s, e in state.certificate_ranges if s <= last_day]
    days = sum((e - s).days + 1 for s, e in merge_ranges(clipped))
    last_covered = max((e for _, e in clipped), default=None)
    return _Case(
        state=state,
        start=state.start,
        end=end,
        last_day=last_day,
        days=days,
        last_covered=last_covered,
    )


def _breakdown(cases: list[_Case]) -> Breakdown:
    counters: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        for split, key in case.split.items():
            counters[split][key] += 1
    return Breakdown(total=len(cases), **{k: dict(sorted(v.items())) for k, v in counters.items()})


def _share(numerator: int, denominator: int) -> Share:
    return Share(
        numerator=numerator,
        denominator=denominator,
        share=round(numerator / denominator, 4) if denominator else None,
    )


_Test = Callable[[_Case], bool]
_Count = Callable[[_Case], int]


def _split_share(cases: list[_Case], numerator: _Count, denominator: _Count) -> SplitShare:
    """The share over `cases`, and by sex (both always) and by unit (each unit among them)."""

    def share(group: list[_Case]) -> Share:
        return _share(sum(map(numerator, group)), sum(map(denominator, group)))

    whole = share(cases)
    return SplitShare(
        numerator=whole.numerator,
        denominator=whole.denominator,
        share=whole.share,
        by_sex={
            s: share([c for c in cases if c.sex == s])
            for s in sorted({*SEXES, *(c.sex for c in cases)})
        },
        by_unit={
            u: share([c for c in cases if c.unit == u]) for u in sorted({c.unit for c in cases})
        },
    )


def _share_of(cases: list[_Case], has: _Test, among: _Test = lambda c: True) -> SplitShare:
    return _split_share(cases, lambda c: int(among(c) and has(c)), lambda c: int(among(c)))


def _has_plan(c: _Case) -> bool:
    return bool(c.state.plans)


def _over_30_days(c: _Case) -> bool:
    """On sick leave past day 30, in calendar days from day 1, by the case's last day."""
    return c.last_covered is not None and c.last_covered > c.state.day(30)


def _long_absence_expected(c: _Case) -> bool:
    """Reached day 30 expecting 60 days or more, with an employer: the employer's plan was
    due by day 30."""
    return (
        c.last_day >= c.state.day(30)
        and c.state.expects_long_absence()
        and not c.state.is_job_seeker
    )


def _employer_plan_by_day_30(c: _Case) -> bool:
    planned = c.state.employer_return_plan_date
    return planned is not None and planned <= c.state.day(30)


def _komplt(c: _Case) -> int:
    return sum(
        1
        for r in c.state.fk_messages.values()
        if r.direction == "inbound" and r.message.topic == "KOMPLT" and r.message.answer_to is None
    )


def _answer_days(cases: list[_Case]) -> AnswerTimes:
    days = [
        (local_date(r.resolved_at) - local_date(r.recorded_at)).days
        for c in cases
        for r in c.state.fk_messages.values()
        if r.direction == "inbound"
        and r.message.answer_to is None
        and r.message.topic != "PAMINN"
        and r.resolved_at is not None
    ]
    return AnswerTimes(
        count=len(days),
        mean_days=round(statistics.fmean(days), 2) if days else None,
        median_days=float(statistics.median(days)) if days else None,
        max_days=max(days, default=None),
    )


def compute_measures(
    events: Iterable[Event], period_from: date, period_to: date, unit_id: str | None = None
) -> Measures:
    """The follow-up measures for cases on sick leave between two dates (inclusive)."""
    cutoff = start_of(period_to + timedelta(days=1))
    streams: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.occurred_at < cutoff:
            streams[event.case_id].append(event)
    cases = [
        case
        for stream in streams.values()
        if (case := _case(fold(sorted(stream, key=lambda e: e.version)), period_to)) is not None
        and (unit_id is None or case.state.unit_id == unit_id)
    ]
    started = [c for c in cases if period_from <= c.start <= period_to]
    ended = [c for c in cases if c.end is not None and period_from <= c.end <= period_to]
    ongoing = [c for c in cases if c.start <= period_to and (c.end is None or c.end >= period_from)]
    return Measures(
        period_from=period_from,
        period_to=period_to,
        unit_id=unit_id,
        started=_breakdown(started),
        ongoing=_breakdown(ongoing),
        ended=_breakdown(ended),
        with_plan=_share_of(ongoing, _has_plan),
        plan_followed_up=_share_of(ongoing, lambda c: bool(c.state.follow_ups), among=_has_plan),
        coordination_given=_share_of(ongoing, lambda c: c.state.coordination_measures > 0),
        over_30_days_to_coordinator=_share_of(
            ongoing, lambda c: c.state.referred_to_coordinator_at is not None, among=_over_30_days
        ),
        employer_plan_by_day_30=_share_of(
            ongoing, _employer_plan_by_day_30, among=_long_absence_expected
        ),
        komplt_per_certificate=_split_share(ongoing, _komplt, lambda c: len(c.state.certificates)),
        fk_answer_days=_answer_days(ongoing),
    )


@dataclass(frozen=True)
class CaseFacts:
    """What the measures need of one case as of a day, for any period ending on or after it.

    The figures that depend on the period's end (length and grade on the case's last day in the
    period, day 30 reached) are kept as date ranges: `covered` is the union of the counting
    certificates' days, `grades` the days at each grade (a day's grade is the highest grade
    covering it, as `CaseState.grade_on`; periods of one certificate never overlap).
    """

    unit_id: str | None
    sex: str
    chapter: str
    start: date
    end: date | None
    covered: tuple[DateRange, ...]
    grades: tuple[tuple[int, tuple[DateRange, ...]], ...]
    day_30: date
    long_absence_expected: bool
    has_employer: bool
    employer_plan_by_day_30: bool
    has_plan: bool
    followed_up: bool
    coordination_given: bool
    referred_to_coordinator: bool
    komplt: int
    certificates: int
    answer_days: tuple[int, ...]


def case_facts(state: CaseState) -> CaseFacts | None:
    """The measures' view of a case (None: not opened, or closed as opened in error)."""
    if not state.is_opened or state.closed_reason == "opened_in_error":
        return None
    ends = [d for d in (state.closed_at and local_date(state.closed_at),) if d]
    if state.is_closed and state.sick_period_end is not None:
        ends.append(state.sick_period_end)
    by_grade: dict[int, list[DateRange]] = defaultdict(list)
    for cert in state.counting_certificates:
        for p in cert.periods:
            by_grade[p.grade].append(p.range)
    latest = state.latest_certificate
    inbound = [
        r
        for r in state.fk_messages.values()
        if r.direction == "inbound" and r.message.answer_to is None
    ]
    planned = state.employer_return_plan_date
    return CaseFacts(
        unit_id=state.unit_id,
        sex=sex_for_statistics(state.patient_id or ""),
        chapter=chapter(latest.main_diagnosis.code) if latest else "okänd",
        start=state.start,
        end=min(ends, default=None),
        covered=tuple(merge_ranges(state.certificate_ranges)),
        grades=tuple((g, tuple(merge_ranges(r))) for g, r in sorted(by_grade.items())),
        day_30=state.day(30),
        long_absence_expected=state.expects_long_absence(),
        has_employer=not state.is_job_seeker,
        employer_plan_by_day_30=planned is not None and planned <= state.day(30),
        has_plan=bool(state.plans),
        followed_up=bool(state.follow_ups),
        coordination_given=state.coordination_measures > 0,
        referred_to_coordinator=state.referred_to_coordinator_at is not None,
        komplt=sum(1 for r in inbound if r.message.topic == "KOMPLT"),
        certificates=len(state.certificates),
        answer_days=tuple(
            (local_date(r.resolved_at) - local_date(r.recorded_at)).days
            for r in inbound
            if r.message.topic != "PAMINN" and r.resolved_at is not None
        ),
    )
