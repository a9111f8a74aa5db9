"""Promises of the API that had no test: paging the history, a closed case's id, readiness,
and protected identity (skyddad identitet) on the ways a case's data leaves the API."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from infra.embedded import free_port
from infra.settings import Settings
from store.eventstore import EventStore
from tests.api.conftest import JWT_SECRET, Api
from tests.api.test_end_to_end import PNR, certificate, today


async def open_case(api: Api, **extra: object) -> str:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start), **extra})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


async def test_the_history_pages_by_version_without_gaps_or_repeats(api: Api) -> None:
    case_id = await open_case(api)
    for recipient in ("fk", "employer", "af"):
        given = await api.http.post(f"/cases/{case_id}/consents", headers=api.headers(),
                                    json={"recipient": recipient, "purpose": "contact"})
        assert given.status_code == 200, given.text
    whole = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    assert whole["next_from_version"] is None
    total = len(whole["items"])
    assert total >= 4

    pages, from_version = [], 0
    while from_version is not None:
        page = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers(),
                                   params={"from_version": from_version, "limit": 2})).json()
        assert len(page["items"]) <= 2
        pages.append([e["version"] for e in page["items"]])
        from_version = page["next_from_version"]
    assert [v for page in pages for v in page] == list(range(1, total + 1))
    assert all(len(page) == 2 for page in pages[:-1])
    assert pages[-1] and len(pages) == (total + 1) // 2
    beyond = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers(),
                                 params={"from_version": total})).json()
    assert beyond["items"] == [] and beyond["next_from_version"] is None


async def test_a_closed_cases_id_never_starts_a_second_workflow(api: Api) -> None:
    case_id = await open_case(api, case_id="closed-once")
    closed = await api.http.post(f"/cases/{case_id}/close", headers=api.headers(),
                                 json={"reason": "opened_in_error"})
    assert closed.status_code == 200, closed.text
    first_run = await api.env.client.get_workflow_handle(f"case-{case_id}").fetch_history()
    start = await today(api)
    again = await api.http.post("/cases", headers=api.headers(), json={
        "case_id": case_id, "patient_id": PNR, "unit_id": "vc-norr",
        "sick_period_start": str(start + timedelta(days=1))})
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["rule"] == "case_closed"
    after = await api.env.client.get_workflow_handle(f"case-{case_id}").fetch_history()
    assert after.events == first_run.events  # still the one run, completed when it closed
    assert after.events[-1].HasField("workflow_execution_completed_event_attributes")
    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    assert [e["type"] for e in history["items"]].count("CaseOpened") == 1


async def test_readyz_answers_503_naming_what_is_down(api: Api, database_url: str) -> None:
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "postgres": "ok", "temporal": "ok"}

    # an app whose database pool is closed and whose Temporal frontend does not answer
    store = await EventStore.connect(database_url)
    await store.close()
    nobody = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True,
                                  data_converter=pydantic_data_converter)
    app = create_app(Settings(jwt_secret=JWT_SECRET), client=nobody, store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        down = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "not ready"
    assert body["postgres"].startswith("unavailable") and body["temporal"].startswith("unavailable")
    assert alive.status_code == 200  # alive, only not ready: do not restart it for this


async def test_protected_identity_is_shown_to_physicians_only(api: Api) -> None:
    case_id = await open_case(api, protected_identity=True,
                              certificate=certificate(await today(api), 1, 10,
                                                      issued=await today(api)))
    digits = PNR.replace("-", "")
    physician = (await api.http.get(f"/cases/{case_id}", headers=api.headers())).json()
    assert physician["patient_id"] == digits
    for role, units in (("coordinator", ("vc-norr",)), ("ops", ())):
        headers = api.headers(role, units)
        summary = await api.http.get(f"/cases/{case_id}", headers=headers)
        assert summary.status_code == 200
        assert summary.json()["patient_id"] is None
        listed = await api.http.get("/cases", headers=headers, params={"q": case_id})
        history = await api.http.get(f"/cases/{case_id}/events", headers=headers)
        assert listed.status_code == history.status_code == 200
        for answer in (summary, listed, history):
            text = json.dumps(answer.json())
            assert digits not in text and PNR not in text and digits[2:] not in text, (
                role, str(answer.url), text[:600])
    # an unprotected patient's number is shown to the coordinator as usual
    plain = await open_case(api)
    seen = (await api.http.get(f"/cases/{plain}", headers=api.headers("coordinator"))).json()
    assert seen["patient_id"] == digits
