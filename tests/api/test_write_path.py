"""Nothing jams a case and no command is lost (issue #13), through the API on the real stack.

Each test sends what once jammed a case or dropped a command, checks the answer names the
field and the rule with nothing recorded, and then checks the case still answers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from domain.bounds import TEXT_MAX
from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, certificate, today


async def open_case(api: Api, days_ago: int = 0) -> tuple[str, date]:
    start = (await today(api)) - timedelta(days=days_ago)
    response = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)})
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"]), start


async def stream(api: Api, case_id: str) -> list[str]:
    return [r.type for r in await api.store.read_stream(case_id)]


async def still_answers(api: Api, case_id: str) -> None:
    """A probe command: the case records it within seconds (nothing holds its lock)."""
    before = len(await stream(api, case_id))
    probe = api.http.post(f"/cases/{case_id}/consents", headers=api.headers("coordinator"),
                          json={"recipient": "af", "purpose": "contact"})
    response = await asyncio.wait_for(probe, timeout=10)
    assert response.status_code == 200, response.text
    assert len(await stream(api, case_id)) == before + len(response.json()["events"])


def the_rule(response: httpx.Response, status: int, field: str, rule: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert any(e["field"].startswith(field) and e["rule"] == rule for e in problem["errors"]), problem
    return problem


PLAN = {"assessment": "Utmattning", "goals": ["Åter i arbete"], "sick_leave": "100 %",
        "return_to_work": "Upptrappning", "follow_up_date": "2026-06-01"}


@pytest.mark.parametrize(("path", "body", "role", "field"), [
    ("close", {"reason": "return_to_work_full", "note": "a\u0000b"}, "physician", "note"),
    ("plan", {"plan": {**PLAN, "assessment": "ok\u0000"}}, "physician", "plan.assessment"),
    ("plan", {"plan": {**PLAN, "goals": ["mål\u001b[31m"]}}, "physician", "plan.goals[0]"),
    ("coordination", {"action": "offer", "note": "bell\u0007"}, "coordinator", "note"),
])
async def test_control_characters_are_refused_and_the_case_goes_on(
        api: Api, path: str, body: dict[str, Any], role: str, field: str) -> None:
    case_id, _ = await open_case(api)
    before = await stream(api, case_id)
    response = await asyncio.wait_for(api.http.post(
        f"/cases/{case_id}/{path}", headers=api.headers(role), json=body), timeout=10)
    the_rule(response, 422, field, "control_character")
    assert await stream(api, case_id) == before
    await still_answers(api, case_id)


async def test_tab_and_newline_are_text_like_any_other(api: Api) -> None:
    case_id, _ = await open_case(api)
    response = await api.http.post(f"/cases/{case_id}/coordination", headers=api.headers(
        "coordinator"), json={"action": "offer", "note": "rad ett\n\trad två"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("start", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
async def test_opening_at_the_edge_of_the_calendar_is_refused(api: Api, start: str) -> None:
    before = await api.event_count()
    response = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": start})
    the_rule(response, 422, "sick_period_start", "date_out_of_range")
    assert await api.event_count() == before


async def test_a_certificate_ending_in_year_9999_is_refused_and_the_case_goes_on(api: Api) -> None:
    case_id, start = await open_case(api)
    cert = certificate(start, 1, 10, issued=start, cid=f"c-{uuid.uuid4().hex[:8]}")  # ids are one case's
    cert["periods"][0]["end"] = "9999-12-31"
    before = await stream(api, case_id)
    response = await asyncio.wait_for(api.http.post(
        f"/cases/{case_id}/certificates", headers=api.headers(), json={"certificate": cert}),
        timeout=10)
    the_rule(response, 422, "certificate.periods[0].end", "date_out_of_range")
    assert await stream(api, case_id) == before
    await still_answers(api, case_id)


async def test_texts_have_a_maximum_length_in_the_schema_and_in_fact(api: Api) -> None:
    schema = (await api.http.get("/openapi.json")).json()["components"]["schemas"]
    assert schema["Plan"]["properties"]["assessment"]["maxLength"] == TEXT_MAX
    assert schema["CloseCaseBody"]["properties"]["note"]["maxLength"] == TEXT_MAX
    case_id, _ = await open_case(api)
    response = await api.http.post(f"/cases/{case_id}/plan", headers=api.headers(),
                                   json={"plan": {**PLAN, "assessment": "x" * 900_000}})
    the_rule(response, 422, "plan.assessment", "string_too_long")
    await still_answers(api, case_id)


async def raw_post(api: Api, head: bytes, body_parts: list[bytes]) -> tuple[int, bytes]:
    """Send a request by hand and read the answer, even if the server answers mid-body."""
    host, port = api.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
            try:
                await writer.drain()
            except ConnectionError:
                break  # the server answered and closed before taking it all
        answer = await asyncio.wait_for(reader.read(65536), timeout=10)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


async def test_a_body_over_the_limit_is_refused_before_auth_and_parsing(api: Api) -> None:
    # A declared size over the limit: answered at once, without sending the body at all.
    head = (b"POST /cases/any/close HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n")
    status, answer = await raw_post(api, head, [])
    assert status == 413, answer  # not 401: the token was never asked for
    assert b"body_too_large" in answer
    # No declared size (chunked): counted as it arrives, refused once past the limit.
    head = (b"POST /cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    status, answer = await raw_post(api, head, [chunk] * 20)
    assert status == 413, answer
    small = await api.http.post("/cases", json={"x": 1})  # under the limit: on to auth
    assert small.status_code == 401


# -- idempotency ----------------------------------------------------------------------------


async def test_the_same_key_and_body_answer_the_first_time_and_record_once(api: Api) -> None:
    case_id, _ = await open_case(api)
    body = {"recipient": "employer", "purpose": "share_information"}
    headers = api.headers("coordinator", **{"Idempotency-Key": "k-same"})
    first, again = [await api.http.post(f"/cases/{case_id}/consents", headers=headers, json=body)
                    for _ in range(2)]
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert (await stream(api, case_id)).count("ConsentGiven") == 1


async def test_the_same_key_with_another_body_is_refused_naming_the_key(api: Api) -> None:
    case_id, _ = await open_case(api)
    headers = api.headers("coordinator", **{"Idempotency-Key": "k-reused"})
    first = await api.http.post(f"/cases/{case_id}/consents", headers=headers,
                                json={"recipient": "employer", "purpose": "share_information"})
    assert first.status_code == 200
    before = await stream(api, case_id)
    other = await api.http.post(f"/cases/{case_id}/consents", headers=headers,
                                json={"recipient": "fk", "purpose": "share_information"})
    the_rule(other, 422, "Idempotency-Key", "idempotency_key_reused")
    assert await stream(api, case_id) == before


async def test_one_key_used_by_two_people_on_two_routes_records_both(api: Api) -> None:
    case_id, start = await open_case(api)
    consent = await api.http.post(
        f"/cases/{case_id}/consents", headers=api.headers("coordinator", **{"Idempotency-Key": "k1"}),
        json={"recipient": "employer", "purpose": "share_information"})
    cert = await api.http.post(
        f"/cases/{case_id}/certificates", headers=api.headers(**{"Idempotency-Key": "k1"}),
        json={"certificate": certificate(start, 1, 10, issued=start)})
    assert consent.json()["events"] == ["ConsentGiven"]
    assert cert.status_code == 200 and "CertificateRecorded" in cert.json()["events"], cert.text
    assert {"ConsentGiven", "CertificateRecorded"} <= set(await stream(api, case_id))


async def test_a_repeated_open_with_another_body_is_refused(api: Api) -> None:
    start = await today(api)
    key = {"Idempotency-Key": f"open-{uuid.uuid4().hex}"}
    body = {"patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)}
    first = await api.http.post("/cases", headers=api.headers(**key), json=body)
    again = await api.http.post("/cases", headers=api.headers(**key), json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await api.http.post("/cases", headers=api.headers(**key),
                                json={**body, "employer_name": "Annan AB"})
    the_rule(other, 422, "Idempotency-Key", "idempotency_key_reused")


@pytest.mark.parametrize("param", ["q", "unit", "diagnosis_chapter", "age_band", "sort"])
async def test_a_nul_in_a_list_filter_is_refused_not_a_server_error(api: Api, param: str) -> None:
    response = await api.http.get("/cases", params={param: "a\u0000b"},
                                  headers=api.headers("coordinator"))
    the_rule(response, 422, param, "control_character")
