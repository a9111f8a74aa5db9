"""PDL access log: who read which case, when, in what role and why.

Repeated reads of the same case by the same person, of the same kind (`action`: summary,
events, list, access_log...) and for the same purpose within `DEDUP_WINDOW` are one entry (a
person paging through a case is one access; a history read after a summary is another).

Tamper-evident (migration 0090): each entry carries its place in one chain (`seq`) and a hash
over the previous entry's hash and its own fields; `verify_chain` finds the first entry that was
altered or removed. The application's database role may only add entries (migration 0091).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

DEDUP_WINDOW = "5 minutes"
# A purpose a person can read back later: printable, 1-200 characters, not only spaces.
PURPOSE = re.compile(r"^(?=.*\S)[^\x00-\x1f\x7f]{1,200}$")


class InvalidPurpose(ValueError):
    pass


def checked_purpose(purpose: str) -> str:
    """The purpose as stored (trimmed), or InvalidPurpose naming the rule."""
    purpose = purpose.strip()
    if not PURPOSE.match(purpose):
        raise InvalidPurpose("the purpose of a read is required: 1-200 printable characters")
    return purpose


async def record_accesses(
    pool: asyncpg.Pool,
    *,
    actor_id: str,
    role: str,
    units: list[str],
    case_ids: Sequence[str],
    action: str,
    purpose: str,
) -> int:
    """Record one read of each case in one statement; returns how many entries were new (the
    rest fell inside the de-duplication window)."""
    purpose = checked_purpose(purpose)
    if not case_ids:
        return 0
    # A transaction-scoped advisory lock per reader makes the check-then-insert atomic.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pdl/' || $1))", actor_id)
        rows = await conn.fetch(
            f"""
            INSERT INTO access_log (actor_id, role, units, case_id, action, purpose)
            SELECT $1, $2, $3, c.case_id, $5, $6
            FROM (SELECT DISTINCT unnest($4::text[]) AS case_id) c
            WHERE NOT EXISTS (
                SELECT 1 FROM access_log a
                WHERE a.actor_id = $1 AND a.case_id = c.case_id AND a.action = $5
                  AND a.purpose = $6 AND a.at > now() - interval '{DEDUP_WINDOW}')
            ORDER BY c.case_id
            RETURNING id
            """,
            actor_id, role, units, list(case_ids), action, purpose,
        )
    return len(rows)


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
    return await record_accesses(pool, actor_id=actor_id, role=role, units=units,
                                 case_ids=[case_id], action=action, purpose=purpose) == 1


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


async def accesses_for_cases(pool: asyncpg.Pool, case_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every read of any of these cases (a patient's cases), in time order."""
    rows = await pool.fetch(
        """
        SELECT at, case_id, actor_id, role, units, action, purpose FROM access_log
        WHERE case_id = ANY($1::text[]) ORDER BY at, id
        """,
        list(case_ids),
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class ChainBreak:
    seq: int  # the place in the chain where it breaks
    id: int | None  # the entry found there (None: entries at the end were removed)
    problem: str  # "altered" | "removed"

    def describe(self) -> str:
        if self.problem == "removed":
            return f"entry {self.seq} of the chain was removed (or the chain reordered)"
        return f"entry {self.seq} (id {self.id}) was altered: its hash does not match its fields"


async def verify_chain(pool: asyncpg.Pool, head: bytes | None = None) -> tuple[int, ChainBreak | None]:
    """Walk the chain in order: (entries checked, the first break or None). `head`, a hash
    recorded earlier outside the database, also catches entries removed from the end. An entry
    purged by retention left its seq and hashes in `access_log_purged` (0100): the walk goes
    through it, but cannot recompute it (its fields are gone)."""
    checked = 0
    previous: bytes | None = None
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        cursor = conn.cursor(
            """
            SELECT id, seq, prev_hash, hash,
                   access_log_entry_hash(prev_hash, seq, at, actor_id, role, units, case_id,
                                         action, purpose) AS recomputed
            FROM access_log
            UNION ALL
            SELECT NULL, seq, prev_hash, hash, hash FROM access_log_purged
            ORDER BY seq
            """,
            prefetch=5000,
        )
        previous_id: int | None = None
        async for row in cursor:
            expected_seq = checked + 1
            if row["seq"] != expected_seq:
                return checked, ChainBreak(expected_seq, None, "removed")
            if row["prev_hash"] != previous:  # the one before was rewritten, hash and all
                return checked - 1, ChainBreak(expected_seq - 1, previous_id, "altered")
            if row["hash"] != row["recomputed"]:
                return checked, ChainBreak(expected_seq, row["id"], "altered")
            previous, previous_id = row["hash"], row["id"]
            checked += 1
    if head is not None and head != previous:
        return checked, ChainBreak(checked + 1, None, "removed")
    return checked, None


async def chain_head(pool: asyncpg.Pool) -> bytes | None:
    """The hash of the newest entry (None: the log is empty): kept outside the database, it
    lets `verify_chain` catch entries removed at the end."""
    head: bytes | None = await pool.fetchval(
        "SELECT hash FROM access_log ORDER BY seq DESC LIMIT 1")
    return head
