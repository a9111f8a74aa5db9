"""The queries behind infra/metrics.py: what a worker needs to label an event it has not
seen the earlier events of (after a restart), and the database-derived gauges of /metrics.

Each is one statement on an index (events by stream and version, events by event id,
checkpoints), except the projection lag, whose count is capped (see `projection_lag`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

#: The events that set a case's sick-period start.
START_EVENTS = ("CaseOpened", "SickPeriodStartCorrected")

_LATEST_START = """
SELECT data->>'sick_period_start', data->>'occurred_at' FROM events
WHERE stream_id = $1 AND type = ANY($2::text[]) AND version < $3
ORDER BY version DESC LIMIT 1
"""

CHAIN_EVENTS = ("RehabChainLinked", "RehabChainUnlinked")

_LATEST_CHAIN = """
SELECT coalesce((data->>'chain_days_before')::int, 0), data->>'occurred_at' FROM events
WHERE stream_id = $1 AND type = ANY($2::text[]) AND version < $3
ORDER BY version DESC LIMIT 1
"""

_RECIPIENTS = "SELECT event_id, data->>'recipient' FROM events WHERE event_id = ANY($1::text[])"

_CASES_BY_PHASE = "SELECT phase, count(*) FROM case_summary GROUP BY phase"

# Every known projection (a projection that never ran has checkpoint 0) and any other
# checkpoint row. Counting is capped so that a projection far behind costs a bounded scan.
_LAG = """
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20 AS horizon),
     p AS (SELECT n.name, coalesce(c.position, 0) AS position
           FROM (SELECT unnest($1::text[]) UNION SELECT name FROM checkpoints) n(name)
           LEFT JOIN checkpoints c USING (name))
SELECT p.name,
       (SELECT count(*) FROM (SELECT 1 FROM events e, h
                              WHERE e.position > p.position AND e.position < h.horizon
                              LIMIT 1000000) behind),
       (SELECT extract(epoch FROM now() - e.recorded_at) FROM events e, h
        WHERE e.position > p.position AND e.position < h.horizon
        ORDER BY e.position LIMIT 1)
FROM p
"""


async def latest_sick_period_start(
    pool: asyncpg.Pool | Conn, case_id: str, before_version: int
) -> tuple[date, datetime] | None:
    """The case's sick-period start as recorded before `before_version`, and when that start
    was recorded (None: no start before it)."""
    row = await pool.fetchrow(_LATEST_START, case_id, list(START_EVENTS), before_version)
    if row is None:
        return None
    return date.fromisoformat(row[0]), datetime.fromisoformat(row[1])


async def latest_chain_link(
    pool: asyncpg.Pool | Conn, case_id: str, before_version: int
) -> tuple[int, datetime | None]:
    """The rehabilitation-chain days the case carried over from an earlier period as recorded
    before `before_version` (0: none), and when that link was recorded (None: never linked)."""
    row = await pool.fetchrow(_LATEST_CHAIN, case_id, list(CHAIN_EVENTS), before_version)
    if row is None:
        return 0, None
    return int(row[0]), datetime.fromisoformat(row[1])


async def notification_recipients(
    pool: asyncpg.Pool | Conn, notification_ids: Sequence[str]
) -> dict[str, str]:
    """notification id -> recipient, from the NotificationRequested events of those ids (the
    notification id is that event's id); ids with no such event are left out."""
    rows = await pool.fetch(_RECIPIENTS, list(notification_ids))
    return {event_id: recipient for event_id, recipient in rows}


async def cases_by_phase(pool: asyncpg.Pool | Conn) -> dict[str, int]:
    """How many cases the case_summary projection holds in each phase (phases with none are
    left out)."""
    return {phase: count for phase, count in await pool.fetch(_CASES_BY_PHASE)}


async def projection_lag(
    pool: asyncpg.Pool | Conn, projections: Sequence[str]
) -> list[tuple[str, int, float]]:
    """(name, events behind, seconds behind) of the named projections and of every other
    checkpoint: the events recorded after its checkpoint (counted up to 1,000,000) and the age
    of the oldest of them (0.0 when caught up). Only events below the in-flight horizon count,
    as for the projections themselves (store.eventstore.read_all)."""
    rows = await pool.fetch(_LAG, list(projections))
    return [(name, int(behind), float(age or 0.0)) for name, behind, age in rows]
