"""A care unit's day through HTTP: open, certificate, plan, consent, read, and the rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from domain.calendar import STOCKHOLM
from tests.api.conftest import Api

PNR = "19121212-1212"


async def today(api: Api) -> date:
    return (await api.env.get_current_time()).astimezone(STOCKHOLM).date()


def certificate(start: date, first: int, last: int, issued: date, cid: str = "c1",
                **extra: Any) -> dict[str, Any]:
    return {
        "certificate_id": cid,
        "issued_at": datetime.combine(issued, datetime.min.time(), STOCKHOLM).replace(hour=9).isoformat(),
        "issued_by": "dr-anna",
        "diagnoses": [{"code": "F43.8A"}],
        "periods": [{"grade": 100, "start": str(start + timedelta(days=first - 1)),
                     "end": str(start + timedelta(days=last - 1))}],
        **extra,
    }


async def test_a_backdated_case_from_open_to_history(api: Api) -> None:
    now = await today(api)
    start = now - timedelta(days=32)  # day 8, 14 and 30 have passed
    opened = await api.http.post("/cases", headers=api.headers(**{"Idempotency-Key": "open-1"}), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start),
        "employer_name": "Verkstaden AB"})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]

    cert = certificate(start, 1, 90, issued=now, motivation_early_start="Bedömd per telefon dag 1")
    recorded = await api.http.post(f"/cases/{case_id}/certificates", headers=api.headers(),
                                   json={"certificate": cert})
    assert recorded.status_code == 200, recorded.text
    assert "CertificateRecorded" in recorded.json()["events"]

    plan = {"assessment": "Utmattning", "goals": ["Åter i arbete 50 %"],
            "sick_leave": "100 % fyra veckor", "return_to_work": "Upptrappning",
            "follow_up_date": str(now + timedelta(days=14))}
    established = await api.http.post(f"/cases/{case_id}/plan", headers=api.headers(), json={"plan": plan})
    assert established.status_code == 200, established.text
    assert established.json()["events"] == ["PlanEstablished"]
    later = {**plan, "follow_up_date": str(now + timedelta(days=21))}
    revised = await api.http.post(f"/cases/{case_id}/plan", headers=api.headers(),
                                  json={"plan": later, "reason": "uppföljningen flyttad"})
    assert revised.json()["events"] == ["PlanRevised"]

    consent = await api.http.post(f"/cases/{case_id}/consents", headers=api.headers("coordinator"),
                                  json={"recipient": "employer", "purpose": "share_information"})
    assert consent.status_code == 200, consent.text
    withdrawn = await api.http.delete(f"/cases/{case_id}/consents/employer/share_information",
                                      headers=api.headers("coordinator"))
    assert withdrawn.status_code == 200, withdrawn.text

    listed = await api.http.get("/cases", headers=api.headers("coordinator"),
                                params={"min_days": 60, "phase": "plan"})
    assert listed.status_code == 200
    assert case_id in [row["case_id"] for row in listed.json()["items"]]

    summary = (await api.http.get(f"/cases/{case_id}", headers=api.headers())).json()
    assert summary["phase"] == "plan" and summary["days"] == 90
    assert summary["patient_id"] == "191212121212"
    assert summary["consents"] == {}  # withdrawn: read-your-writes, no lag

    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    types = [e["type"] for e in history["items"]]
    assert types[0] == "CaseOpened"
    assert [e["version"] for e in history["items"]] == list(range(1, len(types) + 1))
    assert {"CertificateRecorded", "PlanEstablished", "PlanRevised", "ConsentGiven",
            "ConsentWithdrawn"} <= set(types)

    # every read by a person is in the PDL log (one entry per person, case, kind of read and
    # purpose within a few minutes), which ops can query when the patient asks who read the
    # case; the list shown is a read of each case on it, and reading the log is logged too
    await api.http.get(f"/cases/{case_id}", headers=api.headers("coordinator", **{
        "X-Purpose": "samordning"}))
    log = (await api.http.get(f"/cases/{case_id}/access-log", headers=api.headers("ops", ()))).json()
    entries = [(e["actor_id"], e["action"], e["purpose"]) for e in log["items"]]
    assert entries == [("coordinator-1", "list", "care"), ("physician-1", "summary", "care"),
                       ("physician-1", "events", "care"),
                       ("coordinator-1", "summary", "samordning"),
                       ("ops-1", "access_log", "care")]


async def test_tokens_and_roles(api: Api) -> None:
    assert (await api.http.get("/cases")).status_code == 401
    bad = await api.http.get("/cases", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    ops_open = await api.http.post("/cases", headers=api.headers("ops"), json={})
    assert ops_open.status_code == 403
    gateway_read = await api.http.get("/cases", headers=api.headers("fk_gateway"))
    assert gateway_read.status_code == 403
    assert (await api.http.get("/healthz")).status_code == 200


async def test_other_units_cases_are_invisible(api: Api) -> None:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(units=("vc-syd",)), json={
        "patient_id": PNR, "unit_id": "vc-syd", "sick_period_start": str(start)})
    case_id = opened.json()["case_id"]
    assert (await api.http.get(f"/cases/{case_id}", headers=api.headers())).status_code == 404
    listed = (await api.http.get("/cases", headers=api.headers(), params={"q": case_id})).json()
    assert listed["items"] == []
    elsewhere = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-syd", "sick_period_start": str(start)})
    assert elsewhere.status_code == 403


async def test_repeated_request_with_the_same_key_returns_the_first_answer(api: Api) -> None:
    start = await today(api)
    body = {"patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)}
    first = await api.http.post("/cases", headers=api.headers(**{"Idempotency-Key": "k-77"}), json=body)
    again = await api.http.post("/cases", headers=api.headers(**{"Idempotency-Key": "k-77"}), json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    case_id = first.json()["case_id"]
    consent = {"recipient": "fk", "purpose": "contact"}
    h = api.headers(**{"Idempotency-Key": "consent-1"})
    one = await api.http.post(f"/cases/{case_id}/consents", headers=h, json=consent)
    two = await api.http.post(f"/cases/{case_id}/consents", headers=h, json=consent)
    assert one.json() == two.json()
    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    assert [e["type"] for e in history["items"]].count("ConsentGiven") == 1
