"""The HTTP API: commands become Temporal updates on the case workflow; reads come from the
projections (case list, summary, measures) and the event store (history).

Read-your-writes: a command returns after its events are appended, and the API then brings
the case_summary projection up to date before answering, so the next read shows the change.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import Client

from api import bodies, codec, console, fk_routes, rivta_routes
from api.auth import CARE, PEOPLE, Principal, TokenVerifier, require
from api.commands import domain_problem, open_case, send_command, update_id
from api.limits import BodyLimit, clean_query
from api.observability import observe_requests
from api.operations import operation_id, readable_operations
from api.problems import Problem, install, problem_responses, refusal
from api.purpose import Purpose
from api.read_models import (
    CaseAccessLog,
    CaseListPage,
    CaseSummaryView,
    HistoryPage,
    MeasuresView,
    PatientAccessLog,
    ok,
)
from domain import DomainError, decide, initial_state
from domain import commands as c
from domain.bounds import check_bounds
from domain.calendar import STOCKHOLM
from domain.identity import normalise
from domain.privacy import mask_identity
from domain.state import CaseState
from domain.summary import as_read_at
from domain.vocabulary import CoordinationStatus
from fk.lookup import case_holding_certificate
from sjukfall.metrics import metrics_response
from sjukfall.payload_codec import codec_for
from sjukfall.settings import Settings
from sjukfall.tracing import instrument_app
from store.access_log import accesses_for_case, accesses_for_cases, record_access, record_accesses
from store.eventstore import EventStore
from store.patients import cases_of_patient
from store.projections import CaseMeasureFactsProjection, CaseSummaryProjection
from store.queries import (
    COUNT_LIMIT,
    InvalidQuery,
    case_events,
    get_case_summary,
    list_cases,
    period_measures,
    total_is_lower_bound,
)
from store.subscription import run_once
from workflows.case import CommandResult

INT32 = 2**31 - 1  # versions and day counts are PostgreSQL integers
CASE_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

ERRORS = problem_responses([
    (400, "Body is not JSON"), (401, "No or bad token"), (403, "Role or unit not allowed"),
    (404, "No such case"), (409, "Conflicts with the case's state"), (422, "Invalid input"),
    (503, "Temporal or PostgreSQL unavailable")])


class CaseCreated(BaseModel):
    case_id: str
    version: int


def create_app(settings: Settings, *, client: Client, store: EventStore) -> FastAPI:
    app = FastAPI(
        title="sjukfall",
        version="0.1.0",
        description="Sick-leave cases (sjukfall): commands, projections, event history.",
        responses=ERRORS,
        generate_unique_id_function=operation_id,
        dependencies=[Depends(clean_query)],
        # The interactive docs (and the schema they read) are off in production unless enabled.
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.temporal = client
    app.state.store = store
    app.state.verifier = TokenVerifier.from_settings(settings)
    app.state.summary = CaseSummaryProjection()
    app.state.measure_facts = CaseMeasureFactsProjection()
    install(app)
    readable_operations(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _routes(app)
    app.include_router(fk_routes.router)
    app.include_router(rivta_routes.router)  # FK over RIV-TA SOAP (SJUKFALL_FK_TRANSPORT=rivta)
    app.include_router(console.router)  # the web console, /console (api/console/README.md)
    observe_requests(app)  # access log + request metrics (api/observability.py)
    app.state.codec = codec_for(settings)
    app.include_router(codec.router)  # the Temporal UI's codec server (ops, PDL-logged)
    if origins := settings.resolved_codec_cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True,
                           allow_methods=["POST"],
                           allow_headers=["authorization", "content-type", "x-namespace",
                                          "x-purpose"])
    instrument_app(app)  # server spans, when tracing is on
    return app


# -- helpers ---------------------------------------------------------------------------------


def actor_of(principal: Principal, unit_id: str | None = None) -> c.Actor:
    return c.Actor(id=principal.sub, role=principal.role, unit_id=unit_id)


async def catch_up(request: Request) -> None:
    await run_once(request.app.state.store, request.app.state.summary)


async def case_row(request: Request, principal: Principal, case_id: str,
                   with_state: bool = False) -> dict[str, Any]:
    """The case's summary row, if the caller may see the case's unit; else 404 (not 403, so
    that a user cannot probe which case ids exist at other units)."""
    pool = request.app.state.store.pool
    row = await get_case_summary(pool, case_id, with_state=with_state)
    if row is None:  # maybe opened a moment ago through another API instance
        await catch_up(request)
        row = await get_case_summary(pool, case_id, with_state=with_state)
    if row is None or not principal.sees_unit(row["unit_id"]):
        raise Problem(404, f"no case {case_id}")
    return row


async def _may_open_under(request: Request, principal: Principal, case_id: str) -> bool:
    """A client-chosen case id is free, or already the caller's own unit's case."""
    pool = request.app.state.store.pool
    row = await get_case_summary(pool, case_id)
    if row is None:
        await catch_up(request)
        row = await get_case_summary(pool, case_id)
    return row is None or principal.sees_unit(row["unit_id"])


async def certificate_is_this_cases(request: Request, case_id: str, cmd: Any) -> None:
    """A certificate id belongs to one case (FK addresses care by it): a second case recording
    it is refused (409), whichever unit holds the first. The answer names no case."""
    certificate = getattr(cmd, "certificate", None)
    if certificate is None:
        return
    cid = certificate.certificate_id
    if await case_holding_certificate(request.app.state.store.pool, cid, case_id):
        message = f"certificate {cid} is already recorded on another case"
        raise refusal("certificate.certificate_id", "certificate_in_other_case", message)


async def command(request: Request, principal: Principal, case_id: str, build: Any,
                  key: str | None) -> CommandResult:
    row = await case_row(request, principal, case_id)
    cmd = build(actor_of(principal, row["unit_id"]))
    try:  # the input's own bounds first: invalid input is a 422 whatever else holds
        check_bounds(cmd)
    except DomainError as err:
        raise domain_problem(err) from None
    await certificate_is_this_cases(request, case_id, cmd)
    result = await send_command(request.app.state.temporal, case_id, cmd,
                                update_id(request, principal.sub, case_id, key, cmd))
    await catch_up(request)
    return result


async def log_read(request: Request, principal: Principal, case_id: str, action: str,
                   purpose: str) -> None:
    if principal.role in PEOPLE:
        await record_access(request.app.state.store.pool, actor_id=principal.sub,
                            role=principal.role, units=list(principal.units), case_id=case_id,
                            action=action, purpose=purpose)


def shown(principal: Principal, data: Any, protected: bool | None = None) -> Any:
    """What `principal` may see of `data` (domain/privacy.py: the one masking rule). A row
    carries its own `protected_identity`; other data takes the case's flag."""
    if protected is None:
        protected = bool(data.get("protected_identity"))
    return mask_identity(data, protected=protected, role=principal.role)


