"""Errors name their rule as a problem type, with the status of the rule's kind, and the
OpenAPI document describes them (the `Problem` schema)."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_invalid_input import open_case

PREFIX = "urn:sjukfall:problem:"


async def test_the_openapi_document_describes_every_error_as_a_problem(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "errors"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    refs = set()
    for path_name, path in document["paths"].items():
        for operation in path.values():
            for status in ("401", "409", "422"):
                content = operation["responses"].get(status, {}).get("content", {})
                if "application/problem+json" not in content:
                    assert path_name == "/fk/messages"  # FK's contract: its own Result
                    continue
                refs.add(content["application/problem+json"]["schema"]["$ref"])
    assert refs == {"#/components/schemas/Problem"}


async def test_a_refusal_names_its_rule_as_the_problem_type(api: Api) -> None:
    case_id = await open_case(api)
    closed = await api.http.post(f"/cases/{case_id}/close", headers=api.headers(),
                                 json={"reason": "opened_in_error"})
    assert closed.status_code == 200, closed.text
    again = await api.http.post(f"/cases/{case_id}/close", headers=api.headers(),
                                json={"reason": "opened_in_error"})
    assert again.status_code == 409, again.text
    assert again.json()["type"] == PREFIX + "case_closed"
    assert again.json()["errors"][0]["rule"] == "case_closed"

    forbidden = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": "191212121212", "unit_id": "vc-syd", "sick_period_start": "2026-01-05"})
    assert (forbidden.status_code, forbidden.json()["type"]) == (403, PREFIX + "unit_not_allowed")


async def test_input_that_does_not_fit_the_schema_is_invalid_input(api: Api) -> None:
    response = await api.http.post("/cases", headers=api.headers(), json={"unit_id": "vc-norr"})
    assert response.status_code == 422
    assert response.json()["type"] == PREFIX + "invalid_input"
    unknown = await api.http.get("/cases/no-such-case", headers=api.headers())
    assert (unknown.status_code, unknown.json()["type"]) == (404, "about:blank")
