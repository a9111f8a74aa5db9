"""Rehabiliteringskedjan across sick periods (DOMAIN.md, revised; 27 kap. SFB).

FK counts a patient's sick periods that lie less than 90 days apart together for the
rehabilitation chain: the chain days of a new sick period continue from the linked earlier one.
The chain milestones (90, 180, 365) follow the chain day; the sick-pay milestones (8, 14, 30,
60) follow the sick period's own day.

Rules chosen where DOMAIN.md is silent:
- "Days apart" are the calendar days between the earlier period's last covered day and the new
  day 1, both left out: a period ending 1 March and one starting 30 May lie 89 days apart
  (linked), one starting 31 May 90 days apart (not linked).
- A period's chain days are its calendar days from day 1 through its last covered day (the
  milestones' own count), plus the chain days it itself continued. A new case links to the
  latest earlier period only; that one carries whatever it linked to.
- A case closed as opened in error, or without a counting certificate, is no sick period.
- The cases are found through the index of cases by patient (the normalised identity number),
  across the region's units: FK counts the chain whichever unit wrote the certificate. Only
  the earlier case's id, last day and chain days are carried, never its content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from .bounds import SHORT_MAX

#: Sick periods fewer than this many days apart belong to one rehabilitation chain.
CHAIN_LINK_DAYS = 90

#: More chain days than anyone can have (a century): keeps day arithmetic in the calendar.
MAX_CHAIN_DAYS = 36_500


class ChainLink(BaseModel):
    """Which earlier sick period this one continues, and how many chain days lie before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    earlier_case_id: str = Field(min_length=1, max_length=SHORT_MAX)
    earlier_sick_period_end: date
    chain_days_before: int = Field(ge=1, le=MAX_CHAIN_DAYS)


@dataclass(frozen=True)
class SickPeriod:
    """What the chain needs of an earlier case."""

    case_id: str
    start: date
    end: date
    chain_days_before: int = 0

    @property
    def chain_days(self) -> int:
        return self.chain_days_before + (self.end - self.start).days + 1


def days_apart(earlier_end: date, start: date) -> int:
    """Calendar days between an earlier period's last day and a new day 1, both left out."""
    return (start - earlier_end).days - 1


def link(start: date, earlier: Iterable[SickPeriod]) -> ChainLink | None:
    """The link of a sick period starting on `start`: to the latest earlier period that ended
    before it, when fewer than 90 days lie between; else None (the chain starts at day 1)."""
    before = [p for p in earlier if p.end < start]
    if not before:
        return None
    last = max(before, key=lambda p: (p.end, p.case_id))
    if days_apart(last.end, start) >= CHAIN_LINK_DAYS:
        return None
    return ChainLink(
        earlier_case_id=last.case_id,
        earlier_sick_period_end=last.end,
        chain_days_before=min(last.chain_days, MAX_CHAIN_DAYS),
    )
