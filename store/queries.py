"""Read side for the API: the case list, one case's summary, its events, and follow-up measures.

Every value is a bound parameter; the sort column comes from a whitelist. "Today" for overdue
is the Stockholm date unless the caller passes one (tests, reports as of a day).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import asyncpg

from domain.calendar import start_of
from domain.measures import Measures, compute_measures
from store.eventstore import RecordedEvent, loads, to_recorded

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
    text: str | None = None,
    sort: str = "sick_period_start",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
    today: date | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of case_summary rows matching every given filter, and the total count.

    `overdue=True`: follow-up date or FK answer date before today, or an overdue flag set;
    `overdue=False`: none of these. `unanswered_fk=True`: at least one FK message awaits care.
    `text` matches case id, unit or diagnosis code (substring, case-insensitive). `unit_ids=[]`
    matches nothing (a user with no units sees no cases).
    """
    if sort not in SORT_COLUMNS:
        raise InvalidQuery("sort", f"cannot sort by {sort!r}; one of {sorted(SORT_COLUMNS)}")
    if not 1 <= limit <= 1000:
        raise InvalidQuery("limit", "limit must be between 1 and 1000")
    if offset < 0:
        raise InvalidQuery("offset", "offset must be >= 0")
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if phase is not None:
        phases = [phase] if isinstance(phase, str) else list(phase)
        where.append(f"phase = ANY({arg(phases)}::text[])")
    if unit_ids is not None:
        where.append(f"unit_id = ANY({arg(list(unit_ids))}::text[])")
    if min_days is not None:
        where.append(f"days >= {arg(min_days)}")
    if max_days is not None:
        where.append(f"days <= {arg(max_days)}")
    if grade is not None:
        where.append(f"current_grade = {arg(grade)}")
    if diagnosis_chapter is not None:
        where.append(f"diagnosis_chapter = {arg(diagnosis_chapter)}")
    if sex is not None:
        where.append(f"sex = {arg(sex)}")
    if age_band is not None:
        where.append(f"age_band = {arg(age_band)}")
    if overdue is not None:
        day = arg(today or stockholm_today())
        condition = (
            f"(coalesce(follow_up_due < {day}::date, false) "
            f"OR coalesce(fk_answer_due < {day}::date, false) OR cardinality(overdue) > 0)"
        )
        where.append(condition if overdue else f"NOT {condition}")
    if unanswered_fk is not None:
        where.append("unanswered_fk > 0" if unanswered_fk else "unanswered_fk = 0")
    if in_coordinator_queue is not None:
        where.append(f"in_coordinator_queue = {arg(in_coordinator_queue)}")
    if text:
        pattern = arg(_like(text))
        where.append(
            f"(case_id ILIKE {pattern} OR unit_id ILIKE {pattern} OR diagnosis_code ILIKE {pattern})"
        )
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    order = f"{sort} {'DESC' if descending else 'ASC'} NULLS LAST, case_id"
    total = await pool.fetchval(f"SELECT count(*) FROM case_summary {clause}", *args)
    rows = await pool.fetch(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM case_summary {clause} "
        f"ORDER BY {order} LIMIT {arg(limit)} OFFSET {arg(offset)}",
        *args,
    )
    return [dict(r) for r in rows], int(total)


async def get_case_summary(
    pool: asyncpg.Pool | Conn, case_id: str, *, with_state: bool = False
) -> dict[str, Any] | None:
    """The case_summary row (and, with `with_state`, the folded CaseState as a JSON dict)."""
    columns = ", ".join(LIST_COLUMNS + (("state",) if with_state else ()))
    row = await pool.fetchrow(f"SELECT {columns} FROM case_summary WHERE case_id = $1", case_id)
    if row is None:
        return None
    result = dict(row)
    if with_state:
        from store.projections import unpack_state_json

        result["state"] = loads(unpack_state_json(result["state"]))
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


async def period_measures(
    pool: asyncpg.Pool | Conn,
    period_from: date,
    period_to: date,
    unit_id: str | None = None,
) -> Measures:
    """Follow-up measures for a period, computed by the domain from the event record.

    Candidates come from case_summary: opened before the period ended, not closed before it
    started, in the unit. Their events (up to the period's end; compute_measures cuts them) are
    folded by `domain.measures.compute_measures`, so the figures for a past period do not move
    when later events arrive.
    """
    from domain import event_from_record

    if period_to < period_from:
        raise InvalidQuery("to", "the period ends before it starts")
    cutoff = start_of(period_to + timedelta(days=1))
    since = start_of(period_from)
    args: list[Any] = [cutoff, since]
    unit_clause = ""
    if unit_id is not None:
        args.append(unit_id)
        unit_clause = "AND unit_id = $3"
    rows = await pool.fetch(
        f"""
        SELECT e.type, e.schema_version, e.data
        FROM events e
        JOIN case_summary c ON c.case_id = e.stream_id
        WHERE c.opened_at < $1 AND (c.closed_at IS NULL OR c.closed_at >= $2) {unit_clause}
        ORDER BY e.stream_id, e.version
        """,
        *args,
    )
    events = [event_from_record(r["type"], r["schema_version"], r["data"]) for r in rows]
    return compute_measures(events, period_from, period_to, unit_id)
