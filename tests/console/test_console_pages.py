"""The console's pages over HTTP against the real stack: sessions and CSRF, the API's rules
(unit scope, masking, PDL entries), commands through the API's path with refusals in Swedish."""

from __future__ import annotations

import csv
import io

from store.queries import case_events
from tests.api.conftest import Api
from tests.console.conftest import csrf_of, open_backdated_case, signed_in, today, wait_for_event

PROTECTED = "19800101-2387"


async def access_entries(api: Api, case_id: str) -> list[tuple[str, str]]:
    rows = await api.store.pool.fetch(
        "SELECT actor_id, action FROM access_log WHERE case_id = $1 ORDER BY id", case_id)
    return [(r["actor_id"], r["action"]) for r in rows]


async def test_no_session_no_page_and_the_sign_in_form_needs_its_csrf_value(api: Api) -> None:
    anonymous = await api.http.get("/console/cases")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/sign-in")
    forged = await api.http.post("/console/sign-in", data={
        "sub": "mallory", "role": "ops", "units": "", "csrf": "guess"})
    assert forged.status_code == 403 and "sjukfall_console=" not in forged.headers.get("set-cookie", "")
    client = await signed_in(api, "coordinator", "vc-norr", "koord-1")
    cookie = client.cookies.jar
    session = next(c for c in cookie if c.name == "sjukfall_console")
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.get_nonstandard_attr("SameSite") == "strict"
    assert (await client.get("/console/cases")).status_code == 200
    await client.aclose()


async def test_the_list_is_the_apis_list_and_each_case_shown_is_a_read(api: Api) -> None:
    long = await open_backdated_case(api, "list-long", days_ago=40)
    short = await open_backdated_case(api, "list-short", days_ago=3, last_day=10)
    elsewhere = await open_backdated_case(api, "list-syd", days_ago=40, unit="vc-syd")
    client = await signed_in(api, "coordinator", "vc-norr", "koord-list")
    page = await client.get("/console/cases", params={"min_days": "30", "q": "list-"})
    assert page.status_code == 200
    assert long in page.text and short not in page.text and elsewhere not in page.text
    assert await access_entries(api, long) == [("koord-list", "list")]
    assert await access_entries(api, short) == []  # not shown, not read
    assert await access_entries(api, elsewhere) == []

    # htmx asks for the results alone
    partial = await client.get("/console/cases", params={"q": "list-"},
                               headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in partial.text and long in partial.text and short in partial.text

    exported = await client.get("/console/cases.csv", params={"min_days": "30", "q": "list-"})
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][0] == "Sjukfall" and [r[0] for r in rows[1:]] == [long]
    assert ("koord-list", "export") in await access_entries(api, long)

    # the physician on the certificate; the coordination status (or none set yet)
    by_bo = await open_backdated_case(api, "list-bo", days_ago=40, physician="dr-bo")
    page = await client.get("/console/cases", params={"physician": "dr-bo", "q": "list-"})
    assert by_bo in page.text and long not in page.text and short not in page.text
    status = await client.post(f"/console/cases/{by_bo}/actions/status", data={
        "csrf": csrf_of(page.text), "idempotency_key": "s1", "status": "active"})
    assert status.status_code == 303, status.text
    active = await client.get("/console/cases", params={"coordination_status": "active"})
    assert by_bo in active.text and long not in active.text
    unset = await client.get("/console/cases", params={"coordination_status": "unset", "q": "list-"})
    assert by_bo not in unset.text and long in unset.text

    bad = await client.get("/console/cases", params={"min_days": "många"})
    assert bad.status_code == 200 and "Längd från (dagar): ogiltigt värde." in bad.text
    await client.aclose()


async def test_another_units_case_is_answered_as_a_missing_one(api: Api) -> None:
    theirs = await open_backdated_case(api, "syd-case", days_ago=10, unit="vc-syd")
    client = await signed_in(api, "coordinator", "vc-norr", "koord-norr")
    other = await client.get(f"/console/cases/{theirs}")
    missing = await client.get("/console/cases/no-such-case")
    assert other.status_code == missing.status_code == 404
    assert other.text.replace(theirs, "X") == missing.text.replace("no-such-case", "X")
    refused = await client.post(f"/console/cases/{theirs}/actions/consent", data={
        "csrf": csrf_of(missing.text), "recipient": "employer", "purpose": "share_information"})
    assert refused.status_code == 404
    assert refused.text.replace(theirs, "X") == missing.text.replace("no-such-case", "X")
    assert await access_entries(api, theirs) == []
    await client.aclose()


async def test_protected_identity_is_masked_for_a_coordinator_and_shown_to_a_physician(api: Api) -> None:
    case_id = await open_backdated_case(api, "protected", days_ago=5, patient=PROTECTED,
                                        protected=True)
    coordinator = await signed_in(api, "coordinator", "vc-norr", "koord-p")
    seen = await coordinator.get(f"/console/cases/{case_id}")
    assert seen.status_code == 200
    digits = PROTECTED.replace("-", "")
    assert digits not in seen.text and PROTECTED not in seen.text and digits[2:] not in seen.text
    assert "[skyddad identitet]" in seen.text
    physician = await signed_in(api, "physician", "vc-norr", "dr-p")
    assert digits in (await physician.get(f"/console/cases/{case_id}")).text
    # the case page is the summary and the history, as the API logs them
    assert await access_entries(api, case_id) == [("koord-p", "summary"), ("koord-p", "events"),
                                                  ("dr-p", "summary"), ("dr-p", "events")]
    await coordinator.aclose()
    await physician.aclose()


