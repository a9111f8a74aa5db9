"""Boundaries the mutation run found untested (TESTING.md): the instant a consent is given or
withdrawn, birthdays, the samordningsnummer's day 60, the sex digit and the age bands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.consent import ConsentRecord, consent_refusal
from domain.identity import (
    age_band,
    age_on,
    birth_date,
    is_coordination_number,
    luhn_digit,
    normalise,
    sex_for_statistics,
)

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def record(**changes: object) -> ConsentRecord:
    data: dict[str, object] = {"recipient": "employer", "purpose": "share_information",
                               "given_at": AT, "given_by": "patient",
                               "valid_until": date(2025, 12, 31)}
    return ConsentRecord.model_validate({**data, **changes})


def test_consent_counts_from_the_instant_it_is_given() -> None:
    consents = [record()]
    assert consent_refusal(consents, "employer", "share_information", AT) is None
    assert consent_refusal(consents, "employer", "share_information",
                           AT - timedelta(microseconds=1)) is not None


def test_a_withdrawal_counts_from_the_instant_it_is_made() -> None:
    withdrawn = AT + timedelta(hours=1)
    consents = [record(withdrawn_at=withdrawn, withdrawn_by="patient")]
    assert consent_refusal(consents, "employer", "share_information",
                           withdrawn - timedelta(microseconds=1)) is None
    assert consent_refusal(consents, "employer", "share_information", withdrawn) is not None


def pnr(yyyymmdd: str, serial: str = "123") -> str:
    """A valid 12-digit number for a birth date (or samordningsnummer day) and serial."""
    return yyyymmdd + serial + str(luhn_digit(yyyymmdd[2:] + serial))


def test_age_turns_on_the_birthday() -> None:
    number = pnr("19600315")
    assert age_on(number, date(2025, 3, 14)) == 64
    assert age_on(number, date(2025, 3, 15)) == 65
    assert age_band(number, date(2025, 3, 14)) == "61-65"
    assert age_band(pnr("19600315"), date(2026, 3, 15)) == ">65"


@pytest.mark.parametrize(("born", "on", "band"), [
    ("20050101", date(2025, 12, 31), "<21"),
    ("20050101", date(2026, 1, 1), "21-25"),  # 21 exactly: the band's low end
    ("20000101", date(2025, 12, 31), "21-25"),  # 25: the band's high end
    ("19640101", date(2025, 1, 1), "61-65"),
])
def test_age_bands_include_both_ends(born: str, on: date, band: str) -> None:
    assert age_band(pnr(born), on) == band


def test_the_samordningsnummer_day_is_the_birth_day_plus_60() -> None:
    assert not is_coordination_number(pnr("19800131"))
    assert is_coordination_number(pnr("19800161"))
    assert birth_date(pnr("19800161")) == date(1980, 1, 1)


def test_a_samordningsnummer_with_an_unknown_birth_day_is_valid() -> None:
    assert normalise(pnr("19800160")) == pnr("19800160")


@pytest.mark.parametrize(("digit", "sex"), [("1", "man"), ("2", "kvinna"), ("3", "man"),
                                            ("4", "kvinna"), ("7", "man"), ("0", "kvinna")])
def test_the_sex_digit_is_odd_for_men(digit: str, sex: str) -> None:
    assert sex_for_statistics(pnr("19800131", "12" + digit)) == sex


def test_a_ten_digit_number_gets_the_century_by_the_year_the_person_turns_100() -> None:
    today = date(2025, 6, 1)
    assert normalise("250601-" + pnr("20250601")[8:], today) == pnr("20250601")  # born today
    # `+` from the calendar year of turning 100 (Skatteverket), birthday or not (revised)
    assert normalise("250602+" + pnr("19250602")[8:], today) == pnr("19250602")  # 100 this year
    assert normalise("250601+" + pnr("19250601")[8:], today) == pnr("19250601")  # 100 today
    assert normalise("260602-" + pnr("19260602")[8:], today) == pnr("19260602")  # 99 this year
