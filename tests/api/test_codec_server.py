"""The codec server for the Temporal UI and CLI (issue #15): ops only, every decode PDL-logged,
answered to the UI's origin only."""

from __future__ import annotations

import base64
import json

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.commands import workflow_id
from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, today

PLAIN_PNR = PNR.replace("-", "")


async def opened_case(api: Api) -> str:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


async def test_ops_decode_a_cases_history_and_the_read_is_logged(api: Api) -> None:
    case_id = await opened_case(api)
    plain = await Client.connect(api.env.client.service_client.config.target_host,
                                 namespace=api.env.client.namespace,
                                 data_converter=pydantic_data_converter)
    history = json.loads((await plain.get_workflow_handle(workflow_id(case_id)).fetch_history())
                         .to_json())
    sealed = _payloads(history)
    assert sealed and not any(PLAIN_PNR in base64.b64decode(p["data"]).decode("latin-1")
                              for p in sealed)
    body = {"payloads": sealed}

    assert (await api.http.post("/codec/decode", json=body)).status_code == 401
    refused = await api.http.post("/codec/decode", json=body, headers=api.headers("physician"))
    assert refused.status_code == 403

    answer = await api.http.post("/codec/decode", json=body,
                                 headers=api.headers("ops", (), **{"X-Purpose": "incident 7"}))
    assert answer.status_code == 200, answer.text
    opened = [base64.b64decode(p.get("data", "")).decode() for p in answer.json()["payloads"]]
    assert any(PLAIN_PNR in text for text in opened)
    log = await api.store.pool.fetch(
        "SELECT actor_id, action, purpose FROM access_log WHERE case_id = $1", case_id)
    assert [tuple(r) for r in log] == [("ops-1", "codec:decode", "incident 7")]

    # Encode is the inverse, and what it seals the codec opens again.
    encoded = await api.http.post("/codec/encode", json=answer.json(), headers=api.headers("ops"))
    again = await api.http.post("/codec/decode", json=encoded.json(), headers=api.headers("ops"))
    assert again.json() == answer.json()


def _payloads(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            found.append(node)
        for value in node.values():
            found += _payloads(value)
    elif isinstance(node, list):
        for value in node:
            found += _payloads(value)
    return found


async def test_browsers_may_call_it_from_the_temporal_ui_only(api: Api) -> None:
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    ui = await api.http.options("/codec/decode", headers={"Origin": "http://localhost:8233", **ask})
    assert ui.status_code == 200
    assert ui.headers["access-control-allow-origin"] == "http://localhost:8233"
    evil = await api.http.options("/codec/decode", headers={"Origin": "https://evil.example", **ask})
    assert "access-control-allow-origin" not in evil.headers


async def test_a_malformed_body_is_a_clear_error(api: Api) -> None:
    bad = await api.http.post("/codec/decode", json={"payloads": [{"data": "not base64!"}]},
                              headers=api.headers("ops"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["rule"] == "payloads_json"
