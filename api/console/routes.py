"""The console's pages: server-rendered HTML on the API's own rules.

Reads go through the same query functions as the JSON API (store/queries.py), with the same
unit scoping (`Principal.sees_unit`, `case_row`: another unit's case is answered exactly as a
missing one), the same masking (`shown`, domain/privacy.py) and the same PDL entries
(`record_accesses`: one per case on a list page; `summary` and `events` for a case page).
Commands go through the API's command path (`api.case_access.command`: the Temporal update with an
Idempotency-Key, then read-your-writes), each form carrying its own key.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from api import bodies
from api import case_access as api  # the API's rules (case_row, shown, command): one set
from api.auth import CARE, PEOPLE, Role, issue_token, verifier_of
from api.console import session as sessions
from api.console import texts
from api.console.session import Session
from api.console.timeline import build as build_timeline
from api.deps import measure_facts_of, pool_of, settings_of, store_of
from api.problems import Problem, validation_errors
from domain import commands as c
from domain.calendar import STOCKHOLM
from domain.icd import CHAPTERS
from domain.identity import AGE_BANDS
from domain.measures import LENGTH_BUCKETS
from domain.privacy import HIDDEN
from store.access_log import (
    InvalidPurpose,
    accesses_for_case,
    accesses_for_cases,
    checked_purpose,
    record_accesses,
)
from store.kva import period_kva_counts
from store.patients import cases_of_patient
from store.queries import (
    COUNT_LIMIT,
    NO_COORDINATION_STATUS,
    SORT_COLUMNS,
    InvalidQuery,
    case_events,
    list_cases,
    period_measures,
    total_is_lower_bound,
)
from store.subscription import run_once

HERE = Path(__file__).parent
STATIC = {"htmx.min.js": "text/javascript", "console.css": "text/css"}
HISTORY_PAGE = 50
SIGN_IN_ROLES = ("coordinator", "physician", "ops")  # people; the FK gateway is a service
PAGE_SIZES = (25, 50, 100)
CASE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(t=texts, label=texts.label, HIDDEN=HIDDEN, tz=STOCKHOLM)
templates.env.filters["pct"] = texts.percent


# -- the frame every page shares -------------------------------------------------------------


def page(request: Request, name: str, session: Session | None, status: int = 200,
         **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, {"session": session, **context},
                                          status_code=status)
    # patient data: never cached, never framed
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'")
    return response


async def enter(request: Request, roles: tuple[Role, ...] = PEOPLE) -> Session | Response:
    """The signed-in session, or the sign-in page (no session) / a refusal page (wrong role)."""
    session = await sessions.current_session(request)
    if session is None:
        return RedirectResponse(f"/console/sign-in?{urlencode({'next': request.url.path})}", 303)
    if session.principal.role not in roles:
        return page(request, "refused.html", session, 403,
                    message=f"Rollen {texts.label(texts.ROLES, session.principal.role)} "
                            "har inte tillgång till den här sidan.")
    return session


async def form_of(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def missing(request: Request, session: Session, case_id: str) -> HTMLResponse:
    """A case that does not exist and a case at another unit get this same page."""
    return page(request, "missing.html", session, 404, case_id=case_id)


def today() -> date:
    return datetime.now(STOCKHOLM).date()


# -- static assets, sign-in ----------------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name],
                        headers={"Cache-Control": "public, max-age=3600"})


@router.get("")
@router.get("/")
async def home() -> Response:
    return RedirectResponse("/console/cases", 303)


def _dev_sign_in(request: Request) -> bool:
    """The dev sign-in page exists only where tokens are the dev HS256 ones (no JWKS)."""
    return settings_of(request).jwks_url is None


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = "/console/cases") -> Response:
    target = next if next.startswith("/console") else "/console/cases"
    if not _dev_sign_in(request):
        # Production: the reverse proxy has done the OIDC code flow with the region's identity
        # provider and passes its token; it becomes this session's cookie once verified.
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
            try:
                await verifier_of(request).verify(token)
            except Exception:  # noqa: BLE001 - any invalid token: the sign-in page says so
                return page(request, "sign_in.html", None, 401, dev=False,
                            error="Inloggningen från regionens inloggningstjänst gick inte att verifiera.")
            response: Response = RedirectResponse(target, 303)
            sessions.start_session(request, response, token, sessions.DEFAULT_PURPOSE)
            return response
        return page(request, "sign_in.html", None, dev=False)
    return _sign_in_form(request, next=target)


def _sign_in_form(request: Request, status: int = 200, **context: Any) -> Response:
    """The dev sign-in form, with its double-submit CSRF value in the form and a cookie."""
    csrf = sessions.sign_in_csrf_value(request)
    response = page(request, "sign_in.html", None, status, dev=True, csrf=csrf,
                    roles=SIGN_IN_ROLES, **context)
    sessions.set_sign_in_csrf(request, response, csrf)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    if not _dev_sign_in(request):
        return Response(status_code=404)
    form = await form_of(request)

    def again(error: str, status: int = 422) -> Response:
        return _sign_in_form(request, status, error=error, form=form,
                             next=form.get("next", "/console/cases"))

    if not sessions.sign_in_csrf_ok(request, form.get("csrf")):
        return again(texts.RULES["csrf"], 403)
    sub, role = form.get("sub", "").strip(), form.get("role", "")
    units = [u.strip() for u in form.get("units", "").split(",") if u.strip()]
    if not sub:
        return again("Ange ett användar-id.")
    if role not in SIGN_IN_ROLES:
        return again("Välj en roll.")
    if role != "ops" and not units:
        return again("Ange minst en vårdenhet.")
    try:
        purpose = checked_purpose(form.get("purpose") or sessions.DEFAULT_PURPOSE)
    except InvalidPurpose:
        return again("Ändamålet måste vara 1–200 skrivbara tecken.")
    settings = settings_of(request)
    token = issue_token(settings.jwt_secret, sub, role, units,  # type: ignore[arg-type]
                        ttl_seconds=min(8 * 3600, settings.jwt_max_age_seconds))
    target = form.get("next", "")
    response = RedirectResponse(target if target.startswith("/console") else "/console/cases", 303)
    sessions.start_session(request, response, token, purpose)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = await sessions.current_session(request)
    form = await form_of(request)
    if session is not None and not sessions.csrf_ok(session, form.get("csrf")):
        return page(request, "refused.html", session, 403, message=texts.RULES["csrf"])
    response = RedirectResponse("/console/sign-in", 303)
    sessions.end_session(response)
    return response


# -- sjukfallslistan -------------------------------------------------------------------------

class ListQuery(BaseModel):
    """The list page's query string as typed filters; an empty field is no filter."""

    unit: str | None = None
    phase: str | None = None
    min_days: int | None = None
    max_days: int | None = None
    grade: int | None = None
    diagnosis_chapter: str | None = None
    sex: str | None = None
    age_band: str | None = None
    overdue: bool | None = None
    unanswered_fk: bool | None = None
    in_coordinator_queue: bool | None = None
    coordination_status: str | None = None
    physician: str | None = None
    consent_held: str | None = None
    consent_not_held: str | None = None
    q: str | None = None
    sort: str = "sick_period_start"
    descending: bool = False
    limit: int = 50
    offset: int = 0


