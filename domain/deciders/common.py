"""Small checks and state edits the subdomains share."""

from __future__ import annotations

from datetime import date

from ..calendar import local_date
from ..consent import Purpose, Recipient, consent_refusal
from ..emitter import Emitter
from ..errors import DomainError
from ..state import CaseState


def not_after_today(value: date, field: str, out: Emitter) -> None:
    if value > local_date(out.now):
        raise DomainError(field, "date_in_future", f"{value} is in the future")


def require_consent(
    state: CaseState, recipient: Recipient, purpose: Purpose, out: Emitter, field: str
) -> None:
    reason = consent_refusal(state.consents, recipient, purpose, out.now)
    if reason is not None:
        raise DomainError(field, "consent_required", reason)


def flag(s: CaseState, name: str) -> None:
    if name not in s.flags:
        s.flags.append(name)


def unflag(s: CaseState, *names: str) -> None:
    s.flags = [f for f in s.flags if f not in names]
