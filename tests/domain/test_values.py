from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from domain.certificate import Certificate
from domain.plan import Plan
from tests.domain.support import START, at, certificate


def cert_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "certificate_id": "c1",
        "issued_at": at(1),
        "issued_by": "dr-anna",
        "diagnoses": [{"code": "M54.5"}],
        "periods": [{"grade": 50, "start": START, "end": START + timedelta(days=13)}],
    }
    return {**data, **overrides}


def error_of(data: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        Certificate.model_validate(data)
    return str(info.value)


def test_grade_must_be_25_50_75_or_100() -> None:
    message = error_of(cert_data(periods=[{"grade": 30, "start": START, "end": START}]))
    assert "grade 30 is not one of 25, 50, 75, 100" in message
    assert "periods.0.grade" in message


def test_period_may_not_end_before_it_starts() -> None:
    message = error_of(
        cert_data(periods=[{"grade": 100, "start": START, "end": START - timedelta(days=1)}])
    )
    assert "ends (2024-03-03) before it starts (2024-03-04)" in message


def test_periods_may_not_overlap() -> None:
    periods = [
        {"grade": 100, "start": START, "end": START + timedelta(days=9)},
        {"grade": 50, "start": START + timedelta(days=9), "end": START + timedelta(days=20)},
    ]
    assert "overlap" in error_of(cert_data(periods=periods))


def test_stepped_down_grades_without_overlap_are_fine() -> None:
    periods = [
        {"grade": 100, "start": START, "end": START + timedelta(days=9)},
        {"grade": 50, "start": START + timedelta(days=10), "end": START + timedelta(days=20)},
    ]
    cert = Certificate.model_validate(cert_data(periods=periods))
    assert cert.grade_on(START + timedelta(days=15)) == 50
    assert cert.last_day == START + timedelta(days=20)


def test_start_more_than_seven_days_before_issue_needs_a_motivation() -> None:
    message = error_of(cert_data(issued_at=at(9)))
    assert "more than 7 days before" in message and "motivation" in message
    assert Certificate.model_validate(cert_data(issued_at=at(8)))  # exactly 7 days: fine
    assert Certificate.model_validate(
        cert_data(issued_at=at(9), motivation_early_start="phone contact day 1")
    )


def test_a_diagnosis_and_a_period_are_required() -> None:
    assert "diagnoses" in error_of(cert_data(diagnoses=[]))
    assert "periods" in error_of(cert_data(periods=[]))


def test_prognosis_days_only_with_ater_x_antal_dagar() -> None:
    assert "prognosis days" in error_of(cert_data(prognosis={"kind": "ATER_X_ANTAL_DGR"}))
    assert "prognosis days" in error_of(cert_data(prognosis={"kind": "PROGNOS_OKLAR", "days": 30}))


def test_expected_end_adds_the_prognosis_days() -> None:
    cert = certificate(last=20, prognosis={"kind": "ATER_X_ANTAL_DGR", "days": 60})
    assert cert.expected_end() == START + timedelta(days=19 + 60)
    assert certificate(prognosis={"kind": "SANNOLIKT_INTE"}).expected_end() is None


def test_unknown_fields_are_refused() -> None:
    assert "extra" in error_of(cert_data(grade=100)).lower()


def plan_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "assessment": "Reduced capacity for sustained attention.",
        "goals": ["back at 50 % by week 6"],
        "measures": [{"what": "CBT", "by_whom": "psychologist", "when": date(2024, 3, 20)}],
        "sick_leave": "100 % for four weeks, then 50 %",
        "return_to_work": "tapering with the employer",
        "follow_up_date": date(2024, 4, 1),
    }
    return {**data, **overrides}


def test_plan_needs_its_required_elements() -> None:
    assert Plan.model_validate(plan_data()).coordination_measures == ""
    with pytest.raises(ValidationError, match="required and may not be empty"):
        Plan.model_validate(plan_data(return_to_work="  "))
    with pytest.raises(ValidationError, match="follow_up_date"):
        Plan.model_validate({k: v for k, v in plan_data().items() if k != "follow_up_date"})
    with pytest.raises(ValidationError, match="goals"):
        Plan.model_validate(plan_data(goals=[]))
