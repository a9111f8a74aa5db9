"""Protected identity on every read route, as every role; another unit's case answers as a
missing one (issue #15, findings 1 and 8). The whole stack: FK's message reaches the case through
the simulator, so its identity number sits in the history as FK sent it."""

from __future__ import annotations

import json
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
    """Every GET route that takes a case id, from the app itself (a new one is walked too)."""
    return sorted(r.path for r in stack.app.routes if isinstance(r, APIRoute)
                  and "GET" in r.methods and "{case_id}" in r.path)


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
    text = json.dumps(body, ensure_ascii=False, default=str)
    return any(form in text for form in FORMS)


async def test_no_non_physician_sees_a_protected_identity_on_any_read_route(
        stack: FkStack) -> None:
    case_id = await protected_case(stack)
    routes = read_routes(stack)
    assert {"/cases/{case_id}", "/cases/{case_id}/events", "/cases/{case_id}/access-log"} <= set(routes)
    seen_by_physician = []
    for role in READERS:
        for path in [*routes, "/cases"]:
            url = path.format(case_id=case_id)
            response = await stack.http.get(url, headers=stack.headers(role))
            if response.status_code == 403:  # the role may not read this route at all
                continue
            assert response.status_code == 200, (role, url, response.text)
            if role == "physician":
                seen_by_physician.append(leaks(response.json()))
            else:
                assert not leaks(response.json()), (role, url, response.text)
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
            headers = stack.headers(role, ("vc-syd",))
            if role == "ops":
                continue  # ops see every unit
            theirs = await stack.http.get(path.format(case_id=case_id), headers=headers)
            none = await stack.http.get(path.format(case_id=missing), headers=headers)
            if none.status_code == 403:
                assert theirs.status_code == 403
                continue
            assert theirs.status_code == none.status_code == 404, (path, theirs.text)
            assert theirs.json()["detail"].replace(case_id, "X") == \
                none.json()["detail"].replace(missing, "X")

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