def list_query(request: Request) -> tuple[ListQuery, list[str]]:
    raw = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    errors: list[str] = []
    try:
        query = ListQuery.model_validate(raw)
    except ValidationError as err:
        for e in err.errors():
            field = str(e["loc"][0])
            errors.append(f"{FILTER_NAMES.get(field, field)}: ogiltigt värde.")
            raw.pop(field, None)
        query = ListQuery.model_validate(raw)
    checks = [
        ("phase", query.phase, texts.PHASES), ("sex", query.sex, texts.SEXES),
        ("coordination_status", query.coordination_status,
         {**texts.COORDINATION_STATUSES, NO_COORDINATION_STATUS: ""}),
        ("consent_held", query.consent_held, texts.CONSENT_RECIPIENTS),
        ("consent_not_held", query.consent_not_held, texts.CONSENT_RECIPIENTS),
    ]
    for field, value, allowed in checks:
        if value is not None and value not in allowed:
            errors.append(f"{FILTER_NAMES[field]}: ogiltigt värde.")
            setattr(query, field, None)
    if query.grade is not None and query.grade not in (25, 50, 75, 100):
        errors.append("Omfattning: välj 25, 50, 75 eller 100 %.")
        query.grade = None
    for field in ("min_days", "max_days", "offset"):
        if (getattr(query, field) or 0) < 0:
            errors.append(f"{FILTER_NAMES[field]}: får inte vara negativt.")
            setattr(query, field, None if field != "offset" else 0)
    if query.limit not in PAGE_SIZES:
        query.limit = 50
    if query.sort not in SORT_COLUMNS:
        query.sort = "sick_period_start"
    return query, errors


