"""What the case workflow and its activities pass each other (a leaf: domain and pydantic only).

These are the payloads Temporal records in every workflow history: renaming a field, or the
activities that take them (`append_events`, `deliver_notification`), breaks the replay of
running cases and of tests/histories. Add fields with defaults only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from domain import Event
from domain.events import NotificationRequested


class AppendEvents(BaseModel):
    """Input of `append_events`: decided events, written after `expected_version`."""

    case_id: str
    expected_version: int
    events: list[Event]
    metadata: dict[str, str] = {}


class Delivery(BaseModel):
    """Input of `deliver_notification`: one requested notification of a case."""

    case_id: str
    notification: NotificationRequested


class DeliveryOutcome(BaseModel):
    """Output of `deliver_notification`: `sent` (with the receiver's receipt) or `suppressed`
    (with the reason). A delivery that failed for good raises instead."""

    outcome: Literal["sent", "suppressed"]
    reason: str | None = None
    receipt: str | None = None
