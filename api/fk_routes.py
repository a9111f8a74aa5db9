"""HTTP routes of the Försäkringskassan integration.

Inbound, `POST /fk/messages` (role fk_gateway): FK's message to care (SendMessageToCare).
- The gateway's HMAC signature is verified when a shared secret is configured
  (settings.fk_secret): only the gateway can put a message on a case, and a captured request
  cannot be replayed later. Care's answer is signed back.
- The message finds its case by certificate id (fk/lookup.py); the case workflow records it
  through `ReceiveFkMessage` with update id `fk-<message id>`, so the domain's rules are the
  only rules (identity, certificate not revoked, references, topics).
- The answer is always the contract's result (fk/schemas.py `Result`), never problem+json
  (except 401/403 before the contract is reached): 200 OK when recorded, 200 INFO for a
  message id already received (acknowledged again, stored once), 422 ERROR VALIDATION_ERROR
  for a malformed message, an unknown certificate or a mismatching identity, 422 ERROR REVOKED
  for a revoked certificate, 409 ERROR APPLICATION_ERROR when the case is closed, 503 ERROR
  TECHNICAL_ERROR when the case could not record it now (FK should retry). Nothing is stored
  on any ERROR.

Care to FK:
- `POST /cases/{case_id}/fk/messages` (physician, coordinator): a question (AVSTMN, KONTKT,
  OVRIGT) or an answer. Answered 202: it is in the case's outbox; the workflow delivers it and
  records `FkMessageSent` with FK's receipt once FK acknowledged it.
- `POST /cases/{case_id}/fk/certificates` (physician): send a certificate (FK7804) to FK now.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from api.auth import Principal, require
from api.case_access import command
from api.commands import send_command
from api.deps import pool_of, settings_of, temporal_of
from api.problems import Problem, rule_kind, validation_errors
from domain import ErrorKind
from domain.commands import Actor, ReceiveFkMessage, SendCertificateToFk, SendFkMessage
from domain.fk import OutboundFkMessage
from fk.lookup import case_for_certificate, message_received
from fk.schemas import ErrorId, Result, SendMessageToCare
from infra.logs import get_logger
from infra.signing import signed_headers, verify

log = get_logger(__name__)

CASE_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

#: The contract's result code for a refusal, by the rule's kind (a conflict with the case's
#: state is FK's APPLICATION_ERROR; a message that is wrong in itself its VALIDATION_ERROR) ...
CONTRACT_BY_KIND: dict[ErrorKind, tuple[int, ErrorId]] = {
    ErrorKind.CONFLICT: (409, "APPLICATION_ERROR")}
#: ... and where the contract has a code of its own for a rule: a message about a revoked
#: certificate is REVOKED; an answer to a question already answered is, for FK, a message
#: that cannot be valid (for care's own API it is a conflict).
CONTRACT_BY_RULE: dict[str, tuple[int, ErrorId]] = {
    "certificate_revoked": (422, "REVOKED"),
    "already_answered": (422, "VALIDATION_ERROR"),
}


def fk_secret(request: Request) -> str:
    """The secret shared with FK's gateway."""
    return str(settings_of(request).fk_secret)


def contract_answer(request: Request, status: int, result: Result, key: str = "") -> Response:
    """The contract's result as JSON, signed with the gateway secret when there is one."""
    body = result.model_dump_json().encode()
    secret = fk_secret(request)
    headers = signed_headers(secret, body, key)
    return Response(body, status_code=status, headers=headers)


class FkContractRoute(APIRoute):
    """Malformed FK messages get the contract's VALIDATION_ERROR instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except RequestValidationError as exc:
                errors = validation_errors(list(exc.errors()))
                text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
                log.info("fk_message_refused", error_id="VALIDATION_ERROR", reason="malformed")
                return contract_answer(request, 422, Result.error("VALIDATION_ERROR", text))

        return handler


async def signed_by_gateway(request: Request) -> None:
    """Dependency: the body carries a fresh HMAC signature by FK's gateway."""
    secret = fk_secret(request)
    if not verify(secret, request.headers, await request.body()):
        raise HTTPException(401, "the FK gateway signature is missing, wrong or too old")


def contract_error(problem: Problem) -> tuple[int, Result]:
    """The contract's error for the case's refusal (a domain rule, a closed case, no answer)."""
    if problem.status == 503:
        return 503, Result.error("TECHNICAL_ERROR", problem.detail)
    if not problem.errors:  # no case for the message
        return 422, Result.error("VALIDATION_ERROR", problem.detail)
    rule = problem.errors[0]["rule"]
    status, code = CONTRACT_BY_RULE.get(rule) or CONTRACT_BY_KIND.get(rule_kind(rule),
                                                                      (422, "VALIDATION_ERROR"))
    return status, Result.error(code, problem.detail)


GATEWAY = Depends(require("fk_gateway"))
SIGNED = Depends(signed_by_gateway)
CARE = Depends(require("physician", "coordinator"))
PHYSICIAN = Depends(require("physician"))

