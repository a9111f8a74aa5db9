"""Read side for the API: the case list, one case's summary, its events, and follow-up measures.

Every value is a bound parameter; the sort column comes from a whitelist. "Today" for overdue
is the Stockholm date unless the caller passes one (tests, reports as of a day).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, get_args
from zoneinfo import ZoneInfo

import asyncpg

from domain.consent import Purpose, Recipient
from domain.decider import apply_in_place, initial_state
from domain.measures import (
    LENGTH_BUCKETS,
    SEXES,
    AnswerTimes,
    Breakdown,
    Measures,
    Share,
    SplitShare,
    _share,
)
from domain.state import CaseState
from domain.summary import GRADES, as_read_at, consents_at
from store.eventstore import RecordedEvent, loads, to_recorded
from store.projections import decode_event

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


STOCKHOLM = ZoneInfo("Europe/Stockholm")

LIST_COLUMNS = (
    "case_id",
    "version",
    "phase",
    "unit_id",
    "sex",
    "age_band",
    "birth_year",
    "sick_period_start",
    "sick_period_end",
    "days",
    "current_grade",
    "diagnosis_code",
    "diagnosis_chapter",
    "next_milestone_day",
    "next_milestone_at",
    "follow_up_due",
    "fk_answer_due",
    "overdue",
    "unanswered_fk",
    "consents",
    "coordination_status",
    "in_coordinator_queue",
    "protected_identity",
    "opened_at",
    "closed_at",
    "closed_reason",
)

SORT_COLUMNS = frozenset(
    {
        "sick_period_start",
        "sick_period_end",
        "days",
        "next_milestone_at",
        "follow_up_due",
        "fk_answer_due",
        "opened_at",
        "closed_at",
        "unit_id",
        "phase",
        "current_grade",
        "diagnosis_chapter",
        "unanswered_fk",
        "case_id",
        "version",
    }
)


#: `list_cases(coordination_status=...)`: cases whose coordination status was never set.
NO_COORDINATION_STATUS = "unset"


class InvalidQuery(ValueError):
    """A filter or sort the read side does not offer; `field` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def stockholm_today() -> date:
    return datetime.now(STOCKHOLM).date()


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_cases(
    pool: asyncpg.Pool | Conn,
    *,
    phase: str | list[str] | None = None,
    unit_ids: list[str] | None = None,
    min_days: int | None = None,
    max_days: int | None = None,
    grade: int | None = None,
    diagnosis_chapter: str | None = None,
    sex: str | None = None,
    age_band: str | None = None,
    overdue: bool | None = None,
    unanswered_fk: bool | None = None,
    in_coordinator_queue: bool | None = None,
    coordination_status: str | None = None,
    physician: str | None = None,
    consent_held: str | None = None,
    consent_not_held: str | None = None,
    text: str | None = None,
    sort: str = "sick_period_start",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
    today: date | None = None,
    count_limit: int | None = None,
    read_at: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of case_summary rows matching every given filter, and the total count.

    `overdue=True`: follow-up date or FK answer date before today, or an overdue flag set;
    `overdue=False`: none of these. `unanswered_fk=True`: at least one FK message awaits care.
    `coordination_status`: one of the statuses, or NO_COORDINATION_STATUS for none set yet.
    `physician`: cases where that physician (the certificate's `issued_by`) issued a certificate.
    `consent_held` / `consent_not_held`: `recipient` or `recipient:purpose` (see
    `consent_filter`); cases that hold (do not hold) such a consent at `read_at` (default: now),
    the instant the page's consent values are evaluated at, so an expired consent never
    matches "held". `grade`: the grade on the (Stockholm) day of `read_at`, as shown.
    `text` matches case id, unit or diagnosis code (substring, case-insensitive). `unit_ids=[]`
    matches nothing (a user with no units sees no cases).

    The total is exact unless `count_limit` is given: then at most `count_limit + 1` matching
    rows are counted, so a total above `count_limit` is a lower bound (show "1,000+"); see
    `total_is_lower_bound`. Counting every match of an unselective filter is most of the cost
    of a page at 100,000 cases.
    """
    if sort not in SORT_COLUMNS:
        raise InvalidQuery("sort", f"cannot sort by {sort!r}; one of {sorted(SORT_COLUMNS)}")
    if not 1 <= limit <= 1000:
        raise InvalidQuery("limit", "limit must be between 1 and 1000")
    if offset < 0:
        raise InvalidQuery("offset", "offset must be >= 0")
    if count_limit is not None and count_limit < 0:
        raise InvalidQuery("count_limit", "count_limit must be >= 0")
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if phase is not None:
        phases = [phase] if isinstance(phase, str) else list(phase)
        where.append(f"phase = ANY({arg(phases)}::text[])")
    if unit_ids is not None:
        # With a text search, the unit restriction is left a filter: the trigram index on
        # unit_id also answers `=`, by every unit's trigrams, ten times slower than the search.
        unit = "(unit_id || '')" if text else "unit_id"
        if len(unit_ids) == 1:  # as `=`, so an index led by unit_id also gives the order
            where.append(f"{unit} = {arg(unit_ids[0])}::text")
        else:
            where.append(f"{unit} = ANY({arg(list(unit_ids))}::text[])")
    if min_days is not None:
        where.append(f"days >= {arg(min_days)}")
    if max_days is not None:
        where.append(f"days <= {arg(max_days)}")
    instant = read_at or datetime.now(UTC)
    if grade is not None:
        if grade not in GRADES:
            raise InvalidQuery("grade", f"grade must be one of {list(GRADES)}")
        # the grade on the day of reading, as shown (grade_NN, 0130): that grade covers the
        # day and no higher one does
        day = arg(instant.astimezone(STOCKHOLM).date())
        higher = [f"grade_{g} @> {day}::date" for g in GRADES if g > grade]
        where.append(
            f"(grade_{grade} @> {day}::date"  # GiST (0150)
            + "".join(f" AND NOT coalesce({h}, false)" for h in higher)
            + ")"
        )
    if diagnosis_chapter is not None:
        where.append(f"diagnosis_chapter = {arg(diagnosis_chapter)}")
    if sex is not None:
        where.append(f"sex = {arg(sex)}")
    if age_band is not None:
        where.append(f"age_band = {arg(age_band)}")
    if overdue is not None:
        day = arg(today or stockholm_today())
        # LEAST skips NULLs: a due date before today (indexed as case_summary_due), or a flag
        # (case_summary_flagged); written so for each side that NULLs never hide a row, and
        # with the planner's statistics on both expressions (0150)
        due = "least(follow_up_due, fk_answer_due)"
        where.append(
            f"({due} < {day}::date OR cardinality(overdue) > 0)"
            if overdue
            else f"(({due} IS NULL OR {due} >= {day}::date) AND cardinality(overdue) = 0)"
        )
    if unanswered_fk is not None:
        where.append("unanswered_fk > 0" if unanswered_fk else "unanswered_fk = 0")
    if in_coordinator_queue is not None:
        where.append(f"in_coordinator_queue = {arg(in_coordinator_queue)}")
    if coordination_status == NO_COORDINATION_STATUS:
        where.append("coordination_status IS NULL")
    elif coordination_status is not None:
        where.append(f"coordination_status = {arg(coordination_status)}")
    if physician is not None:
        where.append(f"physicians @> ARRAY[{arg(physician)}::text]")  # GIN (0130)
    for field, value, held in (
        ("consent_held", consent_held, True),
        ("consent_not_held", consent_not_held, False),
    ):
        if value is not None:
            recipient, purpose = consent_filter(field, value)
            key = f"{recipient}:{purpose}" if purpose else recipient
            where.append(_consent_sql(arg(key), arg(instant.timestamp()), held))
    if text:
        pattern = arg(_like(text))
        where.append(
            f"(case_id ILIKE {pattern} OR unit_id ILIKE {pattern} OR diagnosis_code ILIKE {pattern})"
        )
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    order = f"{sort} {'DESC' if descending else 'ASC'} NULLS LAST, case_id"
    count_args = list(args)
    if count_limit is None:
        count_sql = f"SELECT count(*) FROM case_summary {clause}"
    else:
        count_sql = (f"SELECT count(*) FROM (SELECT 1 FROM case_summary {clause} "
                     f"LIMIT {int(count_limit) + 1}) AS capped")
    columns = ", ".join(LIST_COLUMNS)
    if read_at is not None:
        read_day = arg(read_at.astimezone(STOCKHOLM).date())
        columns += f", consent_windows, {_grade_on_sql(read_day)} AS grade_today"
    window = f"ORDER BY {order} LIMIT {arg(limit)} OFFSET {arg(offset)}"
    if grade is not None:
        # The cases on a grade today cluster among recent starts: walking the start order
        # from the oldest (as the planner would, expecting them spread evenly) read half the
        # table for one page. OFFSET 0 keeps the grade's index (0150) in charge, then sorts
        # what it found.
        page_sql = (f"SELECT {columns} FROM (SELECT * FROM case_summary {clause} OFFSET 0) "
                    f"AS case_summary {window}")
    elif consent_held or consent_not_held or text:
        # The page's case ids first, by the start order's index that holds what these
        # filters read (0150: an index-only scan past the many cases that do not match, for
        # consent held the old cases whose consents have ended), then those rows.
        page_sql = (f"SELECT {columns} FROM case_summary WHERE case_id = ANY(ARRAY("
                    f"SELECT case_id FROM case_summary {clause} {window})) ORDER BY {order}")
    else:
        page_sql = f"SELECT {columns} FROM case_summary {clause} {window}"
    if isinstance(pool, asyncpg.Pool):  # the count and the page side by side
        total, rows = await asyncio.gather(pool.fetchval(count_sql, *count_args),
                                           pool.fetch(page_sql, *args))
    else:
        total = await pool.fetchval(count_sql, *count_args)
        rows = await pool.fetch(page_sql, *args)
    page = [dict(r) for r in rows]
    if read_at is not None:
        await _as_read_at(pool, page, read_at)
    return page, int(total)


def consent_filter(field: str, value: str) -> tuple[str, str | None]:
    """`recipient` or `recipient:purpose` (domain.consent's names) as (recipient, purpose)."""
    recipient, _, purpose = value.partition(":")
    if recipient not in get_args(Recipient) or (purpose and purpose not in get_args(Purpose)):
        raise InvalidQuery(
            field,
            f"{value!r} is not a consent: recipient[:purpose], recipient one of "
            f"{list(get_args(Recipient))}, purpose one of {list(get_args(Purpose))}",
        )
    return recipient, purpose or None


def _consent_sql(key: str, at: str, held: bool) -> str:
    """Whether the case holds a consent for `key` (`recipient` or `recipient:purpose`) at the
    instant `at` (Unix seconds): when its consent ends after `at` (case_summary.consent_ends,
    0130; the instant of reading comes after the consents were given). consent_until first:
    an index range for "held"."""
    timely = f"(consent_ends->{key}::text)::float8 > {at}::float8"
    at_instant = f"to_timestamp({at}::float8)"
    if held:
        return f"(consent_until > {at_instant} AND {timely})"
    return f"NOT coalesce(consent_until > {at_instant} AND {timely}, false)"


def _grade_on_sql(day: str) -> str:
    """The grade on `day` from the grade_NN columns (0130): the highest covering it."""
    cases = " ".join(f"WHEN grade_{g} @> {day}::date THEN {g}" for g in reversed(GRADES))
    return f"CASE {cases} END"


async def _as_read_at(pool: asyncpg.Pool | Conn, rows: list[dict[str, Any]], at: datetime) -> None:
    """Bring the page's time-dependent fields (consents held, current grade) to the instant of
    reading (DOMAIN.md, revised: an expired consent never shows as held), from the row's own
    columns (0130; the grade computed in SQL, `_grade_on_sql`), as the filters are. Rows not
    rewritten since 0130 (NULL consent_windows) are brought there from their stored state."""
    from store.projections import unpack_state_json

    stale = []
    for row in rows:
        windows, grade = row.pop("consent_windows"), row.pop("grade_today")
        if windows is None:
            stale.append(row)
        elif row["opened_at"] is not None:
            row.update(current_grade=grade, consents=consents_at(windows, at))
    if not stale:
        return
    stored = await pool.fetch(
        "SELECT case_id, state FROM case_state WHERE case_id = ANY($1::text[])",
        [r["case_id"] for r in stale],
    )
    states = {r["case_id"]: r["state"] for r in stored if r["state"] is not None}
    for row in stale:
        packed = states.get(row["case_id"])
        if packed is not None:
            state = CaseState.model_validate_json(unpack_state_json(packed))
            row.update(as_read_at(state, at))


#: The count limit the API is meant to pass to list_cases (see BENCHMARKS.md, "Queries").
COUNT_LIMIT = 1_000


def total_is_lower_bound(total: int, count_limit: int | None) -> bool:
    """Whether a total from `list_cases(..., count_limit=...)` was cut at the limit."""
    return count_limit is not None and total > count_limit


async def get_case_summary(
    pool: asyncpg.Pool | Conn, case_id: str, *, with_state: bool = False
) -> dict[str, Any] | None:
    """The case_summary row (and, with `with_state`, the folded CaseState as a JSON dict)."""
    columns = ", ".join(f"s.{c}" for c in LIST_COLUMNS)
    if with_state:
        sql = (
            f"SELECT {columns}, t.state FROM case_summary s "
            "LEFT JOIN case_state t USING (case_id) WHERE s.case_id = $1"
        )
    else:
        sql = f"SELECT {columns} FROM case_summary s WHERE s.case_id = $1"
    row = await pool.fetchrow(sql, case_id)
    if row is None:
        return None
    result = dict(row)
    if with_state:
        from store.projections import unpack_state_json

        packed = result["state"]
        result["state"] = loads(unpack_state_json(packed)) if packed is not None else None
    return result


async def case_events(
    pool: asyncpg.Pool | Conn, case_id: str, from_version: int = 0
) -> list[RecordedEvent]:
    """The full history of one case, in version order (GET /cases/{id}/events)."""
    rows = await pool.fetch(
        "SELECT position, stream_id, version, event_id, type, schema_version, data, metadata, "
        "recorded_at FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
        case_id,
        from_version,
    )
    return [to_recorded(r) for r in rows]


async def folded_case(pool: asyncpg.Pool | Conn, case_id: str) -> CaseState:
    """The case's state folded from its full record (the initial state if it has none)."""
    state = initial_state(case_id)
    for e in await case_events(pool, case_id):
        apply_in_place(state, decode_event(e.type, e.schema_version, e.data))
    return state


def _length_bucket_sql(days: str) -> str:
    cases = " ".join(f"WHEN {days} <= {high} THEN '{label}'" for label, _, high in LENGTH_BUCKETS)
    return f"CASE {cases} ELSE '>2 år' END"


_LENGTH = _length_bucket_sql("days")

# The counts of every group (the shares' numerators and denominators over ongoing cases).
_COUNTS = """count(*) FILTER (WHERE started) AS started,
       count(*) FILTER (WHERE ongoing) AS ongoing,
       count(*) FILTER (WHERE ended) AS ended,
       count(*) FILTER (WHERE ongoing AND has_plan) AS with_plan,
       count(*) FILTER (WHERE ongoing AND has_plan AND followed_up) AS followed_up,
       count(*) FILTER (WHERE ongoing AND coordination) AS coordination,
       count(*) FILTER (WHERE ongoing AND over_30) AS over_30,
       count(*) FILTER (WHERE ongoing AND over_30 AND referred) AS over_30_referred,
       count(*) FILTER (WHERE ongoing AND long_absence) AS long_absence,
       count(*) FILTER (WHERE ongoing AND long_absence AND employer_plan_30) AS employer_plan,
       coalesce(sum(komplt) FILTER (WHERE ongoing), 0)::bigint AS komplt,
       coalesce(sum(certificates) FILTER (WHERE ongoing), 0)::bigint AS certificates"""

# d: one narrow row per case in the period, as of the period's end (materialized once);
# then the five splits as GROUPING SETS, and one row of totals and shares.
_MEASURES_SQL = f"""
WITH d AS MATERIALIZED (
    SELECT c.sex, coalesce(c.unit_id, '') AS unit, c.chapter, c.started, c.ended, c.ongoing,
           CASE WHEN c.covered_last IS NULL THEN 0
                WHEN c.covered_last <= c.last_day THEN c.covered_days
                ELSE (SELECT coalesce(sum(upper(r) - lower(r)), 0)::int
                      FROM unnest(c.covered * datemultirange(daterange(NULL, c.last_day, '[]'))) r)
           END AS days,
           CASE WHEN c.grade_100 @> c.last_day THEN '100' WHEN c.grade_75 @> c.last_day THEN '75'
                WHEN c.grade_50 @> c.last_day THEN '50' WHEN c.grade_25 @> c.last_day THEN '25'
                ELSE 'okänd' END AS grade,
           CASE WHEN c.covered_last IS NULL THEN false
                WHEN c.covered_last <= c.last_day THEN c.covered_last > c.day_30
                ELSE coalesce(upper(c.covered * datemultirange(daterange(NULL, c.last_day, '[]')))
                              > c.day_30 + 1, false)
           END AS over_30,
           c.last_day >= c.day_30 AND c.long_absence AND c.has_employer AS long_absence,
           c.employer_plan_30, c.has_plan, c.followed_up, c.coordination, c.referred,
           c.komplt, c.certificates, nullif(c.answer_days, '{{}}') AS answer_days
    FROM (
        SELECT f.*, least(f.end_day, $2::date) AS last_day,
               f.start_day BETWEEN $1 AND $2 AS started,
               coalesce(f.end_day BETWEEN $1 AND $2, false) AS ended,
               f.start_day <= $2 AND (f.end_day IS NULL OR f.end_day >= $1) AS ongoing
        FROM case_measure_facts f
        WHERE f.as_of <= $2 AND (f.until IS NULL OR f.until > $2) AND f.counted
          AND ($3::text IS NULL OR f.unit_id = $3)
          AND (f.start_day <= $2 OR f.end_day <= $2)
    ) c
    WHERE c.started OR c.ended OR c.ongoing
)
SELECT GROUPING(sex, unit, chapter, grade, {_LENGTH}) AS grouping,
       sex, unit, chapter, grade, {_LENGTH} AS length,
       {_COUNTS},
       NULL::int[] AS answer_days
FROM d
GROUP BY GROUPING SETS ((sex), (unit), (chapter), (grade), ({_LENGTH}))
UNION ALL
SELECT 31, NULL, NULL, NULL, NULL, NULL,
       {_COUNTS},
       (SELECT array_agg(x ORDER BY x) FROM d AS a, unnest(a.answer_days) x
        WHERE a.ongoing AND a.answer_days IS NOT NULL)
FROM d
"""

_COUNT_NAMES = (
    "started", "ongoing", "ended", "with_plan", "followed_up", "coordination", "over_30",
    "over_30_referred", "long_absence", "employer_plan", "komplt", "certificates",
)
#: A group without cases (and the totals when there is no case at all).
_NO_COUNTS: dict[str, Any] = {**dict.fromkeys(_COUNT_NAMES, 0), "answer_days": None}

# GROUPING(...) bit set for each split grouped alone (a set bit: that column not grouped)
_SPLITS = {
    15: ("by_sex", "sex"),
    23: ("by_unit", "unit"),
    27: ("by_chapter", "chapter"),
    29: ("by_grade", "grade"),
    30: ("by_length", "length"),
}


def _answer_times(days: list[int]) -> AnswerTimes:
    """As domain.measures._answer_days, from the sorted answer days."""
    n = len(days)
    if not n:
        return AnswerTimes(count=0, mean_days=None, median_days=None, max_days=None)
    mid = n // 2
    median = days[mid] if n % 2 else (days[mid - 1] + days[mid]) / 2
    return AnswerTimes(
        count=n, mean_days=round(sum(days) / n, 2), median_days=float(median), max_days=days[-1]
    )


async def period_measures(
    pool: asyncpg.Pool | Conn,
    period_from: date,
    period_to: date,
    unit_id: str | None = None,
) -> Measures:
    """Follow-up measures for a period: SQL aggregates over case_measure_facts.

    Each case counts as it was at the end of `period_to` (its case_measure_facts row valid that
    day: the fold of its events up to then), so the figures for a past period do not move when
    later events arrive; the result equals `domain.measures.compute_measures` over the event
    record (tests/store/test_measures.py). Only as current as the case_measure_facts
    projection (store.projections.CaseMeasureFactsProjection).
    """
    if period_to < period_from:
        raise InvalidQuery("to", "the period ends before it starts")
    rows = await pool.fetch(_MEASURES_SQL, period_from, period_to, unit_id)
    splits: dict[str, dict[str, dict[str, int]]] = {
        kind: {name: {} for name, _ in _SPLITS.values()} for kind in ("started", "ongoing", "ended")
    }
    # the sexes (both always) and units with ongoing cases: the groups of the split shares
    groups: dict[str, dict[str, Any]] = {
        "by_sex": dict.fromkeys(SEXES, _NO_COUNTS),
        "by_unit": {},
    }
    total: Any = _NO_COUNTS
    for r in rows:
        if r["grouping"] == 31:
            total = r
            continue
        name, column = _SPLITS[r["grouping"]]
        for kind in ("started", "ongoing", "ended"):
            if r[kind]:
                splits[kind][name][r[column]] = r[kind]
        if name in groups and r["ongoing"]:
            groups[name][r[column]] = r

    def split_share(numerator: str, denominator: str) -> SplitShare:
        def share(counts: Any) -> Share:
            return _share(int(counts[numerator]), int(counts[denominator]))

        return SplitShare(
            **share(total).model_dump(),
            **{name: {k: share(v) for k, v in sorted(g.items())} for name, g in groups.items()},
        )

    def breakdown(kind: str) -> Breakdown:
        return Breakdown(
            total=total[kind], **{k: dict(sorted(v.items())) for k, v in splits[kind].items()}
        )

    return Measures(
        period_from=period_from,
        period_to=period_to,
        unit_id=unit_id,
        started=breakdown("started"),
        ongoing=breakdown("ongoing"),
        ended=breakdown("ended"),
        with_plan=split_share("with_plan", "ongoing"),
        plan_followed_up=split_share("followed_up", "with_plan"),
        coordination_given=split_share("coordination", "ongoing"),
        over_30_days_to_coordinator=split_share("over_30_referred", "over_30"),
        employer_plan_by_day_30=split_share("employer_plan", "long_absence"),
        komplt_per_certificate=split_share("komplt", "certificates"),
        fk_answer_days=_answer_times(list(total["answer_days"] or [])),
    )
