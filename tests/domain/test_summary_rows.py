"""The case list row (`summarize`) field by field, for a case not yet opened, a running case
and the same case once closed."""

from __future__ import annotations

from datetime import date

import pytest

from domain import initial_state, summarize
from domain.calendar import start_of
from domain.commands import CloseCase, EstablishPlan, OpenCase, SetCoordinationStatus
from domain.summary import CaseSummary
from tests.domain.support import (
    COORDINATOR,
    PHYSICIAN,
    START,
    Case,
    at,
    certificate,
    make_pnr,
    opened,
)
from tests.domain.test_decider import plan

WOMAN_1980 = make_pnr(date(1980, 5, 17), 242)


def test_a_case_not_yet_opened_shows_only_its_id_version_and_phase() -> None:
    assert summarize(initial_state("case-9")) == CaseSummary(
        case_id="case-9", version=0, phase="assessment"
    )


def test_an_opened_case_without_a_certificate_has_no_diagnosis_grade_or_days() -> None:
    case = Case()
    case.do(OpenCase(actor=PHYSICIAN, case_id="case-1", patient_id=WOMAN_1980, unit_id="vc-syd",
                     sick_period_start=START), at(1))
    row = summarize(case.state)
    assert (row.diagnosis_code, row.diagnosis_chapter, row.current_grade, row.days,
            row.sick_period_end) == (None, None, None, 0, None)
    assert (row.unit_id, row.sex, row.birth_year) == ("vc-syd", "kvinna", 1980)


def test_a_running_case_row_and_the_same_case_closed() -> None:
    case = opened(cert=certificate(last=45), patient_id=WOMAN_1980, unit_id="vc-syd",
                  consents=(("fk", "share_information"), ("coordinator", "coordination")))
    case.do(EstablishPlan(actor=PHYSICIAN, plan=plan(40)), at(3))
    case.do(SetCoordinationStatus(actor=COORDINATOR, status="contacted"), at(5))
    case.advance(at(10))
    running = CaseSummary(
        case_id="case-1",
        version=len(case.events),
        phase="plan",
        unit_id="vc-syd",
        sex="kvinna",
        age_band="41-45",  # 43 on day 1
        birth_year=1980,
        sick_period_start=START,
        sick_period_end=date(2024, 4, 17),
        days=45,
        current_grade=100,
        diagnosis_code="F43.8A",
        diagnosis_chapter="F00-F99",
        next_milestone_day=14,
        next_milestone_at=start_of(date(2024, 3, 17)),
        follow_up_due=date(2024, 4, 12),
        consents={"fk": ["share_information"], "coordinator": ["coordination"]},
        coordination_status="contacted",
        opened_at=at(1),
    )
    assert summarize(case.state) == running

    case.do(CloseCase(actor=PHYSICIAN, reason="return_to_work_full"), at(12))
    closed = running.model_copy(update={
        "version": len(case.events), "phase": "closed", "next_milestone_day": None,
        "next_milestone_at": None, "follow_up_due": None, "closed_at": at(12),
        "closed_reason": "return_to_work_full",
    })
    assert summarize(case.state) == closed


@pytest.mark.parametrize("last,queued", [(30, False), (31, True)])
def test_a_case_on_leave_past_day_30_without_a_coordination_status_is_queued(
    last: int, queued: bool
) -> None:
    case = opened(cert=certificate(last=last))
    case.advance(at(30, 1))
    assert summarize(case.state).in_coordinator_queue is queued