def patient_number(value: str, field: str) -> str:
    try:
        return normalise(value, stockholm_today())
    except ValueError as err:
        raise refusal(field, "identity_number", str(err)) from None


async def find_patient(request: Request, principal: Principal, patient_id: str, purpose: str,
                       limit: int, offset: int) -> dict[str, Any]:
    """A patient's cases at the caller's units: each one shown is a PDL entry (`find`)."""
    pool = request.app.state.store.pool
    await catch_up(request)
    rows = []
    for case_id in await cases_of_patient(pool, patient_number(patient_id, "patient_id")):
        row = await get_case_summary(pool, case_id)
        if row is not None and principal.sees_unit(row["unit_id"]):
            rows.append(row)
    page = rows[offset:offset + limit]
    await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                          units=list(principal.units), case_ids=[r["case_id"] for r in page],
                          action="find", purpose=purpose)
    return {"total": len(rows), "limit": limit, "offset": offset,
            "items": [shown(principal, r) for r in page]}


def state_of(row: dict[str, Any]) -> CaseState:
    raw = row.pop("state")
    return CaseState.model_validate_json(raw) if isinstance(raw, str) else CaseState.model_validate(raw)


def stockholm_today() -> date:
    return datetime.now(STOCKHOLM).date()


# -- routes ----------------------------------------------------------------------------------

