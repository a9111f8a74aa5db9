"""The read endpoints answer exactly what their public models say (every field, no other),
and the OpenAPI document names operations readably."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.read_models import (
    AccessEntry,
    CaseAccessLog,
    CaseKvaView,
    CaseListItem,
    CaseListPage,
    CaseSummaryView,
    HistoryEntry,
    HistoryPage,
    KvaCountsView,
    MeasuresView,
    PatientAccessEntry,
    PatientAccessLog,
)
from domain.measures import KvaRegistration
from tests.api.conftest import Api
from tests.api.test_end_to_end import certificate, today

PATIENT = "198112189876"


def fits(model: type[BaseModel], body: dict[str, Any]) -> None:
    """`body` has exactly the model's fields and validates against it."""
    assert set(body) == set(model.model_fields), (model.__name__, set(body) ^ set(model.model_fields))
    model.model_validate(body)


async def test_each_read_answers_its_public_model(api: Api) -> None:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PATIENT, "unit_id": "vc-norr", "sick_period_start": str(start),
        "certificate": certificate(start, 1, 20, issued=start, cid="read-models-1")})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    ops = api.headers("ops", ())

    summary = (await api.http.get(f"/cases/{case_id}", headers=api.headers())).json()
    fits(CaseSummaryView, summary)
    assert summary["patient_id"] == PATIENT

    page = (await api.http.get("/cases", headers=api.headers())).json()
    fits(CaseListPage, page)
    assert page["items"]
    for item in page["items"]:
        fits(CaseListItem, item)

    history = (await api.http.get(f"/cases/{case_id}/events", headers=api.headers())).json()
    fits(HistoryPage, history)
    for entry in history["items"]:
        fits(HistoryEntry, entry)

    log = (await api.http.get(f"/cases/{case_id}/access-log", headers=ops)).json()
    fits(CaseAccessLog, log)
    assert log["items"]
    for entry in log["items"]:
        fits(AccessEntry, entry)

    patient = (await api.http.get(f"/patients/{PATIENT}/access-log", headers=ops)).json()
    fits(PatientAccessLog, patient)
    for entry in patient["items"]:
        fits(PatientAccessEntry, entry)

    measures = (await api.http.get(f"/measures?from={start}&to={start}&unit=vc-norr",
                                   headers=api.headers())).json()
    fits(MeasuresView, measures)

    kva = (await api.http.get(f"/measures/kva?from={start}&to={start}&unit=vc-norr",
                              headers=api.headers())).json()
    fits(KvaCountsView, kva)
    planned = await api.http.post(f"/cases/{case_id}/plan", headers=api.headers(), json={
        "plan": {"assessment": "a", "goals": ["g"], "sick_leave": "s", "return_to_work": "r",
                 "follow_up_date": str(start)}})
    assert planned.status_code == 200, planned.text
    registrations = (await api.http.get(f"/cases/{case_id}/kva", headers=api.headers())).json()
    fits(CaseKvaView, registrations)
    assert registrations["items"]
    for item in registrations["items"]:
        fits(KvaRegistration, item)


async def test_the_openapi_document_describes_the_reads_and_names_operations(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    reads = {("/cases", "get"): "CaseListPage", ("/cases/{case_id}", "get"): "CaseSummaryView",
             ("/cases/{case_id}/events", "get"): "HistoryPage",
             ("/cases/{case_id}/access-log", "get"): "CaseAccessLog",
             ("/patients/{patient_id}/access-log", "get"): "PatientAccessLog",
             ("/measures", "get"): "MeasuresView",
             ("/measures/kva", "get"): "KvaCountsView",
             ("/cases/{case_id}/kva", "get"): "CaseKvaView"}
    for (path, method), model in reads.items():
        ok = document["paths"][path][method]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"}
    schema = document["components"]["schemas"]["CaseSummaryView"]
    assert all(p.get("description") for p in schema["properties"].values())
    assert schema.get("examples")

    operations = [op for path in document["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert {"listCases", "caseSummary", "caseHistory", "recordCertificate", "closeCase"} <= set(ids)
    summaries = {op["operationId"]: op["summary"] for op in operations}
    assert summaries["recordCertificate"] == "Record certificate"
    assert summaries["sendCertificateToFk"] == "Send certificate to FK"
    assert all("_" not in i for i in ids)
