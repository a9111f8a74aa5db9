"""Opening cases and reading what happened, for the FK tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from domain.commands import GiveConsent, WithdrawConsent
from tests.fk.conftest import FkStack, eventually
from tests.workflows.support import PATIENT, certificate, do, open_new_case, records, today

__all__ = [
    "OTHER_PNR",
    "PNR",
    "case_with_certificate",
    "consent_to_fk",
    "do",
    "eventually",
    "notifications",
    "records",
    "today",
    "withdraw_fk_consent",
]

PNR = "191212121212"
OTHER_PNR = "198005051237"  # valid, someone else


async def case_with_certificate(
    stack: FkStack, last_day: int = 30, consent: bool = True, **extra: Any
) -> tuple[str, str, date]:
    """A case opened today with a certificate for days 1..last_day (a unique id)."""
    start = await today(stack)  # type: ignore[arg-type]
    cid = f"intyg-{uuid.uuid4().hex[:10]}"
    case_id, _ = await open_new_case(
        stack,
        start,
        certificate(start, 1, last_day, cid=cid),  # type: ignore[arg-type]
        **extra,
    )
    if consent:
        await consent_to_fk(stack, case_id)
    return case_id, cid, start


async def consent_to_fk(stack: FkStack, case_id: str) -> None:
    await do(
        stack,
        case_id,
        GiveConsent(
            actor=PATIENT,
            recipient="fk",  # type: ignore[arg-type]
            purpose="share_information",
        ),
    )


async def withdraw_fk_consent(stack: FkStack, case_id: str) -> None:
    await do(
        stack,
        case_id,
        WithdrawConsent(
            actor=PATIENT,
            recipient="fk",  # type: ignore[arg-type]
            purpose="share_information",
        ),
    )


async def notifications(stack: FkStack, case_id: str, kind: str) -> dict[str, list[dict[str, Any]]]:
    """Requested / sent / suppressed / failed records for notifications of one kind."""
    requested = [
        r
        for r in await records(stack, case_id, "NotificationRequested")  # type: ignore[arg-type]
        if r["kind"] == kind
    ]
    ids = {r["notification_id"] for r in requested}
    out: dict[str, list[dict[str, Any]]] = {"requested": requested}
    for outcome in ("Sent", "Suppressed", "Failed"):
        out[outcome.lower()] = [
            r
            for r in await records(stack, case_id, f"Notification{outcome}")  # type: ignore[arg-type]
            if r.get("notification_id") in ids or r.get("kind") == kind
        ]
    return out
