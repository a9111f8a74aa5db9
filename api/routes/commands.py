"""Commands: what care records on a case, each a Temporal update on the case's workflow
through the one command path (api/case_access.py `command`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel

from api import bodies
from api.auth import CARE, Principal, require
from api.case_access import actor_of, case_row, catch_up, command, state_of
from api.commands import send_command, update_id
from api.deps import Care, CaseId, IdempotencyKey, Physician, Temporal
from domain import commands as c
from workflows.case import CommandResult

router = APIRouter(tags=["commands"])


@router.post("/cases/{case_id}/certificates/{certificate_id}/revoke")
async def revoke_certificate(request: Request, case_id: CaseId, certificate_id: str,
                             body: bodies.RevokeCertificateBody,  # type: ignore[valid-type]
                             principal: Physician, key: IdempotencyKey = None) -> CommandResult:
    """Revoke (makulera) a certificate: it stops counting."""
    return await command(request, principal, case_id, lambda actor: bodies.build(
        c.RevokeCertificate, body, actor=actor, certificate_id=certificate_id), key)


@router.post("/cases/{case_id}/plan", name="establish_or_revise_plan")
async def plan(request: Request, case_id: CaseId, body: bodies.PlanBody, principal: Physician,
               temporal: Temporal, key: IdempotencyKey = None) -> CommandResult:
    """Establish the sick-leave and rehabilitation plan (KVÅ DV077) or revise it."""
    row = await case_row(request, principal, case_id, with_state=True)
    has_plan = bool(state_of(row).plans)
    actor = actor_of(principal, row["unit_id"])
    cmd = (c.RevisePlan(actor=actor, plan=body.plan, reason=body.reason) if has_plan
           else c.EstablishPlan(actor=actor, plan=body.plan))
    result = await send_command(temporal, case_id, cmd,
                                update_id(request, principal.sub, case_id, key, cmd))
    await catch_up(request)
    return result


@router.delete("/cases/{case_id}/consents/{recipient}/{purpose}")
async def withdraw_consent(request: Request, case_id: CaseId, recipient: str, purpose: str,
                           principal: Care, key: IdempotencyKey = None) -> CommandResult:
    """Record that the patient withdrew consent; it takes effect at once."""
    body = bodies.body_model(c.WithdrawConsent).model_construct(recipient=recipient,
                                                                purpose=purpose)
    return await command(request, principal, case_id, lambda actor: bodies.build(
        c.WithdrawConsent, body, actor=actor), key)


@router.post("/cases/{case_id}/coordination", name="record_coordination")
async def coordination(
    request: Request, case_id: CaseId,
    body: Annotated[bodies.COORDINATION_UNION,  # type: ignore[name-defined, unused-ignore]
                    Body(discriminator="action")],
    principal: Care, key: IdempotencyKey = None,
) -> CommandResult:
    """The coordinator's measures (KVÅ GC001 when performed), status, meetings, SIP."""
    kind = bodies.COORDINATION_ACTIONS[body.action]  # type: ignore[attr-defined, unused-ignore]
    return await command(request, principal, case_id,
                         lambda actor: bodies.build(kind, body, actor=actor), key)


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


def _command_route(path: str, kind: type[BaseModel], body_model: type[BaseModel],
                   roles: tuple[str, ...], summary: str) -> None:
    async def endpoint(request: Request, case_id: CaseId, body: Any,
                       key: IdempotencyKey = None,
                       principal: Principal = Depends(require(*roles))) -> CommandResult:  # type: ignore[arg-type]
        return await command(request, principal, case_id,
                             lambda actor: bodies.build(kind, body, actor=actor), key)

    endpoint.__annotations__["body"] = body_model  # the body's schema, for FastAPI and OpenAPI
    endpoint.__doc__ = summary
    router.post(path, name=kind.__name__)(endpoint)


for _path, _kind, _body, _roles, _summary in SIMPLE_COMMANDS:
    _command_route(_path, _kind, _body, _roles, _summary)
