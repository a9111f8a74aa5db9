"""What no command may carry, refused by the decider before anything is decided, naming the
field by its path (nested models and list items too): control characters, dates off the
calendar the domain keeps, and references longer than an id."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain import DomainError
from domain.commands import CloseCase, EstablishPlan, OpenCase, RecordCertificate, RevokeCertificate
from tests.domain.support import PHYSICIAN, PNR, Case, certificate, opened
from tests.domain.test_decider import plan

CASES: dict[str, tuple[Any, Any, str, str, str]] = {
    "a NUL in a note": (
        opened, lambda: CloseCase(actor=PHYSICIAN, reason="return_to_work_full", note="a\x00b"),
        "note", "control_character",
        "note holds the control character U+0000; only tab and newline are allowed",
    ),
    "an escape in a plan's goal": (
        opened, lambda: EstablishPlan(actor=PHYSICIAN, plan=plan(40, goals=["mål\x1b[31m"])),
        "plan.goals[0]", "control_character",
        "plan.goals[0] holds the control character U+001B; only tab and newline are allowed",
    ),
    "a day 1 in 2100": (
        Case, lambda: OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=PNR,
                               unit_id="vc-norr", sick_period_start=date(2100, 1, 1)),
        "sick_period_start", "date_out_of_range",
        "sick_period_start is 2100-01-01; dates must lie between 2000-01-01 and 2099-12-31",
    ),
    "a certificate ending in 9999": (
        opened,
        lambda: RecordCertificate(actor=PHYSICIAN, certificate=certificate().model_copy(update={
            "periods": [certificate().periods[0].model_copy(update={"end": date(9999, 12, 31)})]
        })),
        "certificate.periods[0].end", "date_out_of_range",
        "certificate.periods[0].end is 9999-12-31; dates must lie between 2000-01-01 and "
        "2099-12-31",
    ),
    "a reference longer than an id": (
        opened, lambda: RevokeCertificate(actor=PHYSICIAN, certificate_id="c" * 201),
        "certificate_id", "text_too_long",
        "certificate_id has 201 characters; at most 200 are allowed",
    ),
}


@pytest.mark.parametrize("setup,command,field,rule,message", CASES.values(), ids=CASES)
def test_out_of_bounds_values_are_refused_by_path(
    setup: Any, command: Any, field: str, rule: str, message: str
) -> None:
    case = setup()
    with pytest.raises(DomainError) as info:
        case.do(command())
    assert (info.value.field, info.value.rule, info.value.message) == (field, rule, message)