# Commands whose body is the domain command less its envelope: one route each, made alike.
SIMPLE_COMMANDS: list[tuple[str, type[BaseModel], type[BaseModel], tuple[str, ...], str]] = [
    ("/cases/{case_id}/certificates", c.RecordCertificate, bodies.RecordCertificateBody,
     ("physician",), "Record a certificate (new, extension FRLANG, completion KOMPLT, "
                     "replacement ERSATT)."),
    ("/cases/{case_id}/sick-period-start", c.CorrectSickPeriodStart, bodies.CorrectStartBody,
     CARE, "Correct day 1 of the sick period; the milestones are re-planned."),
    ("/cases/{case_id}/plan/follow-ups", c.RecordPlanFollowUp, bodies.RecordFollowUpBody,
     CARE, "Record that the plan was followed up (KVÅ AW026)."),
    ("/cases/{case_id}/consents", c.GiveConsent, bodies.GiveConsentBody,
     CARE, "Record the patient's consent for a recipient and purpose (at most 365 days)."),
    ("/cases/{case_id}/employer-return-plan", c.RecordEmployerReturnPlan,
     bodies.EmployerReturnPlanBody, CARE,
     "Record the employer's return-to-work plan (30 kap. 6 § SFB) and its date."),
    ("/cases/{case_id}/close", c.CloseCase, bodies.CloseCaseBody,
     CARE, "Close the case with a reason; its pending timers are cancelled."),
]


def _command_route(app: FastAPI, path: str, kind: type[BaseModel], body_model: type[BaseModel],
                   roles: tuple[str, ...], summary: str) -> None:
    async def endpoint(request: Request, case_id: Annotated[str, CASE_ID], body: Any,
                       key: IdempotencyKey = None,
                       principal: Principal = Depends(require(*roles))) -> CommandResult:  # type: ignore[arg-type]
        return await command(request, principal, case_id,
                             lambda actor: bodies.build(kind, body, actor=actor), key)

    endpoint.__annotations__["body"] = body_model  # the body's schema, for FastAPI and OpenAPI
    endpoint.__doc__ = summary
    app.post(path, tags=["commands"], name=kind.__name__)(endpoint)



