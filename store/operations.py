"""Queries of the operator commands (sjukfall/cli.py, sjukfall/reconcile.py): how many cases
the record holds, how far a projection rebuild has come, and each case's place in the record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

#: Projection -> its table with one row per case, counted to show a rebuild's progress.
REBUILD_PROGRESS_TABLES = {"case_summary": "case_state", "case_measure_facts": "case_measure_state"}


async def cases_in_record(conn: asyncpg.Pool | Conn) -> int:
    return int(await conn.fetchval("SELECT count(DISTINCT stream_id) FROM events"))


async def cases_rebuilt(conn: asyncpg.Pool | Conn, projection: str) -> int:
    """The cases a projection holds now (its rows commit batch by batch during a rebuild)."""
    table = REBUILD_PROGRESS_TABLES[projection]  # a name from the table above, never input
    return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def case_record_heads(pool: asyncpg.Pool | Conn) -> dict[str, tuple[int, bool]]:
    """case id -> (its last version, whether the record shows it closed), for every case."""
    rows = await pool.fetch(
        "SELECT stream_id, max(version) AS version, bool_or(type = 'CaseClosed') AS closed "
        "FROM events GROUP BY stream_id")
    return {r["stream_id"]: (int(r["version"]), bool(r["closed"])) for r in rows}
