"""A patient's cases, by identity number (the 12-digit normalised form), from the event record:
the case is the stream whose CaseOpened names the patient (index: migration 0092)."""

from __future__ import annotations

from typing import Any

import asyncpg

CASES_OF_PATIENT = """
SELECT stream_id FROM events
WHERE type = 'CaseOpened' AND data->>'patient_id' = $1
ORDER BY position
"""


async def cases_of_patient(pool: asyncpg.Pool[Any], patient_id: str) -> list[str]:
    return [str(r["stream_id"]) for r in await pool.fetch(CASES_OF_PATIENT, patient_id)]
