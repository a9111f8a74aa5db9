"""FK's messages to care over the national contracts: SendMessageToCare v2 as a SOAP endpoint.

    POST /clinicalprocess/healthcond/certificate/SendMessageToCare/2/rivtabp21

RIV-TA basic profile 2.1: a SOAP 1.1 envelope whose header names the receiver's
`LogicalAddress` and whose body is one `SendMessageToCare` (urn:riv:clinicalprocess:healthcond:
certificate:SendMessageToCareResponder:2); `SOAPAction` names the operation. The answer is always
the contract's `SendMessageToCareResponse` with a ResultType, HTTP 200, as the platform expects:
- OK: recorded on the case of the certificate (the JSON route's code path,
  `fk_routes.record_fk_message`, so the domain's rules are the same rules);
- INFO: this meddelande-id was already received (acknowledged again, stored once);
- ERROR VALIDATION_ERROR: not well-formed, a DOCTYPE (never expanded), not the contract's
  schema, an unknown `amne`, a LogicalAddress that is not ours (SJUKFALL_RIVTA_LOGICAL_ADDRESS),
  a wrong SOAPAction, an unknown certificate, a rule the message breaks;
  ERROR REVOKED: the certificate is revoked; ERROR APPLICATION_ERROR: the case is closed;
  ERROR TECHNICAL_ERROR: the case could not record it now (the platform retries).
Nothing is stored on any ERROR.

Who may call: the national platform authenticates with its certificate (mutual TLS). TLS ends
at the ingress, which must verify the client certificate and pass `ssl-client-verify` and
`ssl-client-subject-dn` (ingress-nginx's names; the ingress must overwrite them, never pass a
client's). With SJUKFALL_RIVTA_PLATFORM_DN set (required in production) any other caller gets
a SOAP Fault with HTTP 403. The endpoint answers 404 unless SJUKFALL_FK_TRANSPORT=rivta. It
is not in /openapi.json: a SOAP service is described by its contract (the XSDs), not OpenAPI.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import settings_of
from api.fk_routes import record_fk_message
from fk.rivta import mapping, soap
from fk.rivta.soap import SEND_MESSAGE_TO_CARE, RivtaError
from fk.schemas import Result, SendMessageToCare
from infra.logs import get_logger

log = get_logger(__name__)

#: The actor FK's messages are recorded by when they come through the national platform.
PLATFORM_ACTOR = "national-platform"

router = APIRouter(tags=["Försäkringskassan (RIV-TA)"])


def _answer(result: Result) -> Response:
    body = soap.result_element(SEND_MESSAGE_TO_CARE, result)
    soap.validate(SEND_MESSAGE_TO_CARE, body)  # our answers keep the contract too
    return Response(soap.envelope(None, body), media_type="text/xml; charset=UTF-8")


def _fault(status: int, text: str) -> Response:
    return Response(soap.fault(text), status_code=status, media_type="text/xml; charset=UTF-8")


@router.post(SEND_MESSAGE_TO_CARE.path, response_class=Response, include_in_schema=False)
async def send_message_to_care(request: Request) -> Response:
    """SendMessageToCare v2 from Försäkringskassan through the national platform."""
    settings = settings_of(request)
    if settings.fk_transport != "rivta":
        return _fault(404, "the RIV-TA transport is not enabled (SJUKFALL_FK_TRANSPORT)")
    if settings.rivta_platform_dn and not (
        request.headers.get("ssl-client-verify") == "SUCCESS"
        and request.headers.get("ssl-client-subject-dn") == settings.rivta_platform_dn
    ):
        log.info("rivta_caller_refused", contract=SEND_MESSAGE_TO_CARE.name)
        return _fault(403, "only the national platform may call this service")
    if int(request.headers.get("content-length") or 0) > soap.MAX_BYTES:
        return _answer(Result.error("VALIDATION_ERROR", "the message is too large"))
    try:
        message = _read(await request.body(), request, settings.rivta_logical_address)
    except RivtaError as err:
        log.info("fk_message_refused", error_id="VALIDATION_ERROR", reason="contract")
        return _answer(Result.error("VALIDATION_ERROR", str(err)))
    _status, result = await record_fk_message(request, message, PLATFORM_ACTOR)
    return _answer(result)


def _read(data: bytes, request: Request, ours: str) -> SendMessageToCare:
    """The message, or RivtaError naming what breaks the contract."""
    action = request.headers.get("soapaction", "").strip().strip('"')
    if action and action != SEND_MESSAGE_TO_CARE.soap_action:
        raise RivtaError(f"SOAPAction {action} is not {SEND_MESSAGE_TO_CARE.soap_action}")
    opened = soap.open_envelope(data)
    if opened.body is None:
        raise RivtaError("a SOAP Fault is not a request")
    if opened.logical_address != ours:
        raise RivtaError(
            f"LogicalAddress {opened.logical_address or '(none)'} is not this care provider's"
        )
    return mapping.read_send_message_to_care(opened.body)