FILTER_NAMES = {"unit": "Vårdenhet", "phase": "Fas", "min_days": "Längd från (dagar)",
                "max_days": "Längd till (dagar)", "grade": "Omfattning",
                "diagnosis_chapter": "Diagnoskapitel", "sex": "Kön", "age_band": "Åldersgrupp",
                "overdue": "Försenade åtgärder", "unanswered_fk": "Obesvarade FK-meddelanden",
                "in_coordinator_queue": "Koordinatorns kö",
                "coordination_status": "Koordineringsstatus", "physician": "Läkare",
                "consent_held": "Samtycke finns", "consent_not_held": "Samtycke saknas",
                "q": "Fritext",
                "offset": "Sida", "limit": "Antal per sida", "sort": "Sortering"}


async def _list(request: Request, session: Session, query: ListQuery,
                action: str) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of the list, as GET /cases gives it: same scope, same query, same PDL entries,
    the total counted as far as the API counts it (and whether more match)."""
    principal = session.principal
    units = None if principal.role == "ops" else list(principal.units)
    if query.unit is not None:
        units = [u for u in (units if units is not None else [query.unit]) if u == query.unit]
    rows, total = await list_cases(
        pool_of(request), phase=query.phase, unit_ids=units, min_days=query.min_days,
        max_days=query.max_days, grade=query.grade, diagnosis_chapter=query.diagnosis_chapter,
        sex=query.sex, age_band=query.age_band, overdue=query.overdue,
        unanswered_fk=query.unanswered_fk, in_coordinator_queue=query.in_coordinator_queue,
        coordination_status=query.coordination_status, physician=query.physician,
        consent_held=query.consent_held, consent_not_held=query.consent_not_held,
        text=query.q, sort=query.sort,
        descending=query.descending, limit=query.limit, offset=query.offset,
        read_at=datetime.now(UTC), count_limit=(cap := max(COUNT_LIMIT, query.offset + query.limit)))
    await record_accesses(pool_of(request), actor_id=principal.sub,
                          role=principal.role, units=list(principal.units),
                          case_ids=[r["case_id"] for r in rows], action=action,
                          purpose=session.purpose)
    return ([api.shown(principal, r) for r in rows], min(total, cap),
            total_is_lower_bound(total, cap))


def _link(query: ListQuery, **changes: Any) -> str:
    values = {**query.model_dump(), **changes}
    kept = {k: ("true" if v is True else "false" if v is False else v)
            for k, v in values.items() if v is not None and v != ""}
    for k, default in (("sort", "sick_period_start"), ("descending", "false"), ("limit", 50),
                       ("offset", 0)):
        if kept.get(k) == default:
            kept.pop(k)
    return urlencode(kept)


@router.get("/cases")
async def case_list(request: Request) -> Response:
    session = await enter(request)
    if isinstance(session, Response):
        return session
    query, errors = list_query(request)
    try:
        rows, total, more = await _list(request, session, query, "list")
    except InvalidQuery as err:
        rows, total, more, errors = [], 0, False, [*errors, str(err)]
    context: dict[str, Any] = {
        "rows": rows, "total": total, "more": more, "query": query, "errors": errors,
        "link": lambda **k: _link(query, **k), "chapters": [f"{a}-{b}" for a, b in CHAPTERS],
        "age_bands": [band for _, _, band in AGE_BANDS] + [">65"], "today": today(),
        "no_status": NO_COORDINATION_STATUS, "page_sizes": PAGE_SIZES}
    partial = (request.headers.get("hx-request") == "true"
               and request.headers.get("hx-target") == "results")
    return page(request, "_results.html" if partial else "cases.html", session, **context)


CSV_COLUMNS = [("case_id", "Sjukfall"), ("unit_id", "Vårdenhet"), ("phase", "Fas"),
               ("sex", "Kön"), ("age_band", "Åldersgrupp"), ("sick_period_start", "Dag 1"),
               ("sick_period_end", "Slutdatum"), ("days", "Dagar"), ("current_grade", "Omfattning"),
               ("diagnosis_code", "Diagnos"), ("diagnosis_chapter", "Diagnoskapitel"),
               ("next_milestone_day", "Nästa dag i kedjan"), ("follow_up_due", "Uppföljning senast"),
               ("fk_answer_due", "Svar till FK senast"), ("overdue", "Försenat"),
               ("unanswered_fk", "Obesvarade FK"), ("coordination_status", "Koordineringsstatus"),
               ("protected_identity", "Skyddad identitet")]


def _csv(header: list[str], rows: list[list[Any]], filename: str) -> Response:
    """Semicolon-separated UTF-8 with a byte-order mark: what Swedish Excel opens as is."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@router.get("/cases.csv")
