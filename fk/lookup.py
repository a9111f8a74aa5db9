"""Finding the case an FK message belongs to.

FK addresses care by certificate id, not by case: the certificate's id is recorded in the
`CertificateRecorded` event, so the case is the stream that recorded it. A certificate id
belongs to one case (the API refuses a second case recording it: `case_holding_certificate`),
and an inbound message is matched by the certificate id *and* the patient's identity number
together, so a message can never reach another patient's case (or another unit) through a
reused id.

The SQL is in store/certificates.py: an indexed table (`certificate_cases`, migration 0120)
that a trigger keeps in the append's transaction, so a lookup never scans the events.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from store import certificates


async def case_for_certificate(pool: asyncpg.Pool[Any], certificate_id: str,
                               patient_id: str) -> str | None:
    """The id of the patient's case that recorded the certificate, or None. Both keys are
    required: a certificate id alone never routes a message."""
    if not certificate_id or not patient_id:
        return None
    return await certificates.case_with_certificate(pool, certificate_id, patient_id)


async def case_holding_certificate(pool: asyncpg.Pool[Any], certificate_id: str,
                                   except_case: str) -> str | None:
    """Another case that already recorded this certificate id, or None."""
    return await certificates.other_case_with_certificate(pool, certificate_id, except_case)


async def message_received(pool: asyncpg.Pool[Any], case_id: str, message_id: str) -> bool:
    """The case already holds this inbound message (a repeat is acknowledged, not re-sent)."""
    return await certificates.message_recorded(pool, case_id, message_id)


async def case_unit(pool: asyncpg.Pool[Any], case_id: str) -> str | None:
    """The care unit of a case (None: no such case)."""
    return await certificates.case_unit(pool, case_id)