async def test_actions_go_through_the_command_path_once_with_csrf_and_swedish_refusals(api: Api) -> None:
    case_id = await open_backdated_case(api, "actions", days_ago=35)
    await wait_for_event(api, case_id, "MilestoneReached", day=30)
    client = await signed_in(api, "coordinator", "vc-norr", "koord-a")
    page = await client.get(f"/console/cases/{case_id}")
    csrf = csrf_of(page.text)

    async def count(kind: str) -> int:
        return sum(e.type == kind for e in await case_events(api.store.pool, case_id))

    # no CSRF token: refused, nothing recorded
    forged = await client.post(f"/console/cases/{case_id}/actions/status",
                               data={"status": "active", "idempotency_key": "k0"})
    assert forged.status_code == 403 and "Formuläret har gått ut" in forged.text
    assert await count("CoordinationStatusSet") == 0

    # a measure needing the coordination consent: refused with the rule in Swedish
    refused = await client.post(f"/console/cases/{case_id}/actions/measure", data={
        "csrf": csrf, "idempotency_key": "k1", "kind": "contact_employer",
        "performed_on": str(await today(api)), "note": ""})
    assert refused.status_code == 422, refused.text
    assert "Patientens samtycke saknas för detta." in refused.text
    assert await count("CoordinationPerformed") == 0

    # the same form sent twice (one Idempotency-Key): one consent
    form = {"csrf": csrf, "idempotency_key": "k2", "recipient": "employer",
            "purpose": "share_information", "valid_until": ""}
    first = await client.post(f"/console/cases/{case_id}/actions/consent", data=form)
    again = await client.post(f"/console/cases/{case_id}/actions/consent", data=form)
    assert first.status_code == again.status_code == 303
    assert await count("ConsentGiven") == 1
    shown = await client.get(first.headers["location"])
    assert "Samtycket är registrerat." in shown.text and "arbetsgivaren" in shown.text

    bad_date = await client.post(f"/console/cases/{case_id}/actions/follow_up", data={
        "csrf": csrf, "idempotency_key": "k3", "followed_up_on": "igår"})
    assert bad_date.status_code == 422 and "Ange ett datum som ÅÅÅÅ-MM-DD." in bad_date.text

    ops = await signed_in(api, "ops", "", "ops-a")
    denied = await ops.post(f"/console/cases/{case_id}/actions/status", data={
        "csrf": csrf_of((await ops.get(f"/console/cases/{case_id}")).text),
        "status": "active", "idempotency_key": "k4"})
    assert denied.status_code == 403 and "Din roll får inte göra detta." in denied.text
    assert await count("CoordinationStatusSet") == 0
    await client.aclose()
    await ops.aclose()


async def test_the_statistics_page_gives_every_share_by_sex_and_unit(api: Api) -> None:
    woman = await open_backdated_case(api, "stats-w", days_ago=3, unit="vc-stat",
                                      patient="19800101-2387")
    await open_backdated_case(api, "stats-m", days_ago=3, unit="vc-stat", patient="19121212-1212")
    planned = await api.http.post(f"/cases/{woman}/plan", headers=api.headers(units=("vc-stat",)),
                                  json={"plan": {"assessment": "a", "goals": ["g"],
                                                 "sick_leave": "s", "return_to_work": "r",
                                                 "follow_up_date": str(await today(api))}})
    assert planned.status_code == 200, planned.text
    coordinator = await signed_in(api, "coordinator", "vc-stat", "koord-stat")
    stats = await coordinator.get("/console/statistics")
    assert "Andelar per kön" in stats.text and "Andelar per vårdenhet" in stats.text
    kva = stats.text[stats.text.index("KVÅ-koder utförda"):]
    assert '<tr><td>DV077</td><td class="num">1</td><td class="num">1</td><td class="num">0</td>' in kva
    exported = await coordinator.get("/console/statistics.csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff")), delimiter=";"))
    plan_rows = [r[1:] for r in rows if r[0] == "Andel med plan (DV077)"]
    assert plan_rows == [["1/2", "", "0,500"], ["1/1", "Kvinna", "1,000"],
                         ["0/1", "Man", "0,000"], ["1/2", "vc-stat", "0,500"]]
    await coordinator.aclose()


async def test_statistics_and_access_log_pages(api: Api) -> None:
    case_id = await open_backdated_case(api, "stats", days_ago=20, patient="19900101-0017")
    coordinator = await signed_in(api, "coordinator", "vc-norr", "koord-s")
    stats = await coordinator.get("/console/statistics")
    assert stats.status_code == 200 and "Andel med plan (DV077)" in stats.text
    exported = await coordinator.get("/console/statistics.csv")
    assert exported.text.lstrip("\ufeff").startswith("Mått;Urval;Grupp;Värde")
    assert (await coordinator.get(f"/console/cases/{case_id}/access-log")).status_code == 403
    await coordinator.get(f"/console/cases/{case_id}")

    ops = await signed_in(api, "ops", "", "ops-s")
    log = await ops.get(f"/console/cases/{case_id}/access-log")
    assert log.status_code == 200 and "koord-s" in log.text
    by_patient = await ops.post("/console/patients/access-log", data={
        "csrf": csrf_of(log.text), "patient_id": "199001010017"})
    assert by_patient.status_code == 200 and "koord-s" in by_patient.text and case_id in by_patient.text
    assert ("ops-s", "access_log") in await access_entries(api, case_id)
    await coordinator.aclose()
    await ops.aclose()