async def case_list_csv(request: Request) -> Response:
    """What the list page shows (same filters, sort and page), as CSV; each case an `export`."""
    session = await enter(request)
    if isinstance(session, Response):
        return session
    query, _ = list_query(request)
    try:
        rows, _, _ = await _list(request, session, query, "export")
    except InvalidQuery:
        rows = []
    values = []
    for r in rows:
        values.append([", ".join(r[k]) if k == "overdue" else
                       ("ja" if r[k] else "nej") if k == "protected_identity" else r[k]
                       for k, _ in CSV_COLUMNS])
    return _csv([name for _, name in CSV_COLUMNS], values, f"sjukfall-{today()}.csv")


# -- the case page ---------------------------------------------------------------------------


def _consents(state: Any, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for r in reversed(state.consents):
        if r.valid_at(now):
            status = "Gäller"
        elif r.withdrawn_at is not None and r.withdrawn_at <= now:
            status = f"Återkallat {r.withdrawn_at.astimezone(STOCKHOLM):%Y-%m-%d}"
        elif r.superseded_at is not None and r.superseded_at <= now:
            status = "Ersatt av ett nyare"
        else:
            status = "Har upphört att gälla"
        rows.append({"record": r, "valid": r.valid_at(now), "status": status})
    return rows


def _fk_threads(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """FK messages as threads: a question first, then its answers and reminders in time order."""
    by_id = {m["message"]["message_id"]: m for m in messages}

    def root(m: dict[str, Any]) -> str:
        seen = set()
        while True:
            msg = m["message"]
            parent = (msg.get("answer_to") or {}).get("message_id") or msg.get("reminder_of")
            if parent is None or parent not in by_id or parent in seen:
                return str(msg["message_id"])
            seen.add(parent)
            m = by_id[parent]

    threads: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(messages, key=lambda m: str(m["recorded_at"])):
        threads.setdefault(root(m), []).append(m)
    return list(threads.values())


def _duties(row: dict[str, Any], state: Any, now_day: date) -> list[dict[str, Any]]:
    duties: list[dict[str, Any]] = []
    if row.get("next_milestone_day"):
        at = row["next_milestone_at"].astimezone(STOCKHOLM).date()
        duties.append({"what": f"Dag {row['next_milestone_day']} i rehabiliteringskedjan",
                       "due": at, "late": False})
    if row.get("follow_up_due"):
        duties.append({"what": "Uppföljning av planen", "due": row["follow_up_due"],
                       "late": row["follow_up_due"] < now_day})
    for m in state.fk_messages.values():
        if m.awaiting_care:
            due = m.message.last_answer_date
            duties.append({"what": f"Svara FK: {texts.label(texts.FK_TOPICS, m.message.topic)}"
                                   f"{' – ' + m.message.heading if m.message.heading else ''}",
                           "due": due, "late": bool(m.overdue or (due and due < now_day)),
                           "komplt": m.message.topic == "KOMPLT"})
    for flag in row.get("overdue") or []:
        duties.append({"what": texts.label(texts.FLAGS, flag), "due": None, "late": True})
    if row.get("in_coordinator_queue"):
        duties.append({"what": "Över 30 dagar utan koordineringsstatus: ta ställning till "
                               "koordinering", "due": None, "late": False})
    for n in state.pending_notifications:
        duties.append({"what": f"Avisering väntar: till {texts.label(texts.RECIPIENTS, n.recipient)}"
                               f" – {texts.label(texts.NOTIFICATION_KINDS, n.kind)}",
                       "due": None, "late": False})
    return duties


async def render_case(request: Request, session: Session, case_id: str, *,
                      from_version: int = 0, refusal: str | None = None, status: int = 200,
                      done: str | None = None, form: dict[str, str] | None = None) -> Response:
    principal = session.principal
    pool = pool_of(request)
    try:
        row = await api.case_row(request, principal, case_id, with_state=True)
    except Problem as problem:
        if problem.status == 404:
            return missing(request, session, case_id)
        raise
    protected = bool(row["protected_identity"])
    state = api.state_of(row) if row.get("state") is not None else None
    records = await case_events(pool, case_id)
    # the case page is the summary and the history: the two entries GET /cases/{id} and
    # GET /cases/{id}/events write
    await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                          units=list(principal.units), case_ids=[case_id], action="summary",
                          purpose=session.purpose)
    await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                          units=list(principal.units), case_ids=[case_id], action="events",
                          purpose=session.purpose)
    masked = [e._replace(data=api.shown(principal, e.data, protected)) for e in records]
    now = datetime.now(UTC)
    now_day = today()
    history = [e for e in masked if e.version > from_version][:HISTORY_PAGE]
    more = history and history[-1].version < (masked[-1].version if masked else 0)
    context: dict[str, Any] = {
        "row": row, "case_id": case_id, "refusal": refusal, "done": done, "form": form or {},
        "history": history, "from_version": from_version, "today": now_day,
        "next_from": history[-1].version if more else None,
        "previous_from": max(from_version - HISTORY_PAGE, 0) if from_version > 0 else None,
        "may_act": principal.role in CARE and row["phase"] != "closed",
        "idempotency_key": lambda: uuid.uuid4().hex, "done_texts": DONE,
    }
    if state is not None:
        shown_state = api.shown(principal, state.model_dump(mode="json"), protected)
        context.update(
            state=state, patient_id=shown_state["patient_id"],
            timeline=build_timeline(state, masked, now_day),
            consents=_consents(state, now),
            threads=_fk_threads(list(shown_state["fk_messages"].values())),
            duties=_duties(row, state, now_day),
        )
    partial = request.headers.get("hx-target") == "history"
    return page(request, "_history.html" if partial else "case.html", session, status, **context)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str, from_version: int = 0) -> Response:
    session = await enter(request)
    if isinstance(session, Response):
        return session
    if not _valid_case_id(case_id):
        return missing(request, session, case_id)
    return await render_case(request, session, case_id, from_version=max(from_version, 0))


