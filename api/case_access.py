"""The API's rules for reaching a case, shared by every route, the FK routes and the console:
unit scoping (another unit's case is a 404), the command path (bounds, the certificate's one
case, the rehabilitation chain lookup, the Temporal update, read-your-writes), PDL entries for
reads, and masking of protected identities."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import Request

from api.auth import PEOPLE, Principal
from api.commands import domain_problem, send_command, update_id
from api.deps import pool_of, store_of, summary_of, temporal_of
from api.problems import Problem, refusal
from domain import DomainError
from domain import commands as c
from domain.bounds import check_bounds
from domain.calendar import STOCKHOLM
from domain.identity import normalise
from domain.privacy import mask_identity
from domain.rehab_chain import link
from domain.state import CaseState
from fk.lookup import case_holding_certificate
from store.access_log import record_access, record_accesses
from store.patients import cases_of_patient, other_sick_periods
from store.queries import folded_case, get_case_summary
from store.subscription import run_once
from workflows.case import CommandResult


def actor_of(principal: Principal, unit_id: str | None = None) -> c.Actor:
    return c.Actor(id=principal.sub, role=principal.role, unit_id=unit_id)


async def catch_up(request: Request) -> None:
    await run_once(store_of(request), summary_of(request))


async def case_row(request: Request, principal: Principal, case_id: str,
                   with_state: bool = False) -> dict[str, Any]:
    """The case's summary row, if the caller may see the case's unit; else 404 (not 403, so
    that a user cannot probe which case ids exist at other units)."""
    pool = pool_of(request)
    row = await get_case_summary(pool, case_id, with_state=with_state)
    if row is None:  # maybe opened a moment ago through another API instance
        await catch_up(request)
        row = await get_case_summary(pool, case_id, with_state=with_state)
    if row is None or not principal.sees_unit(row["unit_id"]):
        raise Problem(404, f"no case {case_id}")
    return row


async def may_open_under(request: Request, principal: Principal, case_id: str) -> bool:
    """A client-chosen case id is free, or already the caller's own unit's case."""
    pool = pool_of(request)
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
    if await case_holding_certificate(pool_of(request), cid, case_id):
        message = f"certificate {cid} is already recorded on another case"
        raise refusal("certificate.certificate_id", "certificate_in_other_case", message)


async def with_rehab_chain(request: Request, cmd: Any, case_id: str, patient_id: str) -> Any:
    """The command with the rehabilitation chain link its day 1 gets from the patient's other
    sick periods (the index of cases by patient; domain/rehab_chain.py has the rule)."""
    periods = await other_sick_periods(pool_of(request), patient_id, case_id)
    return cmd.model_copy(update={"rehab_chain": link(cmd.sick_period_start, periods)})


async def command(request: Request, principal: Principal, case_id: str, build: Any,
                  key: str | None) -> CommandResult:
    row = await case_row(request, principal, case_id)
    cmd = build(actor_of(principal, row["unit_id"]))
    try:  # the input's own bounds first: invalid input is a 422 whatever else holds
        check_bounds(cmd)
    except DomainError as err:
        raise domain_problem(err) from None
    await certificate_is_this_cases(request, case_id, cmd)
    if isinstance(cmd, c.CorrectSickPeriodStart):
        patient_id = (await folded_case(pool_of(request), case_id)).patient_id
        if patient_id is not None:
            cmd = await with_rehab_chain(request, cmd, case_id, patient_id)
    result = await send_command(temporal_of(request), case_id, cmd,
                                update_id(request, principal.sub, case_id, key, cmd))
    await catch_up(request)
    return result


async def log_read(request: Request, principal: Principal, case_id: str, action: str,
                   purpose: str) -> None:
    if principal.role in PEOPLE:
        await record_access(pool_of(request), actor_id=principal.sub,
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
    pool = pool_of(request)
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
