"""The certificate -> case table (migration 0120) and the other look-ups FK routing needs.

`certificate_cases` holds one row per (certificate id, case) with the patient's identity number
and the position of the newest recording; a trigger on `events` keeps it in the transaction of
every append (see the migration), so a lookup is an index scan on its primary key
(tests/store/test_certificate_cases.py shows the plan at a realistic size).
"""

from __future__ import annotations

from typing import Any

import asyncpg

CASE_BY_CERTIFICATE = """
SELECT case_id FROM certificate_cases
WHERE certificate_id = $1 AND patient_id = $2
ORDER BY position DESC
LIMIT 1
"""

CASES_HOLDING_CERTIFICATE = """
SELECT case_id FROM certificate_cases WHERE certificate_id = $1 AND case_id <> $2
ORDER BY position DESC
LIMIT 1
"""

MESSAGE_RECORDED = """
SELECT 1 FROM events
WHERE stream_id = $1 AND type = 'FkMessageReceived' AND data->'message'->>'message_id' = $2
LIMIT 1
"""

CASE_UNIT = """
SELECT data->>'unit_id' FROM events WHERE stream_id = $1 AND type = 'CaseOpened' LIMIT 1
"""


async def case_with_certificate(pool: asyncpg.Pool[Any], certificate_id: str,
                                patient_id: str) -> str | None:
    """The newest of the patient's cases that recorded the certificate, or None."""
    value = await pool.fetchval(CASE_BY_CERTIFICATE, certificate_id, patient_id)
    return str(value) if value is not None else None


async def other_case_with_certificate(pool: asyncpg.Pool[Any], certificate_id: str,
                                      except_case: str) -> str | None:
    """A case other than `except_case` that recorded the certificate (any patient), or None."""
    value = await pool.fetchval(CASES_HOLDING_CERTIFICATE, certificate_id, except_case)
    return str(value) if value is not None else None


async def message_recorded(pool: asyncpg.Pool[Any], case_id: str, message_id: str) -> bool:
    """The case's record holds an inbound FK message with this id."""
    return await pool.fetchval(MESSAGE_RECORDED, case_id, message_id) is not None


async def case_unit(pool: asyncpg.Pool[Any], case_id: str) -> str | None:
    """The care unit of a case (None: no such case)."""
    value = await pool.fetchval(CASE_UNIT, case_id)
    return str(value) if value is not None else None
