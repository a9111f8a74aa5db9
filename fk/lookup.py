"""Finding the case an FK message belongs to, from the event record.

FK addresses care by certificate id, not by case: the certificate's id is recorded in the
`CertificateRecorded` event (and in `CaseOpened` when a case opens with its first
certificate), so the case is the stream that recorded it. A certificate id belongs to one case
(the API refuses a second case recording it: `case_holding_certificate`), and an inbound
message is matched by the certificate id *and* the patient's identity number together, so a
message can never reach another patient's case (or another unit) through a reused id.

Cost: without an index this scans the certificate events. For production add (in store/):
    CREATE INDEX events_certificate_id ON events ((data->'certificate'->>'certificate_id'))
        WHERE type IN ('CertificateRecorded', 'CaseOpened');
"""

from __future__ import annotations

from typing import Any

import asyncpg

CASE_BY_CERTIFICATE = """
SELECT c.stream_id FROM events c
JOIN events o ON o.stream_id = c.stream_id AND o.type = 'CaseOpened'
WHERE c.type IN ('CertificateRecorded', 'CaseOpened')
  AND c.data->'certificate'->>'certificate_id' = $1
  AND o.data->>'patient_id' = $2
ORDER BY c.position DESC
LIMIT 1
"""

CASES_HOLDING_CERTIFICATE = """
SELECT DISTINCT stream_id FROM events
WHERE type IN ('CertificateRecorded', 'CaseOpened')
  AND data->'certificate'->>'certificate_id' = $1
"""

MESSAGE_RECORDED = """
SELECT 1 FROM events
WHERE stream_id = $1 AND type = 'FkMessageReceived' AND data->'message'->>'message_id' = $2
LIMIT 1
"""

CASE_UNIT = """
SELECT data->>'unit_id' FROM events WHERE stream_id = $1 AND type = 'CaseOpened' LIMIT 1
"""


async def case_for_certificate(pool: asyncpg.Pool[Any], certificate_id: str,
                               patient_id: str) -> str | None:
    """The id of the patient's case that recorded the certificate, or None."""
    value = await pool.fetchval(CASE_BY_CERTIFICATE, certificate_id, patient_id)
    return str(value) if value is not None else None


async def case_holding_certificate(pool: asyncpg.Pool[Any], certificate_id: str,
                                   except_case: str) -> str | None:
    """Another case that already recorded this certificate id, or None."""
    for row in await pool.fetch(CASES_HOLDING_CERTIFICATE, certificate_id):
        if row["stream_id"] != except_case:
            return str(row["stream_id"])
    return None


async def message_received(pool: asyncpg.Pool[Any], case_id: str, message_id: str) -> bool:
    """The case already holds this inbound message (a repeat is acknowledged, not re-sent)."""
    return await pool.fetchval(MESSAGE_RECORDED, case_id, message_id) is not None


async def case_unit(pool: asyncpg.Pool[Any], case_id: str) -> str | None:
    """The care unit of a case (None: no such case)."""
    value = await pool.fetchval(CASE_UNIT, case_id)
    return str(value) if value is not None else None
