"""Operations: health and readiness probes, Prometheus metrics, and the PDL access logs
(who read a case, who read a patient's cases)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from api.case_access import case_row, log_read, patient_number, shown
from api.deps import CaseId, Ops, Pool, Temporal
from api.purpose import Purpose
from api.read_models import CaseAccessLog, PatientAccessLog, ok
from infra.metrics import metrics_response
from store.access_log import accesses_for_case, accesses_for_cases, record_accesses
from store.patients import cases_of_patient

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
async def metrics(pool: Pool) -> Response:
    """Prometheus: our series (cases by phase, milestones, notifications, FK, appends,
    projection lag) and, in this process, the SDK's."""
    response: Response = await metrics_response(pool)
    return response


@router.get("/readyz")
async def readyz(pool: Pool, temporal: Temporal) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as err:  # noqa: BLE001 - readiness reports, never raises
        checks["postgres"] = f"unavailable: {type(err).__name__}"
    try:
        await temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as err:  # noqa: BLE001
        checks["temporal"] = f"unavailable: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                        status_code=200 if ready else 503)


@router.get("/cases/{case_id}/access-log", name="case_access_log",
            response_model=None, responses=ok(CaseAccessLog, "Who read the case"))
async def access_log(request: Request, case_id: CaseId, purpose: Purpose, principal: Ops,
                     pool: Pool) -> dict[str, Any]:
    """Who read the case, when, in what role and why (PDL): for a patient's request. The
    read of the log is itself logged."""
    row = await case_row(request, principal, case_id)
    await log_read(request, principal, case_id, "access_log", purpose)
    items = await accesses_for_case(pool, case_id)
    return {"case_id": case_id, "items": shown(principal, items, row["protected_identity"])}


@router.get("/patients/{patient_id}/access-log", response_model=None,
            responses=ok(PatientAccessLog, "Who read the patient's cases"))
async def patient_access_log(patient_id: Annotated[str, Path(max_length=20)], purpose: Purpose,
                             principal: Ops, pool: Pool) -> dict[str, Any]:
    """Who read any of the patient's cases, when, in what role and why: the answer to a
    patient's request under PDL 8 kap. The read is logged on each of the cases."""
    case_ids = await cases_of_patient(pool, patient_number(patient_id, "patient_id"))
    await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                          units=list(principal.units), case_ids=case_ids,
                          action="access_log", purpose=purpose)
    return {"cases": case_ids, "items": await accesses_for_cases(pool, case_ids)}
