"""The role matrix: who may call what. Every endpoint but the health ones needs a token."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from infra.settings import DEV_FK_SECRET
from infra.signing import signed_headers
from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, certificate, today

ROLES = ("physician", "coordinator", "ops", "fk_gateway")
Body = Callable[[date, str], Any]  # (day 1, the case's certificate id)
PLAN = {"assessment": "a", "goals": ["g"], "sick_leave": "s", "return_to_work": "r"}


def plan(start: date, follow_up: int = 14) -> dict[str, Any]:
    return {"plan": {**PLAN, "follow_up_date": str(start + timedelta(days=follow_up))}}


def fk_message(start: date, cert: str) -> dict[str, Any]:
    return {"message_id": f"fk-{uuid.uuid4().hex[:8]}", "reference_id": "ref-1",
            "sent_at": datetime.now(UTC).isoformat(), "certificate_id": cert,
            "patient_id": PNR.replace("-", ""), "topic": "KONTKT", "heading": "Kontakt",
            "text": "Ring oss.", "sender": "Försäkringskassan"}


# (method, path, roles allowed, body, the allowed roles' success status, events recorded);
# {case} is a fresh case at the caller's unit, opened on day 1 with certificate {cert} (an id
# of its own: a certificate id belongs to one case) and a plan
MATRIX: list[tuple[str, str, set[str], Body | None, int, list[str] | None]] = [
    ("GET", "/cases", {"physician", "coordinator", "ops"}, None, 200, None),
    ("GET", "/cases/{case}", {"physician", "coordinator", "ops"}, None, 200, None),
    ("GET", "/cases/{case}/events", {"physician", "coordinator", "ops"}, None, 200, None),
    ("GET", "/cases/{case}/kva", {"physician", "coordinator", "ops"}, None, 200, None),
    ("GET", "/cases/{case}/access-log", {"ops"}, None, 200, None),
    ("POST", "/cases", {"physician", "coordinator"},
     lambda s, cert: {"patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(s)}, 201, None),
    ("POST", "/cases/{case}/certificates", {"physician"},
     lambda s, cert: {"certificate": certificate(s, 11, 20, issued=s, cid=f"{cert}-2", relation={
         "kind": "FRLANG", "certificate_id": cert})}, 200, ["CertificateRecorded"]),
    ("POST", "/cases/{case}/certificates/{cert}/revoke", {"physician"},
     lambda s, cert: {"reason": "fel patient"}, 200, ["CertificateRevoked"]),
    ("POST", "/cases/{case}/plan", {"physician"}, lambda s, cert: {**plan(s, 21), "reason": "r"}, 200,
     ["PlanRevised"]),
    ("POST", "/cases/{case}/plan/follow-ups", {"physician", "coordinator"},
     lambda s, cert: {"followed_up_on": str(s)}, 200, ["PlanFollowedUp"]),
    ("POST", "/cases/{case}/sick-period-start", {"physician", "coordinator"},
     lambda s, cert: {"sick_period_start": str(s - timedelta(days=2)), "reason": "sjuk sedan lördag"},
     200, ["SickPeriodStartCorrected"]),
    ("POST", "/cases/{case}/consents", {"physician", "coordinator"},
     lambda s, cert: {"recipient": "fk", "purpose": "contact"}, 200, ["ConsentGiven"]),
    ("DELETE", "/cases/{case}/consents/employer/share_information", {"physician", "coordinator"},
     None, 200, ["ConsentWithdrawn"]),
    ("POST", "/cases/{case}/employer-return-plan", {"physician", "coordinator"},
     lambda s, cert: {"plan_date": str(s), "note": "upptrappning"}, 200,
     ["EmployerReturnPlanRecorded"]),
    ("POST", "/cases/{case}/close", {"physician", "coordinator"},
     lambda s, cert: {"reason": "opened_in_error"}, 200, ["CaseClosed"]),
    ("POST", "/cases/{case}/coordination", {"physician", "coordinator"},
     lambda s, cert: {"action": "offer"}, 200, ["CoordinationOffered"]),
    ("POST", "/cases/{case}/coordination", {"physician", "coordinator"},
     lambda s, cert: {"action": "perform", "kind": "internal", "performed_on": str(s)}, 200,
     ["CoordinationPerformed"]),
    ("POST", "/fk/messages", {"fk_gateway"}, fk_message, 200, None),
    ("GET", "/measures?from=2026-01-01&to=2026-12-31&unit=vc-norr",
     {"physician", "coordinator", "ops"}, None, 200, None),
    ("GET", "/measures/kva?from=2026-01-01&to=2026-12-31&unit=vc-norr",
     {"physician", "coordinator", "ops"}, None, 200, None),
]


async def fresh_case(api: Api, start: date) -> tuple[str, str]:
    cert = f"c-{uuid.uuid4().hex[:12]}"
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start),
        "certificate": certificate(start, 1, 10, issued=start, cid=cert)})
    assert opened.status_code == 201, opened.text
    case_id = str(opened.json()["case_id"])
    for path, body in ((f"/cases/{case_id}/plan", plan(start)),
                       (f"/cases/{case_id}/consents",
                        {"recipient": "employer", "purpose": "share_information"}),
                       (f"/cases/{case_id}/consents",  # coordination needs it (revised rules)
                        {"recipient": "coordinator", "purpose": "coordination"})):
        response = await api.http.post(path, headers=api.headers(), json=body)
        assert response.status_code == 200, response.text
    return case_id, cert


def signed(role: str, raw: bytes) -> dict[str, str]:
    """FK's gateway signs its body; other callers' requests are signed alike, so that only
    the role decides."""
    return signed_headers(DEV_FK_SECRET, raw, uuid.uuid4().hex) if "fk" in role else {}


@pytest.mark.parametrize(("method", "path", "allowed", "body", "status", "events"), MATRIX)
async def test_role_matrix(api: Api, method: str, path: str, allowed: set[str],
                           body: Body | None, status: int, events: list[str] | None) -> None:
    start = await today(api)
    refused_case, refused_cert = await fresh_case(api, start)
    raw = json.dumps(body(start, refused_cert) if body else {}).encode()
    anonymous = await api.http.request(method, path.format(case=refused_case, cert=refused_cert),
                                       content=raw)
    assert anonymous.status_code == 401
    for role in ROLES:
        case_id, cert = await fresh_case(api, start) if role in allowed else (refused_case,
                                                                               refused_cert)
        raw = json.dumps(body(start, cert) if body else {}).encode()
        url = path.format(case=case_id, cert=cert)
        headers = {**api.headers(role), **signed(role, raw), "Content-Type": "application/json"}
        response = await api.http.request(method, url, headers=headers, content=raw)
        if role in allowed:  # the call does what it says, for every role allowed to make it
            assert response.status_code == status, (role, response.text)
            if events is not None:
                assert response.json()["events"][:len(events)] == events, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
            assert response.json()["errors"][0]["rule"] == "role_not_allowed"
    history = (await api.http.get(f"/cases/{refused_case}/events", headers=api.headers())).json()
    assert [e["type"] for e in history["items"]][-1] == "ConsentGiven"  # refusals changed nothing


async def test_measures_only_for_the_callers_own_units(api: Api) -> None:
    """Measures are per unit: care staff get their own unit's figures, never another's."""
    base = "/measures?from=2026-01-01&to=2026-12-31"
    own = await api.http.get(f"{base}&unit=vc-norr", headers=api.headers("coordinator"))
    assert own.status_code == 200, own.text
    implied = await api.http.get(base, headers=api.headers("coordinator"))  # the one unit
    assert implied.status_code == 200 and implied.json() == own.json()
    other = await api.http.get(f"{base}&unit=vc-syd", headers=api.headers("coordinator"))
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0] == {"field": "unit", "rule": "unit_required",
                                        "message": "measures are per unit: give one of your units"}
    two = await api.http.get(base, headers=api.headers("coordinator", ("vc-norr", "vc-syd")))
    assert two.status_code == 422  # which of the two? the caller must say
    anywhere = await api.http.get(f"{base}&unit=vc-syd", headers=api.headers("ops", ()))
    assert anywhere.status_code == 200  # ops: every unit


async def test_health_needs_no_token(api: Api) -> None:
    assert (await api.http.get("/healthz")).status_code == 200
    assert (await api.http.get("/readyz")).status_code == 200
