"""Consent (samtycke): who may be told what, and when.

Nothing about the patient leaves the care provider for an external actor unless a valid
consent for that recipient and purpose exists at that instant. The patient and care-internal
roles (physician, coordinator) need none. A consent is valid from the instant it is given
through the end of its `valid_until` date (Stockholm), at most 365 days after the day it was
given (Rehabstöd's cap; a later or missing end date is capped), until it is withdrawn, which
takes effect at once. Revised rules: the patient's consent to coordination measures is
recorded with the coordinator as recipient (`COORDINATION_CONSENT`), and a consent is reminded
14 days before it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel

from .calendar import local_date, start_of

Recipient = Literal[
    "patient",
    "physician",
    "coordinator",
    "employer",
    "fk",
    "af",
    "social_services",
    "occupational_health",
    "multimodal_team",
]
Purpose = Literal["share_information", "contact", "coordination"]

#: Recipients told without consent: the patient and care-internal roles.
CARE_INTERNAL: frozenset[str] = frozenset({"patient", "physician", "coordinator"})
MAX_CONSENT_DAYS = 365
#: Consents about to lapse are reminded this many days before their end (revised rules).
REMIND_DAYS_BEFORE_END = 14


def needs_consent(recipient: Recipient) -> bool:
    """Everyone outside the patient and the care team needs the patient's consent."""
    return recipient not in CARE_INTERNAL


def capped_valid_until(given_at: datetime, valid_until: date | None) -> date:
    """The end date actually recorded: the requested one, at most 365 days after the day given."""
    cap = local_date(given_at) + timedelta(days=MAX_CONSENT_DAYS)
    return cap if valid_until is None else min(valid_until, cap)


class ConsentRecord(BaseModel):
    """One consent as given, and its withdrawal if any."""

    recipient: Recipient
    purpose: Purpose
    given_at: AwareDatetime
    given_by: str
    valid_until: date
    withdrawn_at: AwareDatetime | None = None
    withdrawn_by: str | None = None
    superseded_at: AwareDatetime | None = None  # a later consent for the same recipient and purpose
    reminded: bool = False  # care was reminded that it lapses soon

    @property
    def remind_at(self) -> datetime | None:
        """14 days before it ends, if it still runs then (withdrawn or superseded: never);
        a consent given for less than that is not reminded."""
        at = self.expires_at - timedelta(days=REMIND_DAYS_BEFORE_END)
        if self.reminded or self.ends_at != self.expires_at or at <= self.given_at:
            return None
        return at

    @property
    def expires_at(self) -> datetime:
        """The end of the `valid_until` date in Stockholm."""
        return start_of(self.valid_until + timedelta(days=1))

    @property
    def ends_at(self) -> datetime:
        """The first instant it no longer holds: expiry, withdrawal or a newer consent."""
        return min(e for e in (self.expires_at, self.withdrawn_at, self.superseded_at) if e)

    def valid_at(self, at: datetime) -> bool:
        return self.given_at <= at < self.ends_at


#: The patient's consent to coordination measures (2019:1297): recorded like any other consent,
#: with the coordinator as recipient (revised rules).
COORDINATION_CONSENT: tuple[Recipient, Purpose] = ("coordinator", "coordination")


def may_be_recorded(recipient: Recipient, purpose: Purpose, coordination_consent: bool) -> bool:
    """A consent worth recording: to an external actor, or the patient's to coordination."""
    return needs_consent(recipient) or (
        coordination_consent and (recipient, purpose) == COORDINATION_CONSENT
    )


def consent_refusal(
    consents: Iterable[ConsentRecord], recipient: Recipient, purpose: Purpose, at: datetime
) -> str | None:
    """None if consent allows telling `recipient` for `purpose` at `at`, else why not."""
    if not needs_consent(recipient):
        return None
    return held_refusal(consents, recipient, purpose, at)


def held_refusal(
    consents: Iterable[ConsentRecord], recipient: Recipient, purpose: Purpose, at: datetime
) -> str | None:
    """None if a consent for `recipient` and `purpose` holds at `at`, else why not."""
    relevant = [c for c in consents if c.recipient == recipient and c.purpose == purpose]
    if any(c.valid_at(at) for c in relevant):
        return None
    what = "coordination" if (recipient, purpose) == COORDINATION_CONSENT else f"{recipient} ({purpose})"
    latest = max(relevant, key=lambda c: c.given_at, default=None)
    if latest is None or latest.given_at > at:
        return f"the patient has not consented to {what}"
    if latest.withdrawn_at is not None and latest.withdrawn_at <= at:
        return f"the patient withdrew consent to {what} at {latest.withdrawn_at.isoformat()}"
    return f"the patient's consent to {what} ended on {latest.valid_until.isoformat()}"
