"""api.json_body writes the same JSON document FastAPI's own encoder would (byte for byte),
for the values the list and history endpoints return."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.json_body import json_body
from domain.vocabulary import Phase


class Link(BaseModel):
    earlier_case_id: str
    ends: date


def page() -> dict[str, Any]:
    row = {
        "case_id": "c-1", "unit_id": "Vårdcentral Norr – Kiruna", "phase": Phase.__args__[0],
        "sick_period_start": date(2026, 4, 2), "opened_at": datetime(2026, 4, 2, 7, 5, 1, 250, UTC),
        "recorded_at": datetime(2026, 4, 2, 9, tzinfo=timezone(timedelta(hours=2))),
        "meeting_at": time(13, 30), "days": 244, "current_grade": None, "overdue": [],
        "consents": [{"recipient": "employer", "ends": date(2026, 12, 31), "held": True}],
        "physicians": ("dr-1", "dr-2"), "ratio": 0.75, "link": Link(earlier_case_id="c-0",
                                                                   ends=date(2026, 1, 1)),
        "text": 'citat "inom" och \\ snedstreck\n',
    }
    return {"total": 2, "total_is_lower_bound": False, "items": [row, {**row, "case_id": "c-2"}]}


def test_a_page_is_written_exactly_as_fastapi_would_write_it() -> None:
    content = page()
    assert json_body(content).body == JSONResponse(jsonable_encoder(content)).body
    response = json_body(content)
    assert response.status_code == 200 and response.media_type == "application/json"


def test_a_value_that_is_not_json_fails_loudly_instead_of_being_written_as_something_else() -> None:
    with pytest.raises(TypeError, match="object is not JSON"):
        json_body({"x": object()})
