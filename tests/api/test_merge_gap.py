"""SJUKFALL_MERGE_GAP_DAYS end to end: a region that sets 14 gets 14 for every case it opens
(unless the request names its own gap), and the gap decides what one sick period is."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from api.commands import workflow_id
from domain.calendar import STOCKHOLM
from tests.api.conftest import Api, serve_api
from tests.api.test_end_to_end import PNR, certificate, today


@pytest.fixture(scope="module")
async def region_api(time_skipping_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Api]:
    async with serve_api(time_skipping_env, database_url, merge_gap_days=14) as running:
        yield running


def unique(cid: str) -> str:
    """Certificate ids are unique across cases, as Intygstjänsten's are (tests share a database)."""
    return f"{cid}-{uuid.uuid4().hex[:8]}"


async def open_with_certificate(api: Api, **extra: object) -> str:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start),
        "certificate": certificate(start, 1, 10, issued=start, cid=unique("c1")), **extra})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


async def opened_gap(api: Api, case_id: str) -> int:
    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    assert history["items"][0]["type"] == "CaseOpened"
    return int(history["items"][0]["data"]["merge_gap_days"])


async def test_the_regions_gap_is_the_default_for_new_cases(region_api: Api) -> None:
    case_id = await open_with_certificate(region_api)
    assert await opened_gap(region_api, case_id) == 14
    start = await today(region_api)
    # days 11-21 without a certificate (11 days): within 14, so still the same sick period
    later = await region_api.http.post(
        f"/cases/{case_id}/certificates", headers=region_api.headers(),
        json={"certificate": certificate(start, 22, 30, issued=start, cid=unique("c2"))})
    assert later.status_code == 200, later.text
    assert later.json()["events"][0] == "CertificateRecorded"


async def test_a_request_may_name_its_own_gap(region_api: Api) -> None:
    case_id = await open_with_certificate(region_api, merge_gap_days=5)
    assert await opened_gap(region_api, case_id) == 5
    start = await today(region_api)
    refused = await region_api.http.post(
        f"/cases/{case_id}/certificates", headers=region_api.headers(),
        json={"certificate": certificate(start, 22, 30, issued=start, cid=unique("c2"))})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["rule"] == "new_sick_period"


async def test_the_case_closes_only_when_the_regions_gap_has_passed(region_api: Api) -> None:
    case_id = await open_with_certificate(region_api)
    start = await today(region_api)
    handle = region_api.env.client.get_workflow_handle(workflow_id(case_id))
    async with region_api.env.time_skipping_unlocked():  # type: ignore[attr-defined]
        await asyncio.wait_for(handle.result(), timeout=120)
    history = (await region_api.http.get(f"/cases/{case_id}/events",
                                         headers=region_api.headers())).json()
    closed = history["items"][-1]
    assert closed["type"] == "CaseClosed"
    # last day 10 (E), gap 14: a certificate starting on E+g+1 (day 25) still merges, so it
    # closes as E+g+2 (day 26) begins (DOMAIN.md, revised)
    closed_at = datetime.fromisoformat(closed["data"]["occurred_at"])
    assert closed_at.astimezone(STOCKHOLM).date() == start + timedelta(days=25)


async def test_the_default_stays_five_days_where_the_region_sets_nothing(api: Api) -> None:
    case_id = await open_with_certificate(api)
    assert await opened_gap(api, case_id) == 5
