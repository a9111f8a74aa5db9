"""GET /cases takes the console's newer filters too: the physician who issued a certificate,
the coordination status (or none set yet), and consents held or not at the moment of reading."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from domain.commands import Actor, GiveConsent, OpenCase, RecordCertificate
from store.projections import CaseSummaryProjection
from store.queries import STOCKHOLM
from store.sample_cases import CaseDriver, make_pnr, to_new_events
from store.sample_cases import certificate as decided_certificate
from store.subscription import run_once
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


def recorded_case(consent_until: date) -> tuple[str, list[object]]:
    """A case opened 40 days ago at vc-norr whose employer consent (given on day 10) runs
    through `consent_until`: its events as the domain decides them, dated in the past."""
    today = datetime.now(STOCKHOLM).date()
    case_id = f"consent-{uuid.uuid4().hex[:10]}"
    driver = CaseDriver(case_id, today - timedelta(days=40))
    doctor = Actor(id="dr-lisa", role="physician", unit_id="vc-norr")
    driver.do(OpenCase(actor=doctor, case_id=case_id, patient_id=make_pnr(date(1980, 5, 5), 42),
                       unit_id="vc-norr", sick_period_start=driver.start,
                       certificate=decided_certificate(driver, "c1", 1, 60, 100, "M54.5", 1, doctor)),
              day=1)
    driver.do(GiveConsent(actor=Actor(id="patient", role="patient"), recipient="employer",
                          purpose="contact", valid_until=consent_until), day=10)
    # an extension at 50 % from day 61: today (day 41) the case is still at 100 %
    driver.do(RecordCertificate(actor=doctor, certificate=decided_certificate(
        driver, "c2", 61, 90, 50, "M54.5", 38, doctor)), day=38)
    return case_id, list(driver.events)


async def test_consent_filters_evaluate_validity_at_the_moment_of_reading(api: Api) -> None:
    """A consent that ran through yesterday is not held today: the held filter leaves the
    case out, the not-held filter takes it in, and the row shows no consent; a consent that
    runs on is held (a case recorded in the past, so that its consent has really expired)."""
    today = datetime.now(STOCKHOLM).date()
    expired, expired_events = recorded_case(today - timedelta(days=1))
    running, running_events = recorded_case(today + timedelta(days=30))
    for case_id, events in ((expired, expired_events), (running, running_events)):
        await api.store.append(case_id, 0, to_new_events(events))  # type: ignore[arg-type]
    await run_once(api.store, CaseSummaryProjection())
    ours = {expired, running}

    assert await listed(api, consent_held="employer") & ours == {running}
    assert await listed(api, consent_held="employer:contact") & ours == {running}
    assert await listed(api, consent_not_held="employer") & ours == {expired}
    assert await listed(api, consent_not_held="employer:contact") & ours == {expired}
    assert await listed(api, consent_not_held="employer:share_information") & ours == ours
    assert await listed(api, consent_held="fk") & ours == set()

    page = await api.http.get("/cases", params={"limit": "500", "consent_not_held": "employer"},
                              headers=api.headers("coordinator"))
    (row,) = [r for r in page.json()["items"] if r["case_id"] == expired]
    assert row["consents"] == {}

    # the grade too is the one on the day of reading, as shown: 100 % today, 50 % later on
    assert await listed(api, grade="100") & ours == ours
    assert await listed(api, grade="50") & ours == set()
    assert row["current_grade"] == 100
    bad_grade = await api.http.get("/cases", params={"grade": "30"}, headers=api.headers("coordinator"))
    assert bad_grade.status_code == 422 and bad_grade.json()["errors"][0]["field"] == "grade"

    refused = await api.http.get("/cases", params={"consent_held": "employer:gossip"},
                                 headers=api.headers("coordinator"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "consent_held"
