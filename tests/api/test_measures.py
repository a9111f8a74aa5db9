"""Follow-up measures and KVÅ registrations through the API, on the time-skipping server.

Each test works at units of its own (a fresh suffix), so the figures are exactly its cases'.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from domain.calendar import STOCKHOLM
from store.queries import case_events
from tests.api.conftest import Api

WOMAN_1 = "19800101-2387"  # 9th digit of the 10-digit form even: kvinna
WOMAN_2 = "19121212-1220"
MAN = "19121212-1212"  # odd: man

PLAN = {"assessment": "Utmattning", "goals": ["Åter i arbete 50 %"],
        "sick_leave": "100 % fyra veckor", "return_to_work": "Upptrappning"}


def unit(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def today(api: Api) -> date:
    return (await api.env.get_current_time()).astimezone(STOCKHOLM).date()


def certificate(cid: str, start: date, *periods: tuple[int, int], issued: date,
                **extra: Any) -> dict[str, Any]:
    return {
        "certificate_id": cid,
        "issued_at": datetime.combine(issued, datetime.min.time(), STOCKHOLM).replace(
            hour=9).isoformat(),
        "issued_by": "dr-anna", "diagnoses": [{"code": "F43.8A"}],
        "periods": [{"grade": 100, "start": str(start + timedelta(days=first - 1)),
                     "end": str(start + timedelta(days=last - 1))} for first, last in periods],
        "motivation_early_start": "Bedömd per telefon dag 1", **extra,
    }


async def open_case(api: Api, at: str, patient: str, days_ago: int = 0,
                    periods: tuple[tuple[int, int], ...] = ((1, 90),), **cert: Any) -> str:
    """A case at unit `at` with day 1 `days_ago` days back and one certificate."""
    now = await today(api)
    start = now - timedelta(days=days_ago)
    headers = api.headers(units=(at,))
    opened = await api.http.post("/cases", headers=headers, json={
        "patient_id": patient, "unit_id": at, "sick_period_start": str(start),
        "employer_name": "Verkstaden AB"})
    assert opened.status_code == 201, opened.text
    case_id: str = opened.json()["case_id"]
    recorded = await api.http.post(f"/cases/{case_id}/certificates", headers=headers, json={
        "certificate": certificate(f"{case_id}-c1", start, *periods, issued=now, **cert)})
    assert recorded.status_code == 200, recorded.text
    return case_id


async def post(api: Api, at: str, path: str, body: dict[str, Any],
               role: str = "physician") -> None:
    answer = await api.http.post(path, headers=api.headers(role, (at,)), json=body)
    assert answer.status_code == 200, answer.text


async def wait_for(api: Api, case_id: str, kind: str) -> None:
    """The worker runs past milestones on its own: wait until it recorded `kind`."""
    async with asyncio.timeout(30):
        while kind not in [e.type for e in await case_events(api.store.pool, case_id)]:
            await asyncio.sleep(0.05)


def pair(share: dict[str, Any]) -> tuple[int, int]:
    return share["numerator"], share["denominator"]


async def measures(api: Api, at: str | None, start: date, end: date,
                   path: str = "/measures") -> dict[str, Any]:
    headers = api.headers("ops", ()) if at is None else api.headers("coordinator", (at,))
    params = {"from": str(start), "to": str(end), **({"unit": at} if at else {})}
    answer = await api.http.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_every_share_by_sex_and_by_unit_and_kva_counts(api: Api) -> None:
    north, south = unit("vc-nord"), unit("vc-sod")
    woman_with_plan = await open_case(api, north, WOMAN_1)
    await open_case(api, north, WOMAN_2)
    man = await open_case(api, north, MAN)
    await open_case(api, south, WOMAN_1)
    now = await today(api)
    for case_id in (woman_with_plan, man):
        await post(api, north, f"/cases/{case_id}/plan",
                   {"plan": {**PLAN, "follow_up_date": str(now + timedelta(days=14))}})
    await post(api, north, f"/cases/{man}/plan/follow-ups", {"followed_up_on": str(now)})
    await post(api, north, f"/cases/{man}/consents",
               {"recipient": "coordinator", "purpose": "coordination"}, "coordinator")
    await post(api, north, f"/cases/{man}/coordination",
               {"action": "perform", "kind": "internal", "performed_on": str(now)}, "coordinator")

    m = await measures(api, north, now, now)
    # two women and a man at the unit, one woman and the man with a plan
    assert pair(m["with_plan"]) == (2, 3)
    assert {k: pair(v) for k, v in m["with_plan"]["by_sex"].items()} == {
        "kvinna": (1, 2), "man": (1, 1)}
    assert m["with_plan"]["by_sex"]["kvinna"]["share"] == 0.5
    assert {k: pair(v) for k, v in m["plan_followed_up"]["by_sex"].items()} == {
        "kvinna": (0, 1), "man": (1, 1)}
    assert {k: pair(v) for k, v in m["coordination_given"]["by_sex"].items()} == {
        "kvinna": (0, 2), "man": (1, 1)}
    assert {k: pair(v) for k, v in m["komplt_per_certificate"]["by_sex"].items()} == {
        "kvinna": (0, 2), "man": (0, 1)}
    assert m["with_plan"]["by_unit"] == {north: m["with_plan"]["by_sex"]["kvinna"] | {
        "numerator": 2, "denominator": 3, "share": 0.6667}}

    # ops sees every unit: each with its own numerator and denominator
    everywhere = await measures(api, None, now, now)
    assert pair(everywhere["with_plan"]["by_unit"][north]) == (2, 3)
    assert pair(everywhere["with_plan"]["by_unit"][south]) == (0, 1)
    assert pair(everywhere["coordination_given"]["by_unit"][south]) == (0, 1)

    # KVÅ: what was performed today at the unit, per code, by sex and unit
    kva = await measures(api, north, now, now, "/measures/kva")
    assert kva["codes"]["DV077"] == {"total": 2, "by_sex": {"kvinna": 1, "man": 1},
                                     "by_unit": {north: 2}}
    assert kva["codes"]["AW026"] == {"total": 1, "by_sex": {"kvinna": 0, "man": 1},
                                     "by_unit": {north: 1}}
    assert kva["codes"]["GC001"]["by_sex"] == {"kvinna": 0, "man": 1}
    yesterday = await measures(api, north, now - timedelta(days=1), now - timedelta(days=1),
                               "/measures/kva")
    assert all(count["total"] == 0 for count in yesterday["codes"].values())
    elsewhere = await api.http.get("/measures/kva", headers=api.headers("coordinator", (south,)),
                                   params={"from": str(now), "to": str(now), "unit": north})
    assert elsewhere.status_code == 422  # as GET /measures: one of your own units
    assert elsewhere.json()["errors"][0]["rule"] == "unit_required"


async def test_over_30_days_counts_calendar_days_from_day_1(api: Api) -> None:
    # certificates on days 1-25 and 29-33: 30 days on sick leave, but past day 30 from day 1,
    # so the day-30 milestone hands the case to the coordinator, and the measure counts it
    at = unit("vc-30")
    case_id = await open_case(api, at, MAN, days_ago=40, periods=((1, 25), (29, 33)))
    await wait_for(api, case_id, "ReferredToCoordinator")
    now = await today(api)
    m = await measures(api, at, now - timedelta(days=40), now)
    assert m["ongoing"]["by_length"] == {"15-30": 1}  # length counts certificate days
    assert pair(m["over_30_days_to_coordinator"]) == (1, 1)
    assert pair(m["over_30_days_to_coordinator"]["by_sex"]["man"]) == (1, 1)


async def test_the_employer_plan_group_leaves_out_job_seekers(api: Api) -> None:
    at = unit("vc-ag")
    await open_case(api, at, WOMAN_1, days_ago=35)  # employed, 90 days, no employer plan
    await open_case(api, at, MAN, days_ago=35, occupations=["ARBETSSOKANDE"])
    now = await today(api)
    m = await measures(api, at, now - timedelta(days=35), now)
    assert m["ongoing"]["total"] == 2
    assert pair(m["employer_plan_by_day_30"]) == (0, 1)  # the job seeker has no employer
    assert {k: pair(v) for k, v in m["employer_plan_by_day_30"]["by_sex"].items()} == {
        "kvinna": (0, 1), "man": (0, 0)}
    assert m["employer_plan_by_day_30"]["by_sex"]["man"]["share"] is None


async def test_a_cases_kva_registrations_are_what_a_journal_must_register(api: Api) -> None:
    at = unit("vc-kva")
    case_id = await open_case(api, at, WOMAN_1)
    now = await today(api)
    await post(api, at, f"/cases/{case_id}/plan",
               {"plan": {**PLAN, "follow_up_date": str(now + timedelta(days=14))}})
    await post(api, at, f"/cases/{case_id}/plan/follow-ups", {"followed_up_on": str(now)})
    for recipient in ("coordinator", "fk", "social_services", "multimodal_team"):
        await post(api, at, f"/cases/{case_id}/consents",
                   {"recipient": recipient, "purpose": "coordination"}, "coordinator")
    coordination = f"/cases/{case_id}/coordination"
    for body in ({"action": "perform", "kind": "contact_fk", "performed_on": str(now)},
                 {"action": "mapping_conversation", "held_on": str(now)},
                 {"action": "refer_to_multimodal_team"},
                 {"action": "multimodal_team_meeting", "held_on": str(now),
                  "participants": ["läkare", "fysioterapeut"]},
                 {"action": "reconciliation_meeting", "held_on": str(now),
                  "participants": ["FK", "arbetsgivare"]},
                 {"action": "joint_individual_plan", "agreed_on": str(now),
                  "participants": ["socialtjänsten"]}):
        await post(api, at, coordination, body, "coordinator")

    answer = await api.http.get(f"/cases/{case_id}/kva", headers=api.headers(units=(at,)))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["case_id"] == case_id and got["unit_id"] == at
    assert [(k["code"], k["occasion"]) for k in got["items"]] == [
        ("DV077", "plan_established"),
        ("AW026", "plan_followed_up"),
        ("GC001", "coordination_measure"),
        ("GC001", "mapping_conversation"),
        ("GC001", "multimodal_team_meeting"),
        ("GC001", "reconciliation_meeting"),
        ("GC001", "joint_individual_plan"),
    ]
    assert all(k["performed_on"] == str(now) for k in got["items"])
    assert got["items"][0]["recorded_by"] == "physician-1"
    assert got["items"][2]["recorded_by"] == "coordinator-1"
    assert got["items"][2]["coordination_kind"] == "contact_fk"
    history = {e.event_id: e.type for e in await case_events(api.store.pool, case_id)}
    assert [history[k["event_id"]] for k in got["items"]] == [k["event_type"] for k in got["items"]]

    # the same occasions counted for the unit: one GC001 per occasion
    kva = await measures(api, at, now, now, "/measures/kva")
    assert {code: c["total"] for code, c in kva["codes"].items()} == {
        "DV077": 1, "AW026": 1, "GC001": 5}

    # a read of the case: in the PDL log; unseen at other units; not for the FK gateway
    logged = await api.store.pool.fetch(
        "SELECT actor_id, action FROM access_log WHERE case_id = $1", case_id)
    assert [(r["actor_id"], r["action"]) for r in logged] == [("physician-1", "kva")]
    other = await api.http.get(f"/cases/{case_id}/kva", headers=api.headers(units=("vc-annan",)))
    assert other.status_code == 404
    gateway = await api.http.get(f"/cases/{case_id}/kva", headers=api.headers("fk_gateway", (at,)))
    assert gateway.status_code == 403
