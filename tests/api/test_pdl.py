"""Every read of patient data by a person is in the PDL log (issue #15, finding 4): the list
shown, the access log itself; a purpose must say something."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, today


async def entries(api: Api, actor: str) -> list[tuple[str, str, str]]:
    rows = await api.store.pool.fetch(
        "SELECT case_id, action, purpose FROM access_log WHERE actor_id = $1 ORDER BY seq", actor)
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_a_list_is_a_read_of_every_case_shown(api: Api) -> None:
    start = await today(api)
    ids = []
    for _ in range(3):
        opened = await api.http.post("/cases", headers=api.headers(units=("vc-lista",)), json={
            "patient_id": PNR, "unit_id": "vc-lista", "sick_period_start": str(start)})
        ids.append(opened.json()["case_id"])
    headers = {"Authorization": f"Bearer {api.token('coordinator', ('vc-lista',), 'rk-lista')}",
               "X-Purpose": "veckogenomgang"}
    listed = await api.http.get("/cases", headers=headers, params={"limit": 2})
    assert listed.status_code == 200, listed.text
    shown = [r["case_id"] for r in listed.json()["items"]]
    assert len(shown) == 2
    assert sorted(await entries(api, "rk-lista")) == sorted(
        (c, "list", "veckogenomgang") for c in shown)


async def test_a_blank_purpose_is_refused_and_nothing_is_read(api: Api) -> None:
    token = api.token("coordinator", ("vc-norr",), "rk-blank")
    for path in ("/cases", "/cases/whatever", "/cases/whatever/events", "/cases/whatever/kva"):
        refused = await api.http.get(path, headers={"Authorization": f"Bearer {token}",
                                                    "X-Purpose": ""})
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["errors"][0] == {
            "field": "X-Purpose", "rule": "purpose_required",
            "message": "the purpose of a read is required: 1-200 printable characters"}
    assert await entries(api, "rk-blank") == []


async def test_reading_the_access_log_is_logged(api: Api) -> None:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)})
    case_id = opened.json()["case_id"]
    token = api.token("ops", (), "ops-granskare")
    read = await api.http.get(f"/cases/{case_id}/access-log", headers={
        "Authorization": f"Bearer {token}", "X-Purpose": "patientens begaran"})
    assert read.status_code == 200
    assert await entries(api, "ops-granskare") == [(case_id, "access_log", "patientens begaran")]
