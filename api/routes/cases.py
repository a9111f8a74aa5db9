"""Cases: open one, the case list (sjukfallslistan), a case's summary and its history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api import bodies
from api.case_access import (
    actor_of,
    case_row,
    catch_up,
    certificate_is_this_cases,
    find_patient,
    log_read,
    may_open_under,
    shown,
    state_of,
    stockholm_today,
    with_rehab_chain,
)
from api.commands import domain_problem, open_case, update_id
from api.deps import INT32, AppSettings, Care, CaseId, IdempotencyKey, People, Pool, Temporal
from api.json_body import json_body
from api.problems import refusal
from api.purpose import Purpose
from api.read_models import CaseKvaView, CaseListPage, CaseSummaryView, HistoryPage, ok
from domain import DomainError, decide, initial_state
from domain import commands as c
from domain.calendar import STOCKHOLM
from domain.events import event_from_record
from domain.measures import kva_registrations
from domain.summary import as_read_at, rehab_chain_at
from domain.vocabulary import CoordinationStatus
from store.access_log import record_accesses
from store.queries import COUNT_LIMIT, InvalidQuery, case_events, list_cases, total_is_lower_bound

router = APIRouter(tags=["cases"])


class CaseCreated(BaseModel):
    case_id: str
    version: int


@router.post("/cases", status_code=201, response_model=CaseCreated)
async def open_new_case(request: Request, body: bodies.OpenCaseBody,  # type: ignore[valid-type]
                        principal: Care, temporal: Temporal, settings: AppSettings,
                        key: IdempotencyKey = None) -> CaseCreated:
    """Open a case for a patient's sick period, optionally with its first certificate."""
    data: Any = body
    if not principal.sees_unit(data.unit_id):
        raise refusal("unit_id", "unit_not_allowed", "the case must belong to one of your units",
                      detail=f"you do not work for unit {data.unit_id}")
    # A retried request (same key) must reach the same case, so the id follows from the key.
    case_id = data.case_id or (uuid.uuid5(uuid.NAMESPACE_URL, f"{principal.sub}/{key}").hex
                               if key else uuid.uuid4().hex)
    gap = data.merge_gap_days  # unset: the region's default (SJUKFALL_MERGE_GAP_DAYS)
    open_command = bodies.build(c.OpenCase, data, context={"today": stockholm_today()},
                                case_id=case_id, actor=actor_of(principal, data.unit_id),
                                merge_gap_days=settings.merge_gap_days
                                if gap is None else gap)
    if data.case_id and not await may_open_under(request, principal, case_id):
        # Another unit's case: answered as a taken id in your own unit would be (409
        # "already opened"), never as a read of it; its unit, state and content stay unseen.
        raise domain_problem(DomainError("case_id", "case_already_opened",
                                         f"case {case_id} is already opened"))
    try:  # decide once here so that a refused open starts no workflow at all
        decide(open_command, initial_state(case_id), datetime.now(STOCKHOLM))
    except DomainError as err:
        if err.rule != "case_already_opened":
            raise domain_problem(err) from None
    await certificate_is_this_cases(request, case_id, open_command)
    open_command = await with_rehab_chain(request, open_command, case_id,
                                          open_command.patient_id)
    result = await open_case(temporal, settings.task_queue, open_command,
                             update_id(request, principal.sub, case_id, key, open_command))
    await catch_up(request)
    return CaseCreated(case_id=result.case_id, version=result.version)


@router.get("/cases", name="list_cases", response_model=None,
            responses=ok(CaseListPage, "A page of the cases"))
