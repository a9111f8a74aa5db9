"""GET /cases takes the console's two newer filters too: the physician who issued a certificate,
and the coordination status (or none set yet)."""

from __future__ import annotations

import uuid

from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, certificate, today


async def open_case(api: Api, physician: str) -> str:
    start = await today(api)
    cert = {**certificate(start, 1, 30, issued=start, cid=f"c-{uuid.uuid4().hex[:10]}"),
            "issued_by": physician}
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start),
        "certificate": cert})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


async def listed(api: Api, **params: str) -> set[str]:
    page = await api.http.get("/cases", params={"limit": "500", **params},
                              headers=api.headers("coordinator"))
    assert page.status_code == 200, page.text
    return {row["case_id"] for row in page.json()["items"]}


async def test_cases_by_the_physician_and_by_coordination_status(api: Api) -> None:
    doctor = f"dr-{uuid.uuid4().hex[:6]}"
    theirs, other = await open_case(api, doctor), await open_case(api, "dr-someone-else")
    assert await listed(api, physician=doctor) == {theirs}

    consent = await api.http.post(f"/cases/{theirs}/consents", headers=api.headers(), json={
        "recipient": "coordinator", "purpose": "coordination"})
    assert consent.status_code == 200, consent.text
    status = await api.http.post(f"/cases/{theirs}/coordination", headers=api.headers(),
                                 json={"action": "set_status", "status": "active"})
    assert status.status_code == 200, status.text
    active = await listed(api, coordination_status="active")
    unset = await listed(api, coordination_status="unset")
    assert theirs in active and theirs not in unset
    assert other in unset and other not in active

    refused = await api.http.get("/cases", params={"coordination_status": "busy"},
                                 headers=api.headers("coordinator"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "coordination_status"
