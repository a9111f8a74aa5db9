"""Stamps the envelope on the events one decision produces, and decides each notification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .consent import Purpose, Recipient, consent_refusal, needs_consent
from .events import Event, NotificationRequested, NotificationSuppressed, event_id_for
from .rules import CURRENT, Rules
from .state import CaseState
from .vocabulary import NotificationKind


class Emitter:
    """Collects the events of one decision: version = state.version + i + 1, ids from versions.

    Events record `occurred_at` in UTC whatever zone `now` came in, so the record is uniform.
    """

    def __init__(
        self, state: CaseState, now: datetime, recorded_by: str, rules: Rules = CURRENT
    ) -> None:
        self.state = state
        self.now = now.astimezone(UTC)
        self.recorded_by = recorded_by
        self.rules = rules
        self.events: list[Event] = []

    def envelope(self) -> dict[str, Any]:
        """Envelope fields for the next event."""
        version = self.state.version + len(self.events) + 1
        return {
            "event_id": event_id_for(self.state.case_id, version),
            "case_id": self.state.case_id,
            "version": version,
            "occurred_at": self.now,
            "recorded_by": self.recorded_by,
        }

    def add(self, event: Event) -> None:
        self.events.append(event)

    def refusal(self, recipient: Recipient, purpose: Purpose) -> str | None:
        """Why `recipient` may not be told for `purpose` now, or None."""
        reason = consent_refusal(self.state.consents, recipient, purpose, self.now)
        if reason is None and recipient == "employer" and not self.state.employer_name:
            reason = "no employer is recorded for the patient"
        return reason

    def notify(
        self, recipient: Recipient, purpose: Purpose, kind: NotificationKind, **parameters: str
    ) -> bool:
        """Request a notification, or record it suppressed with the reason; True if requested.

        The consent is checked at this instant; an employer notification also needs an
        employer on record.
        """
        reason = self.refusal(recipient, purpose)
        envelope = self.envelope()
        if reason is not None:
            self.add(
                NotificationSuppressed(
                    **envelope,
                    recipient=recipient,
                    purpose=purpose,
                    kind=kind,
                    reason=reason,
                    parameters=parameters,
                )
            )
            return False
        self.add(
            NotificationRequested(
                **envelope,
                notification_id=envelope["event_id"],
                recipient=recipient,
                purpose=purpose,
                kind=kind,
                needs_consent=needs_consent(recipient),
                parameters=parameters,
            )
        )
        return True
