"""PDL access log: who read which case, when, in what role and why.

Repeated reads of the same case by the same person for the same purpose within
`DEDUP_WINDOW` are one entry (a person paging through a case is one access).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

DEDUP_WINDOW = "5 minutes"


async def record_access(
    pool: asyncpg.Pool,
    *,
    actor_id: str,
    role: str,
    units: list[str],
    case_id: str,
    action: str,
    purpose: str,
) -> bool:
    """Record one read; returns False when it fell inside the dedup window."""
    # A transaction-scoped advisory lock on (actor, case) makes the check-then-insert atomic.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))", actor_id, case_id
        )
        inserted = await conn.fetchval(
            f"""
            INSERT INTO access_log (actor_id, role, units, case_id, action, purpose)
            SELECT $1, $2, $3, $4, $5, $6
            WHERE NOT EXISTS (
                SELECT 1 FROM access_log
                WHERE actor_id = $1 AND case_id = $4 AND purpose = $6
                  AND at > now() - interval '{DEDUP_WINDOW}')
            RETURNING id
            """,
            actor_id,
            role,
            units,
            case_id,
            action,
            purpose,
        )
    return inserted is not None


async def accesses_for_case(
    pool: asyncpg.Pool, case_id: str, since: datetime | None = None
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """
        SELECT at, actor_id, role, units, action, purpose FROM access_log
        WHERE case_id = $1 AND ($2::timestamptz IS NULL OR at >= $2)
        ORDER BY at, id
        """,
        case_id,
        since,
    )
    return [dict(r) for r in rows]