def _routes(app: FastAPI) -> None:
    care = Depends(require(*CARE))
    people = Depends(require(*PEOPLE))
    ops = Depends(require("ops"))
    physician = Depends(require("physician"))

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus: our series (cases by phase, milestones, notifications, FK, appends,
        projection lag) and, in this process, the SDK's."""
        response: Response = await metrics_response(request.app.state.store.pool)
        return response

    @app.get("/readyz", tags=["operations"])
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await request.app.state.store.pool.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as err:  # noqa: BLE001 - readiness reports, never raises
            checks["postgres"] = f"unavailable: {type(err).__name__}"
        try:
            await request.app.state.temporal.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as err:  # noqa: BLE001
            checks["temporal"] = f"unavailable: {type(err).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                            status_code=200 if ready else 503)

    @app.post("/cases", status_code=201, response_model=CaseCreated, tags=["cases"])
    async def open_new_case(request: Request, body: bodies.OpenCaseBody,  # type: ignore[valid-type]
                            key: IdempotencyKey = None,
                            principal: Principal = care) -> CaseCreated:
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
                                    merge_gap_days=request.app.state.settings.merge_gap_days
                                    if gap is None else gap)
        if data.case_id and not await _may_open_under(request, principal, case_id):
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
        result = await open_case(request.app.state.temporal, request.app.state.settings.task_queue,
                                 open_command,
                                 update_id(request, principal.sub, case_id, key, open_command))
        await catch_up(request)
        return CaseCreated(case_id=result.case_id, version=result.version)

    @app.get("/cases", tags=["cases"], name="list_cases", response_model=None,
             responses=ok(CaseListPage, "A page of the cases"))
    async def cases(
        request: Request,
        purpose: Purpose,
        principal: Principal = people,
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
    ) -> dict[str, Any]:
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
                request.app.state.store.pool, phase=phase, unit_ids=units, min_days=min_days,
                max_days=max_days, grade=grade, diagnosis_chapter=diagnosis_chapter, sex=sex,
                age_band=age_band, overdue=overdue, unanswered_fk=unanswered_fk,
                in_coordinator_queue=in_coordinator_queue,
                coordination_status=coordination_status, physician=physician,
                consent_held=consent_held, consent_not_held=consent_not_held, text=q, sort=sort,
                descending=descending, limit=limit, offset=offset, read_at=datetime.now(UTC),
                count_limit=(cap := max(COUNT_LIMIT, offset + limit)))
        except InvalidQuery as err:
            raise refusal(err.field, "not_offered", str(err)) from None
        await record_accesses(request.app.state.store.pool, actor_id=principal.sub,
                              role=principal.role, units=list(principal.units),
                              case_ids=[r["case_id"] for r in rows], action="list",
                              purpose=purpose)
        return {"total": min(total, cap), "total_is_lower_bound": total_is_lower_bound(total, cap),
                "limit": limit, "offset": offset, "items": [shown(principal, r) for r in rows]}

    @app.get("/cases/{case_id}", tags=["cases"], response_model=None,
             responses=ok(CaseSummaryView, "The case's summary"))
    async def case_summary(request: Request, case_id: Annotated[str, CASE_ID],
                           purpose: Purpose, principal: Principal = people) -> dict[str, Any]:
        """The case's summary; the identity number is hidden from non-physicians when the
        patient has protected identity. The read is recorded in the PDL access log."""
        row = await case_row(request, principal, case_id, with_state=True)
        state = state_of(row)
        await log_read(request, principal, case_id, "summary", purpose)
        summary: dict[str, Any] = shown(principal, {**row, **as_read_at(state, datetime.now(UTC)),
                                                    "patient_id": state.patient_id})
        return summary

    @app.get("/cases/{case_id}/events", tags=["cases"], name="case_history", response_model=None,
             responses=ok(HistoryPage, "A page of the case's history"))
    async def events(request: Request, case_id: Annotated[str, CASE_ID], purpose: Purpose,
                     from_version: Annotated[int, Query(ge=0, le=INT32)] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
                     principal: Principal = people) -> dict[str, Any]:
        """The case's full event history in order, paged by version."""
        row = await case_row(request, principal, case_id)
        records = await case_events(request.app.state.store.pool, case_id, from_version)
        page = records[:limit]
        await log_read(request, principal, case_id, "events", purpose)
        items = [{"version": e.version, "type": e.type, "event_id": e.event_id,
                  "schema_version": e.schema_version, "recorded_at": e.recorded_at,
                  "data": e.data} for e in page]
        return {
            "case_id": case_id,
            "items": shown(principal, items, row["protected_identity"]),
            "next_from_version": page[-1].version if len(records) > limit else None,
        }

    @app.get("/cases/{case_id}/access-log", tags=["operations"], name="case_access_log",
             response_model=None, responses=ok(CaseAccessLog, "Who read the case"))
    async def access_log(request: Request, case_id: Annotated[str, CASE_ID], purpose: Purpose,
                         principal: Principal = ops) -> dict[str, Any]:
        """Who read the case, when, in what role and why (PDL): for a patient's request. The
        read of the log is itself logged."""
        row = await case_row(request, principal, case_id)
        await log_read(request, principal, case_id, "access_log", purpose)
        items = await accesses_for_case(request.app.state.store.pool, case_id)
        return {"case_id": case_id, "items": shown(principal, items, row["protected_identity"])}

    @app.get("/patients/{patient_id}/access-log", tags=["operations"], response_model=None,
             responses=ok(PatientAccessLog, "Who read the patient's cases"))
    async def patient_access_log(request: Request, patient_id: Annotated[str, Path(max_length=20)],
                                 purpose: Purpose, principal: Principal = ops) -> dict[str, Any]:
        """Who read any of the patient's cases, when, in what role and why: the answer to a
        patient's request under PDL 8 kap. The read is logged on each of the cases."""
        pool = request.app.state.store.pool
        case_ids = await cases_of_patient(pool, patient_number(patient_id, "patient_id"))
        await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                              units=list(principal.units), case_ids=case_ids,
                              action="access_log", purpose=purpose)
        return {"cases": case_ids, "items": await accesses_for_cases(pool, case_ids)}

    @app.post("/cases/{case_id}/certificates/{certificate_id}/revoke", tags=["commands"])
    async def revoke_certificate(request: Request, case_id: Annotated[str, CASE_ID],
                                 certificate_id: str,
                                 body: bodies.RevokeCertificateBody,  # type: ignore[valid-type]
                                 key: IdempotencyKey = None,
                                 principal: Principal = physician) -> CommandResult:
        """Revoke (makulera) a certificate: it stops counting."""
        return await command(request, principal, case_id, lambda actor: bodies.build(
            c.RevokeCertificate, body, actor=actor, certificate_id=certificate_id), key)

    @app.post("/cases/{case_id}/plan", tags=["commands"], name="establish_or_revise_plan")
    async def plan(request: Request, case_id: Annotated[str, CASE_ID], body: bodies.PlanBody,
                   key: IdempotencyKey = None, principal: Principal = physician) -> CommandResult:
        """Establish the sick-leave and rehabilitation plan (KVÅ DV077) or revise it."""
        row = await case_row(request, principal, case_id, with_state=True)
        has_plan = bool(state_of(row).plans)
        actor = actor_of(principal, row["unit_id"])
        cmd = (c.RevisePlan(actor=actor, plan=body.plan, reason=body.reason) if has_plan
               else c.EstablishPlan(actor=actor, plan=body.plan))
        result = await send_command(request.app.state.temporal, case_id, cmd,
                                    update_id(request, principal.sub, case_id, key, cmd))
        await catch_up(request)
        return result

    @app.delete("/cases/{case_id}/consents/{recipient}/{purpose}", tags=["commands"])
    async def withdraw_consent(request: Request, case_id: Annotated[str, CASE_ID],
                               recipient: str, purpose: str, key: IdempotencyKey = None,
                               principal: Principal = care) -> CommandResult:
        """Record that the patient withdrew consent; it takes effect at once."""
        body = bodies.body_model(c.WithdrawConsent).model_construct(recipient=recipient,
                                                                    purpose=purpose)
        return await command(request, principal, case_id, lambda actor: bodies.build(
            c.WithdrawConsent, body, actor=actor), key)

    @app.post("/cases/{case_id}/coordination", tags=["commands"], name="record_coordination")
    async def coordination(
        request: Request, case_id: Annotated[str, CASE_ID],
        body: Annotated[bodies.COORDINATION_UNION,  # type: ignore[name-defined, unused-ignore]
                        Body(discriminator="action")],
        key: IdempotencyKey = None, principal: Principal = care,
    ) -> CommandResult:
        """The coordinator's measures (KVÅ GC001 when performed), status, meetings, SIP."""
        kind = bodies.COORDINATION_ACTIONS[body.action]  # type: ignore[attr-defined, unused-ignore]
        return await command(request, principal, case_id,
                             lambda actor: bodies.build(kind, body, actor=actor), key)

    for path, kind, body_model, roles, summary in SIMPLE_COMMANDS:
        _command_route(app, path, kind, body_model, roles, summary)

    @app.get("/measures", tags=["measures"], name="follow_up_measures", response_model=None,
             responses=ok(MeasuresView, "The period's measures"))
    async def measures(
        request: Request,
        from_: Annotated[date, Query(alias="from")],
        to: date,
        unit: str | None = None,
        principal: Principal = people,
    ) -> Any:
        """Follow-up measures (uppföljningsmått) for a period, from the event record."""
        if principal.role != "ops":
            if unit is None and len(principal.units) == 1:
                unit = principal.units[0]
            if unit is None or unit not in principal.units:
                raise refusal("unit", "unit_required",
                              "measures are per unit: give one of your units",
                              detail="give one of your units")
        await run_once(request.app.state.store, request.app.state.measure_facts)  # fresh figures
        try:
            result = await period_measures(request.app.state.store.pool, from_, to, unit)
        except InvalidQuery as err:
            raise refusal(err.field, "period_order", str(err)) from None
        return result.model_dump(mode="json")

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response