_inbound = APIRouter(route_class=FkContractRoute, tags=["Försäkringskassan"])
_care = APIRouter(tags=["Försäkringskassan"])

_CONTRACT_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Result, "description": text}
    for status, text in [
        (200, "OK (recorded) or INFO (already received, acknowledged again)"),
        (409, "ERROR APPLICATION_ERROR: the case is closed"),
        (422, "ERROR VALIDATION_ERROR or REVOKED: malformed, unknown certificate, identity"),
        (503, "ERROR TECHNICAL_ERROR: try again later"),
    ]
}


@_inbound.post("/fk/messages", response_model=Result, responses=_CONTRACT_RESPONSES)
async def receive_fk_message(
    request: Request,
    message: SendMessageToCare,
    principal: Principal = GATEWAY,
    _signed: None = SIGNED,
) -> Response:
    """A message from Försäkringskassan (question, reminder or answer) to the case of its
    certificate. A repeated message id is acknowledged again (INFO) and stored once."""
    status, result = await record_fk_message(request, message, principal.sub)
    return contract_answer(request, status, result, message.message_id)


async def record_fk_message(
    request: Request, message: SendMessageToCare, gateway: str
) -> tuple[int, Result]:
    """FK's message onto the case of its certificate, whatever wire it came on (JSON here,
    RIV-TA SOAP in api/rivta_routes.py): the HTTP status and the contract's result. `gateway`
    is the authenticated sender, recorded as the actor."""
    mid = message.message_id
    pool = pool_of(request)
    case_id = await case_for_certificate(pool, message.certificate_id, message.patient_id)
    if case_id is None:
        log.info(
            "fk_message_refused",
            message_id=mid,
            error_id="VALIDATION_ERROR",
            reason="certificate_unknown",
        )
        text = (f"certificate {message.certificate_id} is not known to this care provider "
                "for this patient")
        return 422, Result.error("VALIDATION_ERROR", text)
    if await message_received(pool, case_id, mid):
        log.info("fk_message_repeated", message_id=mid, case_id=case_id)
        return 200, Result.info(f"message {mid} was already received")
    command = ReceiveFkMessage(
        actor=Actor(id=gateway, role="fk_gateway"), message=message.to_domain()
    )
    try:
        result = await send_command(temporal_of(request), case_id, command, f"fk-{mid}")
    except Problem as problem:
        status, refusal = contract_error(problem)
        log.info(
            "fk_message_refused",
            message_id=mid,
            case_id=case_id,
            error_id=refusal.error_id,
            rule=(problem.errors or [{}])[0].get("rule"),
        )
        return status, refusal
    if not result.events:
        return 200, Result.info(f"message {mid} was already received")
    log.info("fk_message_received", message_id=mid, case_id=case_id, topic=message.topic)
    return 200, Result.ok(f"message {mid} received")


class FkSendAccepted(BaseModel):
    case_id: str
    version: int
    events: list[str]
    status: str = Field(description="queued: on its way to FK; unchanged: already queued or sent")


class CertificateToFkBody(BaseModel):
    certificate_id: str = Field(min_length=1)


async def _command(
    request: Request, principal: Principal, case_id: str, build: Any, key: str | None
) -> FkSendAccepted:
    result = await command(request, principal, case_id, build, key)
    return FkSendAccepted(
        case_id=result.case_id,
        version=result.version,
        events=result.events,
        status="queued" if result.events else "unchanged",
    )


@_care.post("/cases/{case_id}/fk/messages", status_code=202, response_model=FkSendAccepted)
async def send_fk_message(
    request: Request,
    case_id: Annotated[str, CASE_ID],
    message: OutboundFkMessage,
    key: IdempotencyKey = None,
    principal: Principal = CARE,
) -> FkSendAccepted:
    """Write to Försäkringskassan: a question (AVSTMN, KONTKT, OVRIGT) or an answer
    (`answer_to`). It is delivered by the case and recorded as sent, with FK's receipt, once FK
    acknowledged it; the same message id and content again changes nothing."""
    return await _command(
        request, principal, case_id, lambda actor: SendFkMessage(actor=actor, message=message), key
    )


@_care.post("/cases/{case_id}/fk/certificates", status_code=202, response_model=FkSendAccepted)
async def send_certificate_to_fk(
    request: Request,
    case_id: Annotated[str, CASE_ID],
    body: CertificateToFkBody,
    key: IdempotencyKey = None,
    principal: Principal = PHYSICIAN,
) -> FkSendAccepted:
    """Send a certificate (FK7804) to Försäkringskassan now; once per certificate."""
    return await _command(
        request,
        principal,
        case_id,
        lambda actor: SendCertificateToFk(actor=actor, certificate_id=body.certificate_id),
        key,
    )


router = APIRouter()
router.include_router(_inbound)
router.include_router(_care)
