from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from domain.icd import chapter, normalise_icd
from domain.identity import (
    PNR_PATTERN,
    Pnr,
    age_band,
    birth_date,
    is_coordination_number,
    normalise,
    sex_for_statistics,
)
from tests.domain.support import make_pnr

TODAY = date(2024, 6, 1)


@pytest.mark.parametrize(
    ("written", "twelve"),
    [
        ("19121212-1212", "191212121212"),
        ("191212121212", "191212121212"),
        (" 19121212 1212 ", "191212121212"),
        ("121212+1212", "191212121212"),  # + : a hundred years or older
        ("121212-1212", "201212121212"),  # - : younger than a hundred
        ("1212121212", "201212121212"),
    ],
)
def test_every_accepted_form_normalises_to_twelve_digits(written: str, twelve: str) -> None:
    assert normalise(written, today=TODAY) == twelve


def test_ten_digits_never_resolve_to_a_birth_in_the_future() -> None:
    born = make_pnr(date(1950, 7, 1), 345)
    assert normalise(born[2:], today=TODAY) == born


def test_wrong_check_digit_is_rejected_with_a_message_that_says_so() -> None:
    with pytest.raises(
        ValueError, match="check digit .* wrong: it is 3, the Luhn check makes it 2"
    ):
        normalise("19121212-1213")


def test_ten_digits_without_a_reference_date_ask_for_the_century() -> None:
    with pytest.raises(ValueError, match="century"):
        normalise("121212-1212")


@pytest.mark.parametrize("bad", ["1912121212", "19121312-1212x", "abc", "19121212--1212"])
def test_malformed_numbers_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise(bad, today=TODAY)


def test_impossible_birth_date_is_rejected() -> None:
    nine = "190230123"  # 30 February
    from domain.identity import luhn_digit

    with pytest.raises(ValueError, match="not a valid date of birth"):
        normalise(f"19{nine}{luhn_digit(nine)}")


def test_samordningsnummer_has_day_plus_sixty() -> None:
    number = make_pnr(date(1985, 4, 7), 234, coordination=True)
    assert number[6:8] == "67"
    assert normalise(number) == number
    assert is_coordination_number(number)
    assert birth_date(number) == date(1985, 4, 7)


def test_sex_for_statistics_comes_from_the_ninth_digit() -> None:
    assert sex_for_statistics("191212121212") == "man"  # 9th digit of 1212121212 is 1
    assert sex_for_statistics(make_pnr(date(1990, 1, 1), 2)) == "kvinna"


def test_age_band_on_a_date() -> None:
    pnr = make_pnr(date(1990, 6, 15), 123)
    assert age_band(pnr, date(2024, 6, 14)) == "31-35"
    assert age_band(pnr, date(2010, 1, 1)) == "<21"
    assert age_band("191212121212", TODAY) == ">65"


def test_pydantic_type_uses_today_from_the_validation_context() -> None:
    class Model(BaseModel):
        pnr: Pnr

    assert Model.model_validate({"pnr": "121212+1212"}, context={"today": TODAY}).pnr == (
        "191212121212"
    )
    with pytest.raises(ValidationError, match="check digit"):
        Model(pnr="19121212-1213")


def test_redaction_pattern_finds_every_shape_in_text() -> None:
    text = "a 19121212-1212 b 121212-1212 c 191212121212 d 1212121212 e 121212+1212"
    assert len(PNR_PATTERN.findall(text)) == 5
    assert PNR_PATTERN.search("order 12345 on 2024-03-01") is None


births = st.dates(min_value=date(1900, 1, 1), max_value=date(2023, 12, 31))


@given(births, st.integers(min_value=0, max_value=999), st.booleans(), st.sampled_from(["-", ""]))
def test_luhn_valid_numbers_round_trip_through_normalisation(
    born: date, serial: int, coordination: bool, sep: str
) -> None:
    number = make_pnr(born, serial, coordination)
    assert normalise(number) == number
    assert normalise(number[:8] + sep + number[8:]) == number
    ten = number[2:8] + ("+" if TODAY.year - born.year > 100 else "-") + number[8:]
    if TODAY.year - born.year not in (100, 101):  # the birthday decides the sign in those years
        assert normalise(ten, today=TODAY) == number


@given(births, st.integers(min_value=0, max_value=999), st.integers(min_value=1, max_value=9))
def test_any_changed_check_digit_is_rejected(born: date, serial: int, shift: int) -> None:
    number = make_pnr(born, serial)
    wrong = number[:11] + str((int(number[11]) + shift) % 10)
    with pytest.raises(ValueError, match="check digit"):
        normalise(wrong)


@pytest.mark.parametrize(
    ("code", "normal", "chap"),
    [
        ("f321", "F32.1", "F00-F99"),
        ("M54.5", "M54.5", "M00-M99"),
        ("F43.8A", "F43.8A", "F00-F99"),
        ("S82", "S82", "S00-T98"),
        ("T14.9", "T14.9", "S00-T98"),
        ("D50", "D50", "D50-D89"),
    ],
)
def test_icd_codes_normalise_and_derive_the_chapter(code: str, normal: str, chap: str) -> None:
    assert normalise_icd(code) == normal
    assert chapter(code) == chap


@pytest.mark.parametrize("bad", ["F3", "32.1", "F32.123", "FF32", "F32-1"])
def test_malformed_icd_codes_are_rejected_with_the_format(bad: str) -> None:
    with pytest.raises(ValueError, match="a letter, two digits"):
        normalise_icd(bad)