def _valid_case_id(case_id: str) -> bool:
    """The API's rule for a case id (api.deps.CASE_ID); anything else is no case."""
    return bool(CASE_ID.fullmatch(case_id))


# -- coordinator actions -------------------------------------------------------------------

DONE = {"consent": "Samtycket är registrerat.", "withdraw": "Samtycket är återkallat.",
        "status": "Koordineringsstatusen är ändrad.", "measure": "Insatsen är registrerad.",
        "follow_up": "Uppföljningen är registrerad."}


def _body(model: type[BaseModel], form: dict[str, str], fields: tuple[str, ...]) -> BaseModel:
    """A command body from the form's fields (an empty optional field is left out)."""
    data = {k: form[k] for k in fields if form.get(k, "") != ""}
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors = validation_errors(list(err.errors()))
        raise Problem(422, "; ".join(e["message"] for e in errors), errors) from None


ACTIONS: dict[str, tuple[type[BaseModel], Any, tuple[str, ...]]] = {
    # action: (body model, domain command, form fields)
    "consent": (bodies.GiveConsentBody, c.GiveConsent, ("recipient", "purpose", "valid_until")),
    "withdraw": (bodies.body_model(c.WithdrawConsent), c.WithdrawConsent, ("recipient", "purpose")),
    "status": (bodies.body_model(c.SetCoordinationStatus), c.SetCoordinationStatus,
               ("status", "note")),
    "measure": (bodies.body_model(c.PerformCoordination), c.PerformCoordination,
                ("kind", "performed_on", "note")),
    "follow_up": (bodies.RecordFollowUpBody, c.RecordPlanFollowUp,
                  ("followed_up_on", "note", "next_follow_up")),
}


