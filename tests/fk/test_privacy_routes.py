"""Protected identity on every read route, as every role; another unit's case answers as a
missing one (issue #15, findings 1 and 8). The whole stack: FK's message reaches the case through
the simulator, so its identity number sits in the history as FK sent it."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
from fastapi.routing import APIRoute

from tests.fk.conftest import FkStack
from tests.fk.support import PNR, case_with_certificate, today

TWELVE = PNR  # 191212121212
FORMS = (TWELVE, "19121212-1212", "121212-1212")
READERS = ("physician", "coordinator", "ops")


def read_routes(stack: FkStack) -> list[str]:
    """Every GET route that takes a case id, from the app itself (a new one is walked too),
    those of included routers (the web console's pages) included."""

    def walk(routes: list[Any]) -> Any:
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):  # FastAPI keeps an included router whole
                yield from walk(r.original_router.routes)

    return sorted(r.path for r in walk(stack.app.routes)
                  if "GET" in r.methods and "{case_id}" in r.path)


async def protected_case(stack: FkStack) -> str:
    case_id, cid, _ = await case_with_certificate(stack, protected_identity=True)
    async with httpx.AsyncClient(timeout=30) as http:
        [sent] = (await http.post(f"{stack.fk.url}/control/send", json={
            "kind": "KONTKT", "certificate_id": cid, "patient_id": PNR,
            "fields": {"text": f"Gäller patient {'19121212-1212'}, ring oss."}})).json()
    assert sent["status"] == 200, sent
    await stack.project()
    return case_id


def leaks(body: Any) -> bool:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    return any(form in text for form in FORMS)


CSRF = re.compile(r'name="csrf" value="[0-9a-f]{64}"')


async def read(stack: FkStack, url: str, role: str,
               units: tuple[str, ...] = ("vc-norr",)) -> tuple[int, Any]:
    """GET as `role`: the JSON API with the bearer token; the web console's pages (issue #19)
    with the same token as its session cookie. The body: JSON, or the page's HTML."""
    headers = stack.headers(role, units)
    if not url.startswith("/console/"):
        response = await stack.http.get(url, headers=headers)
        return response.status_code, response.json()
    token = headers["Authorization"].removeprefix("Bearer ")
    response = await stack.http.get(url, headers={"Cookie": f"sjukfall_console={token}"})
    return response.status_code, response.text


async def test_no_non_physician_sees_a_protected_identity_on_any_read_route(
        stack: FkStack) -> None:
    case_id = await protected_case(stack)
    routes = read_routes(stack)
    assert {"/cases/{case_id}", "/cases/{case_id}/events", "/cases/{case_id}/access-log"} <= set(routes)
    seen_by_physician = []
    for role in READERS:
        for path in [*routes, "/cases"]:
            url = path.format(case_id=case_id)
            status, body = await read(stack, url, role)
            if status == 403:  # the role may not read this route at all
                continue
            assert status == 200, (role, url, body)
            if role == "physician":
                seen_by_physician.append(leaks(body))
            else:
                assert not leaks(body), (role, url, body)
    assert any(seen_by_physician)  # the physician does see who the patient is

    events = (await stack.http.get(f"/cases/{case_id}/events",
                                   headers=stack.headers("coordinator"))).json()["items"]
    opened = next(e for e in events if e["type"] == "CaseOpened")
    assert opened["data"]["patient_id"] is None
    fk = next(e for e in events if e["type"] == "FkMessageReceived")
    assert fk["data"]["message"]["patient_id"] is None
    assert "[skyddad identitet]" in json.dumps(fk["data"]["message"], ensure_ascii=False)


async def test_an_unprotected_patient_is_shown_to_a_coordinator(stack: FkStack) -> None:
    case_id, _, _ = await case_with_certificate(stack)
    summary = await stack.http.get(f"/cases/{case_id}", headers=stack.headers("coordinator"))
    assert summary.json()["patient_id"] == TWELVE


async def test_another_units_case_answers_as_a_missing_one(stack: FkStack) -> None:
    case_id = await protected_case(stack)
    missing = uuid.uuid4().hex[:12]
    elsewhere = stack.headers("physician", ("vc-syd",))
    for path in read_routes(stack):
        if "{certificate_id}" in path:
            continue
        for role in READERS:
            if role == "ops":
                continue  # ops see every unit
            theirs, their_body = await read(stack, path.format(case_id=case_id), role, ("vc-syd",))
            none, no_body = await read(stack, path.format(case_id=missing), role, ("vc-syd",))
            if none == 403:
                assert theirs == 403
                continue
            assert theirs == none == 404, (path, their_body)
            if isinstance(no_body, str):  # a console page: the whole page alike
                # each read signs in anew: the session's CSRF token may differ by a second
                assert (CSRF.sub("", their_body.replace(case_id, "X"))
                        == CSRF.sub("", no_body.replace(missing, "X")))
            else:
                assert their_body["detail"].replace(case_id, "X") == \
                    no_body["detail"].replace(missing, "X")

    # Opening a case under an id another unit holds: the same answer as an id your own unit
    # already holds, never a read of it, and nothing recorded.
    start = str(await today(stack))  # type: ignore[arg-type]
    mine = await stack.http.post("/cases", headers=elsewhere, json={
        "case_id": f"own-{missing}", "patient_id": PNR, "unit_id": "vc-syd",
        "sick_period_start": start})
    assert mine.status_code == 201, mine.text
    stack.cases.append(f"own-{missing}")
    again = await stack.http.post("/cases", headers=elsewhere, json={
        "case_id": f"own-{missing}", "patient_id": PNR, "unit_id": "vc-syd",
        "sick_period_start": start})
    before = len(await stack.store.read_stream(case_id))
    theirs = await stack.http.post("/cases", headers=elsewhere, json={
        "case_id": case_id, "patient_id": PNR, "unit_id": "vc-syd",
        "sick_period_start": start})
    assert theirs.status_code == again.status_code == 409, theirs.text
    assert theirs.json()["errors"] == [
        {**e, "message": e["message"].replace(f"own-{missing}", case_id)}
        for e in again.json()["errors"]]
    assert len(await stack.store.read_stream(case_id)) == before

    # Closed, it still answers only that the id is taken: another unit learns nothing of its state.
    closed = await stack.http.post(f"/cases/{case_id}/close", headers=stack.headers("coordinator"),
                                   json={"reason": "return_to_work_full"})
    assert closed.status_code == 200, closed.text
    later = await stack.http.post("/cases", headers=elsewhere, json={
        "case_id": case_id, "patient_id": PNR, "unit_id": "vc-syd", "sick_period_start": start})
    assert (later.status_code, later.json()["errors"]) == (409, theirs.json()["errors"])
