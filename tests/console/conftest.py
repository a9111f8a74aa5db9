"""The console is served by the real API (tests/api/conftest.py: uvicorn, a worker on the
time-skipping Temporal server, PostgreSQL); these helpers sign in and make cases through it."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from domain.calendar import STOCKHOLM
from store.queries import case_events
from tests.api.conftest import Api, api  # noqa: F401  (the running stack, one per module)


async def today(api: Api) -> date:  # noqa: F811
    return (await api.env.get_current_time()).astimezone(STOCKHOLM).date()


async def open_backdated_case(api: Api, case_id: str, days_ago: int, unit: str = "vc-norr",  # noqa: F811
                              patient: str = "19121212-1212", protected: bool = False,
                              last_day: int = 90, physician: str = "dr-anna") -> str:
    """A case opened `days_ago` days after its day 1, with a certificate from day 1 to
    `last_day` at 100 %, through the JSON API as a physician of `unit` would."""
    now = await today(api)
    start = now - timedelta(days=days_ago)
    headers = api.headers("physician", (unit,))
    opened = await api.http.post("/cases", headers=headers, json={
        "case_id": case_id, "patient_id": patient, "unit_id": unit,
        "sick_period_start": str(start), "employer_name": "Verkstaden AB",
        "protected_identity": protected})
    assert opened.status_code == 201, opened.text
    certificate = {
        "certificate_id": f"{case_id}-c1",
        "issued_at": datetime.combine(now, datetime.min.time(), STOCKHOLM).replace(hour=9).isoformat(),
        "issued_by": physician, "diagnoses": [{"code": "F43.8A"}],
        "periods": [{"grade": 100, "start": str(start), "end": str(start + timedelta(days=last_day - 1))}],
        "motivation_early_start": "Bedömd per telefon dag 1",
    }
    recorded = await api.http.post(f"/cases/{case_id}/certificates", headers=headers,
                                   json={"certificate": certificate})
    assert recorded.status_code == 200, recorded.text
    return case_id


async def wait_for_event(api: Api, case_id: str, kind: str, **fields: Any) -> None:  # noqa: F811
    """The worker runs the case's milestones on its own: wait until it recorded `kind`."""
    async with asyncio.timeout(30):
        while True:
            for e in await case_events(api.store.pool, case_id):
                if e.type == kind and all(e.data.get(k) == v for k, v in fields.items()):
                    return
            await asyncio.sleep(0.05)


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def signed_in(api: Api, role: str, units: str, sub: str,  # noqa: F811
                    purpose: str = "vård och behandling") -> httpx.AsyncClient:
    """An HTTP client with a console session, signed in through the dev sign-in form."""
    client = httpx.AsyncClient(base_url=api.url, timeout=30)
    form = await client.get("/console/sign-in")
    csrf = CSRF.search(form.text)
    assert csrf, form.text
    done = await client.post("/console/sign-in", data={
        "csrf": csrf.group(1), "sub": sub, "role": role, "units": units, "purpose": purpose,
        "next": "/console/cases"})
    assert done.status_code == 303, done.text
    return client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)
