"""Diagnosis chapters at their ends, and a refusal that survives pickling (Temporal carries
errors between processes)."""

from __future__ import annotations

import pickle

import pytest

from domain import DomainError
from domain.icd import chapter


@pytest.mark.parametrize("code,expected", [
    ("D48.9", "C00-D48"), ("D49", "okänd"), ("D50", "D50-D89"), ("F99", "F00-F99"),
    ("H59.8", "H00-H59"), ("H60", "H60-H95"), ("T98.3", "S00-T98"), ("Y98", "V01-Y98"),
    ("V00", "okänd"), ("Z99.9", "Z00-Z99"),
])
def test_a_diagnosis_falls_in_its_chapter_up_to_the_last_code(code: str, expected: str) -> None:
    assert chapter(code) == expected


def test_a_refusal_keeps_its_field_rule_and_reason_through_pickling() -> None:
    error = pickle.loads(pickle.dumps(DomainError("plan", "plan_missing", "no plan")))
    assert (error.field, error.rule, error.message, str(error)) == (
        "plan", "plan_missing", "no plan", "no plan"
    )
