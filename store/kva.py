"""KVÅ counts (DV077, AW026, GC001) for a period, per code, by sex and unit (GET /measures/kva).

Read from the event record: the registering events (index `events_kva`, migration 0140), each
dated by the day the measure was performed (as `domain.measures.kva_registrations`), with the
case's unit and the patient's sex from the case list (case_summary); cases closed as opened in
error are left out. The result equals `domain.measures.kva_counts` over the event record
(tests/store/test_measures.py). A registration recorded late counts in the period it was
performed in, so a past period's counts may still grow (unlike the follow-up measures).
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

# The date each registering event carries (PlanEstablished: the Stockholm day it occurred).
_KVA_SQL = """
SELECT k.code, k.performed_on, coalesce(s.unit_id, '') AS unit_id, s.sex, count(*) AS n
FROM (
    SELECT e.stream_id,
           CASE e.type WHEN 'PlanEstablished' THEN 'DV077' WHEN 'PlanFollowedUp' THEN 'AW026'
                ELSE 'GC001' END AS code,
           CASE e.type
                WHEN 'PlanEstablished'
                    THEN ((e.data->>'occurred_at')::timestamptz AT TIME ZONE 'Europe/Stockholm')::date
                WHEN 'PlanFollowedUp' THEN (e.data->>'followed_up_on')::date
                WHEN 'CoordinationPerformed' THEN (e.data->>'performed_on')::date
                WHEN 'JointIndividualPlanRecorded' THEN (e.data->>'agreed_on')::date
                ELSE (e.data->>'held_on')::date
           END AS performed_on
    FROM events e
    WHERE e.type IN ('PlanEstablished', 'PlanFollowedUp', 'CoordinationPerformed',
                     'MappingConversationHeld', 'MultimodalTeamMeetingHeld',
                     'ReconciliationMeetingHeld', 'JointIndividualPlanRecorded')
) k
JOIN case_summary s ON s.case_id = k.stream_id
WHERE k.performed_on BETWEEN $1 AND $2
  AND ($3::text IS NULL OR s.unit_id = $3)
  AND s.closed_reason IS DISTINCT FROM 'opened_in_error'
GROUP BY k.code, k.performed_on, s.unit_id, s.sex
"""


async def period_kva_counts(
    pool: asyncpg.Pool | Conn, period_from: date, period_to: date, unit_id: str | None = None
) -> KvaCounts:
    """KVÅ registrations performed between two dates (inclusive). Only as current as the
    case_summary projection (for a case's unit and sex)."""
    if period_to < period_from:
        raise InvalidQuery("to", "the period ends before it starts")
    rows = await pool.fetch(_KVA_SQL, period_from, period_to, unit_id)
    registrations = [
        KvaRow(r["code"], r["performed_on"], r["unit_id"], r["sex"], r["n"]) for r in rows
    ]
    return count_kva(registrations, period_from, period_to, unit_id)
