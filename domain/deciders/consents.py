"""Consent: given, withdrawn, reminded before it lapses.

Each subdomain has `decide(command, state, out)` for its commands and `evolve(state, event)`
for its events (in place); `domain/decider.py` combines them.
"""

from __future__ import annotations

from typing import assert_never

from ..calendar import (
    local_date,
)
from ..commands import (
    GiveConsent,
    ReachConsentReminder,
    WithdrawConsent,
)
from ..consent import (
    ConsentRecord,
    capped_valid_until,
    may_be_recorded,
)
from ..emitter import Emitter
from ..errors import DomainError
from ..events import (
    ConsentGiven,
    ConsentLapsingSoon,
    ConsentWithdrawn,
)
from ..state import (
    CaseState,
)

ConsentsCommand = GiveConsent | WithdrawConsent | ReachConsentReminder
ConsentsEvent = ConsentGiven | ConsentWithdrawn | ConsentLapsingSoon


def decide(c: ConsentsCommand, state: CaseState, out: Emitter) -> None:
    match c:
        case GiveConsent():
            _give_consent(c, state, out)
        case WithdrawConsent():
            _withdraw_consent(c, state, out)
        case ReachConsentReminder():
            _consent_reminder(c, state, out)
        case _:
            assert_never(c)


def _give_consent(c: GiveConsent, state: CaseState, out: Emitter) -> None:
    if not may_be_recorded(c.recipient, c.purpose, out.rules.coordination_consent):
        raise DomainError(
            "recipient", "consent_not_needed", f"the {c.recipient} is informed without consent"
        )
    if c.valid_until is not None and c.valid_until < local_date(out.now):
        raise DomainError(
            "valid_until",
            "valid_until_in_past",
            f"a consent cannot end in the past ({c.valid_until})",
        )
    valid_until = capped_valid_until(out.now, c.valid_until)
    if any(
        r.recipient == c.recipient
        and r.purpose == c.purpose
        and r.valid_until == valid_until
        and r.valid_at(out.now)
        for r in state.consents
    ):
        return
    out.add(
        ConsentGiven(
            **out.envelope(), recipient=c.recipient, purpose=c.purpose, valid_until=valid_until
        )
    )


def _withdraw_consent(c: WithdrawConsent, state: CaseState, out: Emitter) -> None:
    if any(
        r.recipient == c.recipient and r.purpose == c.purpose and r.valid_at(out.now)
        for r in state.consents
    ):
        out.add(ConsentWithdrawn(**out.envelope(), recipient=c.recipient, purpose=c.purpose))


def _consent_reminder(c: ReachConsentReminder, state: CaseState, out: Emitter) -> None:
    consent = next(
        (
            r
            for r in state.consents
            if (r.recipient, r.purpose) == (c.recipient, c.purpose) and r.remind_at is not None
        ),
        None,
    )
    if consent is None or consent.remind_at is None or out.now < consent.remind_at:
        return
    out.add(
        ConsentLapsingSoon(
            **out.envelope(),
            recipient=c.recipient,
            purpose=c.purpose,
            valid_until=consent.valid_until,
        )
    )
    out.notify(
        "coordinator",
        "share_information",
        "consent_lapsing",
        consent_recipient=c.recipient,
        consent_purpose=c.purpose,
        valid_until=consent.valid_until.isoformat(),
    )


def evolve(s: CaseState, e: ConsentsEvent) -> None:
    at = e.occurred_at
    match e:
        case ConsentGiven():
            for r in s.consents:
                if (r.recipient, r.purpose) == (e.recipient, e.purpose) and r.superseded_at is None:
                    r.superseded_at = at
            s.consents.append(
                ConsentRecord(
                    recipient=e.recipient,
                    purpose=e.purpose,
                    given_at=at,
                    given_by=e.recorded_by,
                    valid_until=e.valid_until,
                )
            )
        case ConsentLapsingSoon():
            for r in s.consents:
                if (r.recipient, r.purpose, r.valid_until) == (e.recipient, e.purpose, e.valid_until):
                    r.reminded = True
        case ConsentWithdrawn():
            for r in s.consents:
                if (r.recipient, r.purpose) == (e.recipient, e.purpose) and r.valid_at(at):
                    r.withdrawn_at, r.withdrawn_by = at, e.recorded_by
        case _:
            assert_never(e)