@router.post("/cases/{case_id}/actions/{action}")
async def act(request: Request, case_id: str, action: str) -> Response:
    """One coordinator action through the API's command path; a refusal re-renders the case
    page with the rule in Swedish (and the form as it was filled in)."""
    session = await enter(request)
    if isinstance(session, Response):
        return session
    if action not in ACTIONS or not _valid_case_id(case_id):
        return missing(request, session, case_id)
    form = await form_of(request)
    if not sessions.csrf_ok(session, form.get("csrf")):
        return await render_case(request, session, case_id, refusal=texts.RULES["csrf"],
                                 status=403, form={**form, "action": action})
    if session.principal.role not in CARE:
        return await render_case(request, session, case_id, status=403, form={"action": action},
                                 refusal=texts.RULES["role_not_allowed"])
    model, kind, fields = ACTIONS[action]
    key = form.get("idempotency_key") or None
    try:
        body = _body(model, form, fields)
        await api.command(request, session.principal, case_id,
                          lambda actor: bodies.build(kind, body, actor=actor), key)
    except Problem as problem:
        if problem.status == 404:
            return missing(request, session, case_id)
        return await render_case(request, session, case_id, status=problem.status,
                                 refusal=texts.refusal(problem.status, problem.detail,
                                                       problem.errors),
                                 form={**form, "action": action})
    return RedirectResponse(f"/console/cases/{case_id}?{urlencode({'klart': action})}#meddelande",
                            303)


# -- access log (ops) ----------------------------------------------------------------------


@router.get("/cases/{case_id}/access-log")
async def case_access_log(request: Request, case_id: str) -> Response:
    session = await enter(request, ("ops",))
    if isinstance(session, Response):
        return session
    if not _valid_case_id(case_id):
        return missing(request, session, case_id)
    try:
        row = await api.case_row(request, session.principal, case_id)
    except Problem as problem:
        if problem.status == 404:
            return missing(request, session, case_id)
        raise
    principal = session.principal
    await record_accesses(pool_of(request), actor_id=principal.sub,
                          role=principal.role, units=list(principal.units), case_ids=[case_id],
                          action="access_log", purpose=session.purpose)
    items = await accesses_for_case(pool_of(request), case_id)
    return page(request, "access_log.html", session, case_id=case_id, row=row,
                items=api.shown(principal, items, row["protected_identity"]))


@router.get("/patients/access-log")
async def patient_access_log_form(request: Request) -> Response:
    session = await enter(request, ("ops",))
    if isinstance(session, Response):
        return session
    return page(request, "patient_log.html", session, items=None, form={})


@router.post("/patients/access-log")
async def patient_access_log(request: Request) -> Response:
    """By POST: the identity number never sits in a URL (server logs, browser history)."""
    session = await enter(request, ("ops",))
    if isinstance(session, Response):
        return session
    form = await form_of(request)
    if not sessions.csrf_ok(session, form.get("csrf")):
        return page(request, "patient_log.html", session, 403, items=None, form=form,
                    error=texts.RULES["csrf"])
    try:
        patient = api.patient_number(form.get("patient_id", ""), "patient_id")
    except Problem:
        return page(request, "patient_log.html", session, 422, items=None, form=form,
                    error="Ange ett giltigt person- eller samordningsnummer (ÅÅÅÅMMDD-NNNN).")
    pool = pool_of(request)
    case_ids = await cases_of_patient(pool, patient)
    principal = session.principal
    await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                          units=list(principal.units), case_ids=case_ids, action="access_log",
                          purpose=session.purpose)
    items = await accesses_for_cases(pool, case_ids)
    return page(request, "patient_log.html", session, items=items, case_ids=case_ids,
                patient=patient, form=form)


# -- statistics (uppföljning) ------------------------------------------------------------------

SHARES = [("with_plan", "Andel med plan (DV077)"),
          ("plan_followed_up", "Andel planer uppföljda (AW026)"),
          ("coordination_given", "Andel med koordineringsinsats (GC001)"),
          ("over_30_days_to_coordinator", "Över 30 dagar, hänvisade till rehabkoordinator"),
          ("employer_plan_by_day_30", "Arbetsgivarens plan senast dag 30"),
          ("komplt_per_certificate", "Kompletteringar per intyg")]
SPLITS = [("by_sex", "Kön"), ("by_unit", "Vårdenhet"), ("by_chapter", "Diagnoskapitel"),
          ("by_length", "Sjukfallets längd")]


def _period(request: Request, session: Session) -> tuple[date, date, str | None, list[str]]:
    errors = []
    params = request.query_params
    now_day = today()
    try:
        period_from = date.fromisoformat(params.get("from") or f"{now_day.year}-01-01")
    except ValueError:
        errors.append("Från: ange ett datum som ÅÅÅÅ-MM-DD.")
        period_from = date(now_day.year, 1, 1)
    try:
        period_to = date.fromisoformat(params.get("to") or now_day.isoformat())
    except ValueError:
        errors.append("Till: ange ett datum som ÅÅÅÅ-MM-DD.")
        period_to = now_day
    if period_to < period_from:
        errors.append("Perioden slutar innan den börjar.")
        period_to = period_from
    unit = params.get("unit") or None
    principal = session.principal
    if principal.role != "ops" and unit not in principal.units:  # as GET /measures
        if unit is not None:
            errors.append("Vårdenhet: välj en av dina enheter.")
        unit = principal.units[0] if principal.units else None
    return period_from, period_to, unit, errors


