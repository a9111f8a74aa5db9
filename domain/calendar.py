"""Days of a sick period, the merge rule, and the milestone schedule.

Day 1 is the first day of the sick period; day N is start + (N - 1) calendar days and
begins at 00:00 Europe/Stockholm. Milestones count calendar days from day 1; lengths for
statistics count the days covered by the union of certificate periods (Rehabstöd).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

#: Days from day 1 at which the case must act by itself (DOMAIN.md's milestone table).
MILESTONE_DAYS: tuple[int, ...] = (8, 14, 30, 60, 90, 180, 365)

#: The rehabilitation chain's milestones: they count the chain's days, which continue from a
#: linked earlier sick period (domain/rehab_chain.py); the others count the sick period's own.
CHAIN_MILESTONE_DAYS: tuple[int, ...] = (90, 180, 365)

#: Certificates at most this many days apart belong to one sick period (Rehabstöd default).
DEFAULT_GAP_DAYS = 5
MAX_GAP_DAYS = 90

#: A case that closed itself (sick_period_ended) reopens for a merging certificate recorded
#: within this many days after its closing instant (00:00 of E+g+2). A merging certificate
#: starts by E+g+1, and one issued more than 7 days after its start needs a motivation (FK7804),
#: so every ordinary backdated certificate arrives within the window. Later the case stays
#: closed (its workflow has ended).
REOPEN_WINDOW_DAYS = 7

#: Expected absence of at least this many days makes the employer's return-to-work plan due.
LONG_ABSENCE_DAYS = 60

DateRange = tuple[date, date]


def day_date(start: date, day: int) -> date:
    """The calendar date of day N (day 1 is `start`)."""
    return start + timedelta(days=day - 1)


def day_start(start: date, day: int) -> datetime:
    """The instant day N begins: 00:00 Europe/Stockholm on that date."""
    return start_of(day_date(start, day))


def start_of(on: date) -> datetime:
    """00:00 Europe/Stockholm on a date, as an aware instant."""
    return datetime.combine(on, time(0), tzinfo=STOCKHOLM)


def local_date(instant: datetime) -> date:
    """The Stockholm calendar date of an aware instant."""
    return instant.astimezone(STOCKHOLM).date()


def day_number(start: date, instant: datetime) -> int:
    """Which day of the sick period an instant falls on (1 on the start date, 0 the day before)."""
    return (local_date(instant) - start).days + 1


def check_gap_days(gap_days: int) -> int:
    """The merge gap is configurable between 0 and 90 days (Rehabstöd's range)."""
    if not 0 <= gap_days <= MAX_GAP_DAYS:
        raise ValueError(f"the merge gap must be between 0 and {MAX_GAP_DAYS} days, not {gap_days}")
    return gap_days


def gap_between(prev_end: date, next_start: date) -> int:
    """Days strictly between one period's end and the next's start (negative if they overlap)."""
    return (next_start - prev_end).days - 1


def same_sick_period(prev_end: date, next_start: date, gap_days: int = DEFAULT_GAP_DAYS) -> bool:
    """Återinsjuknande: a gap of at most `gap_days` days keeps one sick period."""
    return gap_between(prev_end, next_start) <= check_gap_days(gap_days)


def merge_ranges(ranges: Iterable[DateRange], gap_days: int = 0) -> list[DateRange]:
    """Merge ranges that overlap or lie at most `gap_days` apart, sorted by start.

    With ``gap_days=0`` this is the union of the days covered; with the merge gap it is the
    list of sick periods. The result does not depend on the order of the input.
    """
    check_gap_days(gap_days)
    merged: list[DateRange] = []
    for start, end in sorted(ranges):
        if merged and same_sick_period(merged[-1][1], start, gap_days):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def covered_days(ranges: Iterable[DateRange]) -> int:
    """Days covered by the union of the ranges (each day counted once)."""
    return sum((end - start).days + 1 for start, end in merge_ranges(ranges))


def subtract_working_days(on: date, days: int, public_holidays: bool = True) -> date:
    """The date `days` working days before `on`: Monday-Friday except Swedish public holidays
    and the eves treated as holidays (as released, `public_holidays=False`: Monday-Friday)."""
    current = on
    while days > 0:
        current -= timedelta(days=1)
        if is_working_day(current, public_holidays):
            days -= 1
    return current


def is_working_day(on: date, public_holidays: bool = True) -> bool:
    return on.weekday() < 5 and not (public_holidays and on in swedish_holidays(on.year))


@cache
def swedish_holidays(year: int) -> frozenset[date]:
    """Swedish public holidays (lag 1989:253) and the eves that are days off in practice
    (midsommarafton, julafton, nyårsafton): no working days for deadlines.

    Computed here rather than by the `holidays` package at run time: the workflow sandbox
    refuses the package's lazy imports. tests/domain/test_working_days.py checks the public
    holidays against the package for 2000-2100.
    """
    return public_holidays(year) | {
        _weekday_from(date(year, 6, 19), 4),  # midsommarafton: the Friday 19-25 June
        date(year, 12, 24),
        date(year, 12, 31),
    }


def public_holidays(year: int) -> frozenset[date]:
    """Sweden's public holidays (allmänna helgdagar) other than Sundays."""
    easter = _easter(year)
    # nationaldagen replaced annandag pingst as a holiday in 2005
    national = date(year, 6, 6) if year >= 2005 else easter + timedelta(days=50)
    return frozenset(
        {
            national,
            date(year, 1, 1),  # nyårsdagen
            date(year, 1, 6),  # trettondedag jul
            easter - timedelta(days=2),  # långfredagen
            easter,  # påskdagen
            easter + timedelta(days=1),  # annandag påsk
            date(year, 5, 1),  # första maj
            easter + timedelta(days=39),  # Kristi himmelsfärdsdag
            easter + timedelta(days=49),  # pingstdagen
            _weekday_from(date(year, 6, 20), 5),  # midsommardagen: the Saturday 20-26 June
            _weekday_from(date(year, 10, 31), 5),  # alla helgons dag: Saturday 31 Oct-6 Nov
            date(year, 12, 25),  # juldagen
            date(year, 12, 26),  # annandag jul
        }
    )


def _weekday_from(first: date, weekday: int) -> date:
    """The first date on or after `first` that falls on `weekday` (Monday 0)."""
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def _easter(year: int) -> date:
    """Easter Sunday (Gregorian; the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)
