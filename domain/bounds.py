"""Bounds on everything a command carries: the one place that says how long, how many, when.

A command the case accepts must always be storable and must never overflow a date, so the
bounds are checked before anything is decided (`check_bounds`, called first by `decide`), on
every path a command comes in by: the API, FK's gateway, and Temporal's own payloads.

- Text: at most `TEXT_MAX` characters (free text such as a plan's assessment), and no control
  characters other than tab, newline and carriage return (PostgreSQL cannot store NUL in jsonb;
  the others have no place in a record people read). Every model's `str_max_length` is
  `TEXT_MAX`, so the OpenAPI schema shows it; names and ids are tighter (`SHORT_MAX`).
- Lists: at most `LIST_MAX` items.
- Dates: between `EARLIEST` and `LATEST`. A sick-leave case is about now; these bounds only
  keep day arithmetic (day 365, the merge gap, closing instants) far from the calendar's edge.

The state carried across continue-as-new is bounded by `compact`: texts longer than
`SHORT_MAX` stay in the event record and are carried as their digest (ids are never that long).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from .errors import DomainError

TEXT_MAX = 4000
SHORT_MAX = 200
LIST_MAX = 50
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DIGEST = "sha256:"

M = TypeVar("M", bound=BaseModel)


def check_bounds(value: Any, path: str = "") -> None:
    """Raise DomainError for the first text, list or date in `value` out of bounds."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            check_bounds(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, str):
        limit = SHORT_MAX if _is_reference(path) else TEXT_MAX
        if len(value) > limit:
            raise DomainError(path, "text_too_long",
                              f"{path} has {len(value)} characters; at most {limit} are allowed")
        if (bad := CONTROL.search(value)) is not None:
            raise DomainError(path, "control_character",
                              f"{path} holds the control character U+{ord(bad.group()):04X}; "
                              "only tab and newline are allowed")
    elif isinstance(value, (list, tuple, dict)):
        if len(value) > LIST_MAX:
            raise DomainError(path, "too_many_items",
                              f"{path} has {len(value)} items; at most {LIST_MAX} are allowed")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            check_bounds(key, f"{path}[{key!r}]")
            check_bounds(item, f"{path}[{key}]")
    elif isinstance(value, (date, datetime)):
        day = value.date() if isinstance(value, datetime) else value
        if not EARLIEST <= day <= LATEST:
            raise DomainError(path, "date_out_of_range",
                              f"{path} is {day}; dates must lie between {EARLIEST} and {LATEST}")


def _is_reference(path: str) -> bool:
    """Ids and who-did-it fields (`certificate_id`, `issued_by`, `reminder_of`) are short:
    the state is keyed by them, so they are never compacted."""
    name = path.rsplit(".", 1)[-1]
    return name.endswith(("_id", "_by", "_of")) or name in ("id", "sender")


def clean_text(text: str, limit: int = SHORT_MAX) -> str:
    """A text made by the system (an error message, a receipt) fit for the record."""
    return CONTROL.sub("?", text)[:limit]


def digest(text: str) -> str:
    return DIGEST + hashlib.sha256(text.encode()).hexdigest()[:32]


def compact(model: M) -> M:
    """`model` with every text longer than SHORT_MAX replaced by its digest (idempotent)."""
    return type(model).model_validate(_compact(model.model_dump(mode="json")))


def same(a: BaseModel | None, b: BaseModel | None) -> bool:
    """Equal, whether either side was compacted or not."""
    if a is None or b is None:
        return a is b
    return bool(_compact(a.model_dump(mode="json")) == _compact(b.model_dump(mode="json")))


def compact_text(text: str) -> str:
    return digest(text) if len(text) > SHORT_MAX and not text.startswith(DIGEST) else text


def _compact(value: Any) -> Any:
    if isinstance(value, str):
        return compact_text(value)
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value
