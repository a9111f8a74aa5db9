"""Rehabiliteringskedjan across sick periods through the API and the workflow: a new case of a
patient whose earlier sick period ended less than 90 days before day 1 continues its chain (the
server looks the earlier case up in the index of cases by patient), so chain day 90 comes on the
new period's own day 30; 90 days apart, the chain starts again at day 1."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from domain.calendar import start_of
from store.projections import CaseSummaryProjection
from store.subscription import run_once
from tests.api.conftest import Api
from tests.api.test_end_to_end import certificate, today
from tests.console.conftest import wait_for_event
from tests.domain.support import make_pnr

MOTIVATION = {"motivation_early_start": "Bedömd per telefon dag 1"}


def patient() -> str:
    """A patient of this test alone (the module's database is shared)."""
    return make_pnr(date(1975, 4, 12), int(uuid.uuid4().hex[:6], 16) % 1000)


async def open_case(api: Api, pnr: str, start: date, last_day: int, **extra: Any) -> str:
    """A case from `start` with one certificate for days 1..`last_day`, issued today."""
    issued = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": pnr, "unit_id": "vc-norr", "sick_period_start": str(start),
        "employer_name": "Verkstaden AB",
        "certificate": certificate(start, 1, last_day, issued=issued,
                                   cid=f"c-{uuid.uuid4().hex[:10]}", **MOTIVATION), **extra})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


async def summary(api: Api, case_id: str) -> dict[str, Any]:
    read = await api.http.get(f"/cases/{case_id}", headers=api.headers())
    assert read.status_code == 200, read.text
    return dict(read.json())


async def caught_up(api: Api, case_id: str, milestone: int) -> dict[str, Any]:
    """The summary once milestone `milestone` is reached (the workflow fires the timers of a
    backdated case on its own, after the open returned) and the projection runner has run."""
    await wait_for_event(api, case_id, "MilestoneReached", day=milestone)
    await run_once(api.store, CaseSummaryProjection())
    return await summary(api, case_id)


async def earlier_period(api: Api, pnr: str) -> tuple[str, date]:
    """An earlier case with 60 days of sick leave, long over; its id and last day."""
    start = await today(api) - timedelta(days=200)
    return await open_case(api, pnr, start, 60), start + timedelta(days=59)


async def test_a_period_89_days_after_the_last_continues_its_chain(api: Api) -> None:
    pnr = patient()
    earlier_id, earlier_end = await earlier_period(api, pnr)
    start = earlier_end + timedelta(days=90)  # 89 days between
    case_id = await open_case(api, pnr, start, 80)

    chain = (await summary(api, case_id))["rehab_chain"]
    assert chain["linked_case_id"] == earlier_id
    assert chain["days_before"] == 60
    assert chain["chain_day"] == 60 + (await today(api) - start).days + 1
    # the case opened backdated (own day 52): chain day 90 was its own day 30 and fired at once,
    # after the sick-pay day 30; day 60 stays the sick period's own day 60
    read = await caught_up(api, case_id, 90)
    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    types = [(e["type"], e["data"].get("day"), e["data"].get("kind")) for e in history["items"]]
    reached = [day for kind, day, _ in types if kind == "MilestoneReached"]
    assert reached == [8, 14, 30, 90]
    assert ("RehabChainLinked", None, None) in types
    assert ("NotificationRequested", None, "rehab_chain_day_91") in types
    assert read["next_milestone_day"] == 60
    assert datetime.fromisoformat(read["next_milestone_at"]) == start_of(start + timedelta(days=59))


async def test_a_period_90_days_after_the_last_starts_a_new_chain(api: Api) -> None:
    pnr = patient()
    _, earlier_end = await earlier_period(api, pnr)
    start = earlier_end + timedelta(days=91)  # 90 days between
    case_id = await open_case(api, pnr, start, 120)

    read = await caught_up(api, case_id, 30)
    chain = read["rehab_chain"]
    assert chain == {"linked_case_id": None, "days_before": 0,
                     "chain_day": (await today(api) - start).days + 1}
    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    assert "RehabChainLinked" not in {e["type"] for e in history["items"]}
    assert read["next_milestone_day"] == 60
    assert datetime.fromisoformat(read["next_milestone_at"]) == start_of(start + timedelta(days=59))


async def test_correcting_day_1_looks_the_chain_up_again(api: Api) -> None:
    pnr = patient()
    earlier_id, earlier_end = await earlier_period(api, pnr)
    start = earlier_end + timedelta(days=95)  # 94 days between: no chain
    case_id = await open_case(api, pnr, start, 80)
    assert (await summary(api, case_id))["rehab_chain"]["linked_case_id"] is None

    corrected = start - timedelta(days=10)  # now 84 days between
    moved = await api.http.post(f"/cases/{case_id}/sick-period-start", headers=api.headers(),
                                json={"sick_period_start": str(corrected), "reason": "journal"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["events"][:2] == ["SickPeriodStartCorrected", "RehabChainLinked"]
    chain = (await summary(api, case_id))["rehab_chain"]
    assert (chain["linked_case_id"], chain["days_before"]) == (earlier_id, 60)


async def test_a_client_cannot_set_the_chain(api: Api) -> None:
    pnr = patient()
    start = await today(api) - timedelta(days=3)
    refused = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": pnr, "unit_id": "vc-norr", "sick_period_start": str(start),
        "rehab_chain": {"earlier_case_id": "x", "earlier_sick_period_end": "2020-01-01",
                        "chain_days_before": 300}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "rehab_chain"
