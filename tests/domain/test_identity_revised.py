"""Identity numbers, revised rules (Skatteverket): `+` by calendar year, not in 12 digits, no
future birth dates, samordningsnummer with an unknown birth day (day 60)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.identity import birth_date, is_coordination_number, luhn_digit, normalise
from tests.domain.support import make_pnr

TODAY = date(2026, 12, 1)


def ten(pnr: str, sep: str) -> str:
    return f"{pnr[2:8]}{sep}{pnr[8:]}"


def test_plus_is_written_from_the_calendar_year_the_person_turns_100() -> None:
    pnr = make_pnr(date(1926, 12, 15), 123)  # turns 100 on 15 December 2026, after TODAY
    assert normalise(ten(pnr, "+"), TODAY) == pnr
    with pytest.raises(ValueError):
        normalise(ten(pnr, "-"), TODAY)  # with "-" it cannot be this person, nor one born 2026-12-15
    younger = make_pnr(date(1927, 1, 2), 123)  # turns 100 next year: "-" still
    assert normalise(ten(younger, "-"), TODAY) == younger


def test_plus_in_a_12_digit_number_is_refused() -> None:
    pnr = make_pnr(date(1920, 5, 5), 123)
    with pytest.raises(ValueError, match="10-digit form"):
        normalise(f"{pnr[:8]}+{pnr[8:]}", TODAY)


def test_a_birth_date_in_the_future_is_refused() -> None:
    pnr = make_pnr(date(2027, 1, 2), 123)
    with pytest.raises(ValueError, match="in the future"):
        normalise(pnr, TODAY)
    assert normalise(pnr, date(2027, 1, 2)) == pnr


def test_samordningsnummer_with_unknown_birth_day_is_accepted() -> None:
    nine = "850360" + "123"  # March 1985, day unknown (00 + 60)
    pnr = f"19{nine}{luhn_digit(nine)}"
    assert normalise(pnr, TODAY) == pnr
    assert normalise(f"{nine[:6]}-{nine[6:]}{luhn_digit(nine)}", TODAY) == pnr
    assert is_coordination_number(pnr)
    assert birth_date(pnr) == date(1985, 3, 1)