async def cases(
    request: Request,
    purpose: Purpose,
    principal: People,
    pool: Pool,
    phase: Literal["assessment", "plan", "follow_up", "closed"] | None = None,
    unit: str | None = None,
    min_days: Annotated[int | None, Query(ge=0, le=INT32)] = None,
    max_days: Annotated[int | None, Query(ge=0, le=INT32)] = None,
    # an int Literal would refuse every query string ("100" is not 100): bounds instead
    grade: Annotated[int | None, Query(ge=25, le=100, multiple_of=25, description=(
        "the grade (25, 50, 75, 100 %) on the day of reading"))] = None,
    diagnosis_chapter: str | None = None,
    sex: Literal["kvinna", "man"] | None = None,
    age_band: str | None = None,
    overdue: bool | None = None,
    unanswered_fk: bool | None = None,
    in_coordinator_queue: bool | None = None,
    coordination_status: Annotated[Literal[CoordinationStatus, "unset"] | None, Query(
        description="the case's coordination status; `unset`: none set yet")] = None,
    physician: Annotated[str | None, Query(max_length=200, description=(
        "cases where this physician (HSA id) issued a certificate"))] = None,
    consent_held: Annotated[str | None, Query(max_length=60, description=(
        "cases holding, at the moment of reading, a consent for this recipient "
        "(`employer`) or recipient and purpose (`employer:contact`)"))] = None,
    consent_not_held: Annotated[str | None, Query(max_length=60, description=(
        "cases not holding such a consent at the moment of reading (expired, withdrawn "
        "or never given)"))] = None,
    q: Annotated[str | None, Query(max_length=64, description="free text on case id")] = None,
    patient_id: Annotated[str | None, Query(max_length=20, description=(
        "the patient's identity number (any accepted form): their cases at your units"))] = None,
    sort: str = "sick_period_start",
    descending: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32)] = 0,
) -> dict[str, Any] | Response:
    """Cases the caller's units may see (ops: all), filtered like Rehabstöd's list. Each
    case shown is a read of it: one PDL entry per case, written in one statement. With
    `patient_id`: that patient's cases (a search by identity number, logged as `find`)."""
    if patient_id is not None:
        return await find_patient(request, principal, patient_id, purpose, limit, offset)
    units = None if principal.role == "ops" else list(principal.units)
    if unit is not None:
        units = [u for u in (units if units is not None else [unit]) if u == unit]
    try:
        rows, total = await list_cases(
            pool, phase=phase, unit_ids=units, min_days=min_days,
            max_days=max_days, grade=grade, diagnosis_chapter=diagnosis_chapter, sex=sex,
            age_band=age_band, overdue=overdue, unanswered_fk=unanswered_fk,
            in_coordinator_queue=in_coordinator_queue,
            coordination_status=coordination_status, physician=physician,
            consent_held=consent_held, consent_not_held=consent_not_held, text=q, sort=sort,
            descending=descending, limit=limit, offset=offset, read_at=datetime.now(UTC),
            count_limit=(cap := max(COUNT_LIMIT, offset + limit)))
    except InvalidQuery as err:
        raise refusal(err.field, "not_offered", str(err)) from None
    await record_accesses(pool, actor_id=principal.sub,
                          role=principal.role, units=list(principal.units),
                          case_ids=[r["case_id"] for r in rows], action="list",
                          purpose=purpose)
    return json_body({"total": min(total, cap),
                      "total_is_lower_bound": total_is_lower_bound(total, cap),
                      "limit": limit, "offset": offset,
                      "items": [shown(principal, r) for r in rows]})


@router.get("/cases/{case_id}", response_model=None,
            responses=ok(CaseSummaryView, "The case's summary"))
async def case_summary(request: Request, case_id: CaseId, purpose: Purpose,
                       principal: People) -> dict[str, Any]:
    """The case's summary; the identity number is hidden from non-physicians when the
    patient has protected identity. The read is recorded in the PDL access log."""
    row = await case_row(request, principal, case_id, with_state=True)
    state = state_of(row)
    await log_read(request, principal, case_id, "summary", purpose)
    now = datetime.now(UTC)
    summary: dict[str, Any] = shown(principal, {**row, **as_read_at(state, now),
                                                **rehab_chain_at(state, now),
                                                "patient_id": state.patient_id})
    return summary


@router.get("/cases/{case_id}/events", name="case_history", response_model=None,
            responses=ok(HistoryPage, "A page of the case's history"))
async def events(request: Request, case_id: CaseId, purpose: Purpose, principal: People,
                 pool: Pool, from_version: Annotated[int, Query(ge=0, le=INT32)] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 1000) -> Response:
    """The case's full event history in order, paged by version."""
    row = await case_row(request, principal, case_id)
    records = await case_events(pool, case_id, from_version)
    page = records[:limit]
    await log_read(request, principal, case_id, "events", purpose)
    items = [{"version": e.version, "type": e.type, "event_id": e.event_id,
              "schema_version": e.schema_version, "recorded_at": e.recorded_at,
              "data": e.data} for e in page]
    return json_body({
        "case_id": case_id,
        "items": shown(principal, items, row["protected_identity"]),
        "next_from_version": page[-1].version if len(records) > limit else None,
    })


@router.get("/cases/{case_id}/kva", name="case_kva", response_model=None,
            responses=ok(CaseKvaView, "The case's KVÅ registrations"))
async def case_kva(request: Request, case_id: CaseId, purpose: Purpose, principal: People,
                   pool: Pool) -> dict[str, Any]:
    """The KVÅ codes a journal system must register for the case: each plan (DV077),
    follow-up (AW026) and coordination occasion (GC001: measures, mapping conversations,
    multimodal team meetings, avstämningsmöten, SIP), with its date, the event it comes
    from and who recorded it. The read is recorded in the PDL access log."""
    row = await case_row(request, principal, case_id)
    records = await case_events(pool, case_id)
    await log_read(request, principal, case_id, "kva", purpose)
    events = [event_from_record(r.type, r.schema_version, r.data) for r in records]
    return {"case_id": case_id, "unit_id": row["unit_id"],
            "items": [k.model_dump(mode="json") for k in kva_registrations(events)]}
