"""KVÅ counts (DV077, AW026, GC001) for a period, per code, by sex and unit (GET /measures/kva).

SQL over kva_registrations (migration 0140), one row per registration written by the measures
projection (store.projections.CaseMeasureFactsProjection), dated by the day the measure was
performed (as `domain.measures.kva_registrations`), with the case's unit and the patient's
sex; cases closed as opened in error are left out. The result equals
`domain.measures.kva_counts` over the event record (tests/store/test_measures.py). A
registration recorded late counts in the period it was performed in, so a past period's
counts may still grow (unlike the follow-up measures).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from domain.measures import KvaCounts, KvaRow, count_kva
from store.queries import InvalidQuery

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

_KVA_SQL = """
SELECT code, performed_on, coalesce(unit_id, '') AS unit_id, sex, count(*) AS n
FROM kva_registrations
WHERE counted AND performed_on BETWEEN $1 AND $2 AND ($3::text IS NULL OR unit_id = $3)
GROUP BY code, performed_on, unit_id, sex
"""


async def period_kva_counts(
    pool: asyncpg.Pool | Conn, period_from: date, period_to: date, unit_id: str | None = None
) -> KvaCounts:
    """KVÅ registrations performed between two dates (inclusive). Only as current as the
    measures projection."""
    if period_to < period_from:
        raise InvalidQuery("to", "the period ends before it starts")
    rows = await pool.fetch(_KVA_SQL, period_from, period_to, unit_id)
    registrations = [
        KvaRow(r["code"], r["performed_on"], r["unit_id"], r["sex"], r["n"]) for r in rows
    ]
    return count_kva(registrations, period_from, period_to, unit_id)
