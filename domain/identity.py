"""Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

Accepted forms: ``YYYYMMDD-NNNC``, ``YYYYMMDDNNNC``, ``YYMMDD-NNNC``, ``YYMMDDNNNC`` and
``YYMMDD+NNNC``. A samordningsnummer has 60 added to the day. The check digit C is the Luhn
digit over the 10-digit form. Everything is normalised to 12 digits without separator
(``191212121212``).

Rules (Skatteverket; revised): ``+`` is written from the calendar year the person turns 100
(not from the birthday), and only in the 10-digit form: a ``+`` in a 12-digit number is
refused. A birth date after the reference date is refused. A samordningsnummer whose birth
day is unknown carries day 60 (00 + 60) and is valid; its birth date is taken as the 1st of
the month for ages.

A 10-digit form does not say its century; it is resolved against a reference date that the
caller passes (the domain has no clock). The pydantic type `Pnr` takes that date from the
validation context key ``"today"``; without it only the 12-digit forms are accepted, with a
message that asks for the century.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, ValidationInfo

Sex = Literal["kvinna", "man"]

#: Anything shaped like a Swedish identity number, with or without century and separator.
#: Used by the logging layer to redact; deliberately broader than a valid number.
PNR_PATTERN: re.Pattern[str] = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)")

_SHAPE = re.compile(r"^(?P<century>\d{2})?(?P<yymmdd>\d{6})(?P<sep>[-+]?)(?P<serial>\d{4})$")

AGE_BANDS: tuple[tuple[int, int, str], ...] = (
    (0, 20, "<21"),
    (21, 25, "21-25"),
    (26, 30, "26-30"),
    (31, 35, "31-35"),
    (36, 40, "36-40"),
    (41, 45, "41-45"),
    (46, 50, "46-50"),
    (51, 55, "51-55"),
    (56, 60, "56-60"),
    (61, 65, "61-65"),
)


def luhn_digit(nine_digits: str) -> int:
    """The Luhn check digit over the first nine digits of the 10-digit form."""
    total = 0
    for i, ch in enumerate(nine_digits):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def _birth_date(yyyymmdd: str) -> date | None:
    """The birth date, with 60 taken off the day of a samordningsnummer (day 60: birth day
    unknown, taken as the 1st); None if impossible."""
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])
    if day >= 60:
        day = max(day - 60, 1)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _century(yymmdd: str, plus: bool, today: date) -> str:
    """The century that makes the person born on or before `today`, and with `+` turning 100
    or more in today's calendar year (without `+`: fewer than 100)."""
    for century in range(today.year // 100, today.year // 100 - 3, -1):
        born = _birth_date(f"{century:02d}{yymmdd}")
        if born is not None and born <= today and plus == (today.year - born.year >= 100):
            return f"{century:02d}"
    raise ValueError(f"no century makes {yymmdd} a plausible birth date; write all 12 digits")


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def normalise(value: str, today: date | None = None) -> str:
    """Parse any accepted form and return the 12-digit form; ValueError says what is wrong."""
    text = value.strip().replace(" ", "")
    match = _SHAPE.match(text)
    if match is None:
        raise ValueError(
            "an identity number is 10 or 12 digits, optionally with - or + before the last four"
        )
    century, yymmdd, sep, serial = match.group("century", "yymmdd", "sep", "serial")
    if century is not None and sep == "+":
        raise ValueError("+ is written only in the 10-digit form; write YYYYMMDD-NNNC")
    if century is None:
        if today is None:
            raise ValueError(
                "write the identity number with its century (12 digits, YYYYMMDD-NNNC)"
            )
        century = _century(yymmdd, sep == "+", today)
    ten = yymmdd + serial
    expected = luhn_digit(ten[:9])
    if int(ten[9]) != expected:
        raise ValueError(
            f"the check digit of the identity number is wrong: it is {ten[9]}, "
            f"the Luhn check makes it {expected}"
        )
    born = _birth_date(century + yymmdd)
    if born is None:
        raise ValueError(f"{century}{yymmdd} is not a valid date of birth")
    if today is not None and born > today:
        raise ValueError(f"the date of birth {born} is in the future")
    return century + ten


def _validate(value: str, info: ValidationInfo) -> str:
    today = info.context.get("today") if isinstance(info.context, dict) else None
    return normalise(value, today if isinstance(today, date) else None)


#: A normalised 12-digit identity number as a pydantic field type.
Pnr = Annotated[str, AfterValidator(_validate)]


def is_coordination_number(pnr: str) -> bool:
    """True for a samordningsnummer (day of birth + 60; 60 when the day is unknown)."""
    return int(pnr[6:8]) >= 60


def birth_date(pnr: str) -> date:
    """The date of birth of a normalised number (samordningsnummer day minus 60)."""
    born = _birth_date(pnr[:8])
    if born is None:
        raise ValueError(f"{pnr[:8]} is not a valid date of birth")
    return born


def sex_for_statistics(pnr: str) -> Sex:
    """Sex for statistics: the 9th digit of the 10-digit form (11th of 12) is odd for men."""
    return "man" if int(pnr[10]) % 2 == 1 else "kvinna"


def age_on(pnr: str, on: date) -> int:
    """Age in whole years on a date."""
    return _age(birth_date(pnr), on)


def age_band(pnr: str, on: date) -> str:
    """The age band Statistiktjänsten uses (<21, 21-25, ..., 61-65, >65) on a date."""
    age = age_on(pnr, on)
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return ">65"