async def _measures(request: Request, period_from: date, period_to: date,
                    unit: str | None) -> Any:
    await run_once(store_of(request), measure_facts_of(request))
    return await period_measures(pool_of(request), period_from, period_to, unit)


def _share_rows(m: Any) -> list[dict[str, Any]]:
    return [{"name": name, **getattr(m, key).model_dump()} for key, name in SHARES]


def _split_share_tables(m: Any) -> list[dict[str, Any]]:
    """Every share by sex and by unit (seed 004): one table each, a column per group."""
    tables = []
    for key, name in (("by_sex", "Kön"), ("by_unit", "Vårdenhet")):
        groups = sorted({g for share_key, _ in SHARES for g in getattr(getattr(m, share_key), key)})
        tables.append({"key": key, "name": name, "groups": [
            texts.label(texts.SEXES, g) if key == "by_sex" else g for g in groups],
            "rows": [{"name": share_name, "cells": [getattr(getattr(m, share_key), key).get(g)
                                                    for g in groups]}
                     for share_key, share_name in SHARES]})
    return tables


def _split_rows(m: Any) -> list[dict[str, Any]]:
    order = {"by_length": [label for label, _, _ in LENGTH_BUCKETS] + [">2 år"]}
    charts = []
    for key, name in SPLITS:
        counts: dict[str, int] = getattr(m.ongoing, key)
        keys = [k for k in order.get(key, sorted(counts)) if k in counts]
        top = max(counts.values(), default=0)
        charts.append({"key": key, "name": name, "top": top,
                       "bars": [{"label": texts.label(texts.SEXES, k) if key == "by_sex" else k,
                                 "value": counts[k]} for k in keys]})
    return charts


@router.get("/statistics")
async def statistics(request: Request) -> Response:
    session = await enter(request)
    if isinstance(session, Response):
        return session
    period_from, period_to, unit, errors = _period(request, session)
    if session.principal.role != "ops" and unit is None:
        return page(request, "refused.html", session, 403,
                    message="Du har ingen vårdenhet att visa uppföljning för.")
    m = await _measures(request, period_from, period_to, unit)
    kva = await period_kva_counts(pool_of(request), period_from, period_to, unit)
    return page(request, "statistics.html", session, m=m, kva=kva, errors=errors, unit=unit,
                period_from=period_from, period_to=period_to, shares=_share_rows(m),
                split_shares=_split_share_tables(m), charts=_split_rows(m),
                csv_query=urlencode({"from": period_from, "to": period_to,
                                     **({"unit": unit} if unit else {})}))


@router.get("/statistics.csv")
async def statistics_csv(request: Request) -> Response:
    session = await enter(request)
    if isinstance(session, Response):
        return session
    period_from, period_to, unit, _ = _period(request, session)
    if session.principal.role != "ops" and unit is None:
        return Response(status_code=403)
    m = await _measures(request, period_from, period_to, unit)
    rows: list[list[Any]] = [["Totalt", kind, "", getattr(m, kind).total]
                             for kind in ("started", "ongoing", "ended")]
    for chart in _split_rows(m):
        rows += [[chart["name"], "ongoing", bar["label"], bar["value"]] for bar in chart["bars"]]
    def value(share: Any) -> str:
        return "" if share["share"] is None else f"{share['share']:.3f}".replace(".", ",")

    for share in _share_rows(m):
        rows.append([share["name"], f"{share['numerator']}/{share['denominator']}", "",
                     value(share)])
        for key in ("by_sex", "by_unit"):  # the share by sex and by unit (seed 004)
            for group, part in share[key].items():
                label = texts.label(texts.SEXES, group) if key == "by_sex" else group
                rows.append([share["name"], f"{part['numerator']}/{part['denominator']}", label,
                             value(part)])
    return _csv(["Mått", "Urval", "Grupp", "Värde"], rows,
                f"uppfoljning-{unit or 'alla'}-{period_from}-{period_to}.csv")
