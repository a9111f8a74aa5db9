"""A patient's cases, by identity number (the 12-digit normalised form), from the event record:
the case is the stream whose CaseOpened names the patient (index: migration 0092)."""

from __future__ import annotations

from typing import Any

import asyncpg

from domain.rehab_chain import SickPeriod
from store.queries import folded_case

CASES_OF_PATIENT = """
SELECT stream_id FROM events
WHERE type = 'CaseOpened' AND data->>'patient_id' = $1
ORDER BY position
"""


async def cases_of_patient(pool: asyncpg.Pool[Any], patient_id: str) -> list[str]:
    return [str(r["stream_id"]) for r in await pool.fetch(CASES_OF_PATIENT, patient_id)]


async def other_sick_periods(
    pool: asyncpg.Pool[Any], patient_id: str, case_id: str
) -> list[SickPeriod]:
    """The patient's sick periods in cases other than `case_id`, folded from their records (a
    patient has few cases; the record, unlike a projection, never lags)."""
    periods = []
    for other in await cases_of_patient(pool, patient_id):
        if other != case_id and (period := (await folded_case(pool, other)).as_sick_period()):
            periods.append(period)
    return periods
