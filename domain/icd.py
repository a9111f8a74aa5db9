"""ICD-10-SE diagnosis codes: format and chapter.

A code is a letter, two digits and optionally a dot followed by one or two characters
(``F32``, ``F32.1``, ``M54.5``, ``F43.8A``). The dot may be left out (``F321``); codes are
normalised to upper case with the dot (``F32.1``), the form clerks read.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CODE = re.compile(r"^(?P<head>[A-Z]\d{2})(?:\.?(?P<tail>[0-9A-Z]{1,2}))?$")

#: The chapters of ICD-10 as (first code, last code) ranges, in order.
CHAPTERS: tuple[tuple[str, str], ...] = (
    ("A00", "B99"),
    ("C00", "D48"),
    ("D50", "D89"),
    ("E00", "E90"),
    ("F00", "F99"),
    ("G00", "G99"),
    ("H00", "H59"),
    ("H60", "H95"),
    ("I00", "I99"),
    ("J00", "J99"),
    ("K00", "K93"),
    ("L00", "L99"),
    ("M00", "M99"),
    ("N00", "N99"),
    ("O00", "O99"),
    ("P00", "P96"),
    ("Q00", "Q99"),
    ("R00", "R99"),
    ("S00", "T98"),
    ("U00", "U99"),
    ("V01", "Y98"),
    ("Z00", "Z99"),
)


def normalise_icd(value: str) -> str:
    """Upper-case the code and put the dot in; ValueError says the expected format."""
    match = _CODE.match(value.strip().upper())
    if match is None:
        raise ValueError(
            f"{value!r} is not an ICD-10-SE code: a letter, two digits, "
            "and optionally a dot and one or two characters (e.g. F32.1)"
        )
    head, tail = match.group("head", "tail")
    return head if tail is None else f"{head}.{tail}"


def chapter(code: str) -> str:
    """The chapter range a code belongs to (``F32.1`` -> ``F00-F99``); ``okänd`` if none."""
    head = normalise_icd(code)[:3]
    for first, last in CHAPTERS:
        if first <= head <= last:
            return f"{first}-{last}"
    return "okänd"


#: A normalised ICD-10-SE code as a pydantic field type.
IcdCode = Annotated[str, AfterValidator(normalise_icd)]
