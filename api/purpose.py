"""The purpose of a read (PDL): the `X-Purpose` header, checked before anything is read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from api.problems import refusal
from store.access_log import InvalidPurpose, checked_purpose

PurposeHeader = Annotated[str, Header(alias="X-Purpose", max_length=200,
                                      description="why the case is read (PDL); default 'care'")]


def read_purpose(purpose: PurposeHeader = "care") -> str:
    """A purpose must say something: an empty or blank one is refused (422), not stored."""
    try:
        return checked_purpose(purpose)
    except InvalidPurpose as err:
        raise refusal("X-Purpose", "purpose_required", str(err)) from None


Purpose = Annotated[str, Depends(read_purpose)]
