"""Protected identity (skyddad identitet): the one rule for what leaves the system.

A patient with protected identity is shown to non-physicians without identity, on every way data
leaves: summary, list, history (CaseOpened and FK messages), access log, CLI, exports. Every read
path calls `mask_identity` on what it is about to return; nothing else decides it.

Masking removes the identity number wherever it sits: the value of any `patient_id` key, at any
depth, becomes None, and any identity number written inside a text (an FK message's free text, a
note) is replaced. Birth year, sex and age band stay: the list's statistics need them and they do
not identify a person on their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Personnummer/samordningsnummer as people write them: with or without century, with `-`, `+`,
# a space or a dash of any kind (en dash from word processors) between date and number, or none.
IDENTITY_NUMBER = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+ \u2010-\u2015\u2212]?\d{4}(?!\d)")
HIDDEN = "[skyddad identitet]"
IDENTITY_KEYS = frozenset({"patient_id"})


def may_see_identity(role: str, protected: bool) -> bool:
    """Only physicians see the identity number of a patient with protected identity."""
    return role == "physician" or not protected


def mask_identity(data: Any, *, protected: bool, role: str) -> Any:
    """`data` as `role` may see it (a copy when masked; unchanged when the reader may see all)."""
    if may_see_identity(role, protected):
        return data
    return _masked(data)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return IDENTITY_NUMBER.sub(HIDDEN, value)
    if isinstance(value, Mapping):
        return {k: (None if k in IDENTITY_KEYS else _masked(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value
