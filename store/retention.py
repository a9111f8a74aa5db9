"""Retention (gallring): closed cases whose last entry is older than the policy leave the record.

Patient records are kept at least ten years after the last entry (patientdatalagen 3 kap.
17 §); the region decides longer (`SJUKFALL_RETENTION_YEARS`, >= 10). A case is *due* when
its events include `CaseClosed` and the newest event's `occurred_at` (the time of the entry,
as the record states it) is older than the policy. An open case is never due, however old.

Purging a due case removes, in one transaction per batch of cases:
- its events (the record itself) and its PDL access-log entries;
- its rows in every read model keyed by case (`PURGED_TABLES`: the case list and its state,
  the measure facts): a projection rebuild would not bring them back, since the events are gone;
and keeps:
- `retention_purged_cases`: which case id was purged, in which run, its last entry and how many
  events and access entries went (the case id is pseudonymous: nothing links it to a person
  once the events are gone);
- `retention_runs`: when, by whom, under which policy and cutoff, with totals;
- `retention_statistics`: anonymous counts of the purged cases by start year, unit, sex, age
  band, diagnosis chapter, closing reason and length, for statistics over years the record no
  longer holds. (The follow-up measures of those years, recomputed later, no longer count them.)

The database enforces the legal floor on its own (migration 0100): it lists a case as purged
only if the record shows it closed with its last entry more than ten years back, and the
append-only guards of `events` and `access_log` let through a DELETE of a listed case's rows
and nothing else (no UPDATE, no TRUNCATE, no DELETE of anything not listed).

Temporal's own copy (the closed workflow's history) goes by the namespace's retention period
(days, set on the namespace: deploy/k8s/temporal-setup-job.yaml, docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.queries import _length_bucket_sql

LEGAL_MINIMUM_YEARS = 10  # patientdatalagen 3 kap. 17 §

#: Read models with one or more rows per case, keyed by `case_id`. A new table keyed by case
#: (e.g. an index by patient) belongs here: tests/store/test_retention.py checks that every
#: table with a case_id or stream_id column is purged or named as kept.
PURGED_TABLES = (
    "case_summary", "case_state", "case_measure_facts", "case_measure_state", "certificate_cases",
    "kva_registrations",
)
#: Tables with a case id that retention keeps on purpose (its own records) or purges itself.
KEPT_TABLES = ("retention_purged_cases", "events", "access_log")


@dataclass(frozen=True)
class DueCase:
    case_id: str
    last_entry_at: datetime
    events: int
    access_entries: int


@dataclass(frozen=True)
class RetentionRun:
    run_id: int
    policy_years: int
    cutoff: datetime
    cases: int
    events: int
    access_entries: int


_DUE_SQL = """
WITH due AS (
    SELECT stream_id AS case_id, max((data->>'occurred_at')::timestamptz) AS last_entry_at,
           count(*)::int AS events
    FROM events
    GROUP BY stream_id
    HAVING bool_or(type = 'CaseClosed')
       AND max((data->>'occurred_at')::timestamptz) < $1
)
SELECT due.case_id, due.last_entry_at, due.events,
       (SELECT count(*)::int FROM access_log a WHERE a.case_id = due.case_id) AS access_entries
FROM due
ORDER BY due.last_entry_at, due.case_id
"""

_STATISTICS_SQL = f"""
INSERT INTO retention_statistics (run_id, start_year, unit_id, sex, age_band, diagnosis_chapter,
                                  closed_reason, length_band, cases)
SELECT $1, extract(year FROM s.sick_period_start)::int, s.unit_id, s.sex, s.age_band,
       s.diagnosis_chapter, s.closed_reason,
       CASE WHEN s.case_id IS NULL THEN NULL ELSE {_length_bucket_sql("s.days")} END, count(*)
FROM unnest($2::text[]) AS c(case_id) LEFT JOIN case_summary s USING (case_id)
GROUP BY 2, 3, 4, 5, 6, 7, 8
"""


def check_policy(years: int) -> None:
    if years < LEGAL_MINIMUM_YEARS:
        raise ValueError(f"the retention policy must be at least {LEGAL_MINIMUM_YEARS} years "
                         "(patientdatalagen 3 kap. 17 §)")


async def cutoff_for(conn: asyncpg.Connection | asyncpg.Pool, years: int) -> datetime:
    """Entries before this moment are past the policy (by the database's clock)."""
    check_policy(years)
    value: datetime = await conn.fetchval("SELECT now() - make_interval(years => $1)", years)
    return value


async def due_cases(pool: asyncpg.Pool, years: int) -> list[DueCase]:
    """The closed cases whose last entry is older than `years` (a dry run: changes nothing)."""
    cutoff = await cutoff_for(pool, years)
    rows = await pool.fetch(_DUE_SQL, cutoff)
    return [DueCase(r["case_id"], r["last_entry_at"], r["events"], r["access_entries"])
            for r in rows]


async def purge(
    pool: asyncpg.Pool,
    years: int,
    operator: str,
    *,
    batch_size: int = 100,
    progress: Callable[[int, int], Any] | None = None,
) -> RetentionRun:
    """Purge every due case (see the module docstring); `progress(done, total)` per batch."""
    cutoff = await cutoff_for(pool, years)
    due = [DueCase(r["case_id"], r["last_entry_at"], r["events"], r["access_entries"])
           for r in await pool.fetch(_DUE_SQL, cutoff)]
    run_id: int = await pool.fetchval(
        "INSERT INTO retention_runs (policy_years, cutoff, operator) VALUES ($1, $2, $3) "
        "RETURNING id", years, cutoff, operator)
    events = entries = 0
    for start in range(0, len(due), batch_size):
        batch = due[start:start + batch_size]
        ids = [d.case_id for d in batch]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_STATISTICS_SQL, run_id, ids)
            await conn.executemany(
                "INSERT INTO retention_purged_cases "
                "(case_id, run_id, last_entry_at, events, access_entries) "
                "VALUES ($1, $2, $3, $4, $5)",
                [(d.case_id, run_id, d.last_entry_at, d.events, d.access_entries) for d in batch])
            events += _count(await conn.execute(
                "DELETE FROM events WHERE stream_id = ANY($1::text[])", ids))
            entries += _count(await conn.execute(
                "DELETE FROM access_log WHERE case_id = ANY($1::text[])", ids))
            for table in PURGED_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE case_id = ANY($1::text[])", ids)
        if progress is not None:
            progress(start + len(batch), len(due))
    await pool.execute(
        "UPDATE retention_runs SET finished_at = now(), cases = $2, events = $3, "
        "access_entries = $4 WHERE id = $1", run_id, len(due), events, entries)
    return RetentionRun(run_id, years, cutoff, len(due), events, entries)


def _count(status: str) -> int:
    """The row count of a command status such as `DELETE 12`."""
    return int(status.rsplit(" ", 1)[-1])
