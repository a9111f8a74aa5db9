"""Protected identity (skyddad identitet) on the way out: non-physicians never see the
patient's identity number, wherever it sits in what the API returns (DOMAIN.md)."""

from __future__ import annotations

from typing import Any

IDENTITY_KEYS = frozenset({"patient_id"})


def without_identity(data: Any) -> Any:
    """`data` with every identity number (any `patient_id`, at any depth) replaced by None."""
    if isinstance(data, dict):
        return {k: None if k in IDENTITY_KEYS else without_identity(v) for k, v in data.items()}
    if isinstance(data, list):
        return [without_identity(v) for v in data]
    return data


def hides_identity(protected: bool | None, role: str) -> bool:
    return bool(protected) and role != "physician"
