"""Finding a patient by identity number, and the patient's whole access log (issue #15,
finding 5): PDL-logged, scoped to the reader's units, the number in any accepted form."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_end_to_end import today

PATIENT = "19121212-1212"
OTHER = "198112189876"
THIRD = "19850101-1236"  # each test its own patient: the module's tests share a database


async def open_at(api: Api, unit: str, patient: str) -> str:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(units=(unit,)), json={
        "patient_id": patient, "unit_id": unit, "sick_period_start": str(start)})
    assert opened.status_code == 201, opened.text
    return str(opened.json()["case_id"])


async def test_a_patients_cases_are_found_at_your_units_and_the_search_is_logged(api: Api) -> None:
    north = [await open_at(api, "vc-norr", PATIENT), await open_at(api, "vc-norr", PATIENT)]
    south = await open_at(api, "vc-syd", PATIENT)
    await open_at(api, "vc-norr", OTHER)
    token = api.token("coordinator", ("vc-norr",), "rk-sok")
    found = await api.http.get("/cases", params={"patient_id": "191212121212"}, headers={
        "Authorization": f"Bearer {token}", "X-Purpose": "samordning"})
    assert found.status_code == 200, found.text
    assert sorted(r["case_id"] for r in found.json()["items"]) == sorted(north)
    logged = await api.store.pool.fetch(
        "SELECT case_id, action, purpose FROM access_log WHERE actor_id = 'rk-sok'")
    assert sorted(tuple(r) for r in logged) == sorted((c, "find", "samordning") for c in north)

    everywhere = await api.http.get("/cases", params={"patient_id": PATIENT},
                                    headers=api.headers("ops", ()))
    assert sorted(r["case_id"] for r in everywhere.json()["items"]) == sorted([*north, south])

    bad = await api.http.get("/cases", params={"patient_id": "19121212-1213"},
                             headers=api.headers("coordinator"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "patient_id"
    assert "check digit" in bad.json()["errors"][0]["message"]


async def test_the_patients_access_log_across_cases_for_ops_only(api: Api) -> None:
    case_id = await open_at(api, "vc-norr", THIRD)
    await api.http.get(f"/cases/{case_id}", headers=api.headers("physician"))
    refused = await api.http.get(f"/patients/{THIRD}/access-log",
                                 headers=api.headers("coordinator"))
    assert refused.status_code == 403
    answer = await api.http.get(f"/patients/{THIRD}/access-log", headers={
        "Authorization": f"Bearer {api.token('ops', (), 'ops-pdl')}",
        "X-Purpose": "patientens begaran"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert case_id in body["cases"]
    readers = {(e["case_id"], e["actor_id"], e["action"]) for e in body["items"]}
    assert (case_id, "physician-1", "summary") in readers
    assert (case_id, "ops-pdl", "access_log") in readers  # the answer itself is a read
    assert all(e["case_id"] in body["cases"] for e in body["items"])
    other = await open_at(api, "vc-norr", OTHER)
    assert other not in body["cases"]
