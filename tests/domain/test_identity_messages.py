"""Identity numbers: the Luhn check catches every single wrong digit, and each refusal says
in words what is wrong (the API shows the sentence to the clerk)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.identity import luhn_digit, normalise

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize("base", ["811218987", "121212121", "900101999", "000000000"])
def test_every_single_wrong_digit_changes_the_check_digit(base: str) -> None:
    for place in range(9):
        digits = {luhn_digit(base[:place] + d + base[place + 1:]) for d in "0123456789"}
        assert len(digits) == 10, place


@pytest.mark.parametrize(
    "value,today,message",
    [
        ("12345", TODAY,
         "an identity number is 10 or 12 digits, optionally with - or + before the last four"),
        ("19121212+1212", TODAY,
         "+ is written only in the 10-digit form; write YYYYMMDD-NNNC"),
        ("121212-1212", None,
         "write the identity number with its century (12 digits, YYYYMMDD-NNNC)"),
        ("191212121213", TODAY,
         "the check digit of the identity number is wrong: it is 3, the Luhn check makes it 2"),
        ("191213321217", TODAY, "19121332 is not a valid date of birth"),
        ("991332-1234", TODAY,
         "no century makes 991332 a plausible birth date; write all 12 digits"),
    ],
)
def test_a_refused_identity_number_says_what_is_wrong(
    value: str, today: date | None, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        normalise(value, today)
    assert str(info.value) == message
