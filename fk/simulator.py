"""A Försäkringskassan simulator: a real HTTP service that plays FK's integration gateway.

It does what FK does for a care system, over HTTP with the same signed JSON as the JSON
transport (fk/port.py), and, in RIV-TA mode (`protocol="rivta"`, SJUKFALL_FK_TRANSPORT=rivta),
as the national platform: it receives RegisterCertificate v3, SendMessageToRecipient v2 and
RevokeCertificate v2 as SOAP on the contracts' paths (validated against fk/rivta/schemas/,
answered with ResultType) and sends SendMessageToCare v2 to care's SOAP endpoint. It receives
on both wires whatever the mode; the mode chooses how it sends. In JSON mode it:
- accepts certificates (`POST /certificates`) and messages from care (`POST /messages`):
  verifies the signature, validates against the contract, stores each id once and answers a
  repeat with the same receipt again (result INFO), counting every acceptance;
- sends messages to care's `POST /fk/messages` (signed, bearer token of role fk_gateway): each
  topic, answers to care's questions, reminders (PAMINN), exact duplicates and malformed ones;
- can be told to misbehave for the next N requests: `fail` (503, nothing stored), `timeout`
  (hang, nothing stored), `accept_then_fail` / `accept_then_timeout` (store, then 503 or hang:
  the sender cannot know FK has it, so its retry must be deduplicated), `reject`
  (VALIDATION_ERROR).

Use it from Python (`async with Simulator(secret, care_url, care_token) as fk: await
fk.ask("KOMPLT", ...)`) or over HTTP (`sjukfall run` serves `create_app(...)` on
settings.fk_simulator_port):

    POST /control/send  {"kind": "KOMPLT"|"AVSTMN"|"KONTKT"|"OVRIGT"|"PAMINN"|"answer"|
                         "duplicate"|"malformed", "certificate_id", "patient_id",
                         "reminder_of", "answer_to", "malformed": "not_json"|..., "times": 1,
                         "fields": {...}}   -> [{status, result, body, signed}] per delivery
    POST /control/mode  {"mode": "normal"|"fail"|..., "times": 1 | null}
    GET  /control/state what FK holds and has counted
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Self, get_args

import httpx
import uvicorn
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fk.rivta import mapping, soap
from fk.rivta.soap import Contract
from fk.rivta.transport import FK_LOGICAL_ADDRESS
from fk.schemas import (
    Receipt,
    RegisterCertificate,
    Result,
    RevokeCertificate,
    SendMessageToCare,
    SendMessageToRecipient,
)
from infra.embedded import free_port
from infra.signing import signed_headers, verify

Mode = Literal["normal", "fail", "timeout", "accept_then_fail", "accept_then_timeout", "reject"]
Protocol = Literal["json", "rivta"]
Kind = Literal["certificate", "message", "revocation"]
Item = RegisterCertificate | SendMessageToRecipient | RevokeCertificate
JSON_MODELS: dict[str, type[Item]] = {
    "certificate": RegisterCertificate,
    "message": SendMessageToRecipient,
    "revocation": RevokeCertificate,
}
Malformed = Literal[
    "not_json",
    "missing_fields",
    "unknown_topic",
    "bad_date",
    "bad_signature",
    "no_token",
    # RIV-TA only: a DOCTYPE with an entity (XXE / billion laughs), care's wrong logical address
    "not_xml",
    "doctype",
    "wrong_logical_address",
]
#: The care API's SOAP endpoint for FK's messages (api/rivta_routes.py).
CARE_SOAP_PATH = soap.SEND_MESSAGE_TO_CARE.path


def _key(kind: Kind, item: Item) -> str:
    """The id FK stores a request under (a revocation apart from its certificate)."""
    if isinstance(item, RevokeCertificate):
        return f"revoked-{item.certificate_id}"
    return item.certificate_id if isinstance(item, RegisterCertificate) else item.message_id


HEADINGS = {
    "KOMPLT": "Komplettering",
    "AVSTMN": "Avstämningsmöte",
    "KONTKT": "Kontakt",
    "OVRIGT": "Övrigt",
    "PAMINN": "Påminnelse",
}


class CareAnswer(BaseModel):
    """What care answered one message: HTTP status, the contract result, whether it was signed."""

    status: int
    result: Result | None = None
    body: str = ""
    signed: bool = False

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.result is not None and self.result.accepted


@dataclass
class SimulatedFk:
    """FK's side of the conversation: what it holds, what it sent, how it behaves."""

    secret: str
    care_url: str = ""  # care's API base URL: messages go to {care_url}/fk/messages
    care_token: str = ""  # bearer token with role fk_gateway
    hang_seconds: float = 30.0  # how long `timeout` modes hang before answering
    protocol: Protocol = "json"  # json: fk/port.py's signed JSON; rivta: the SOAP contracts
    care_address: str = "SE0000000000-SJUKFALL"  # RIV-TA: care's logical address
    fk_address: str = FK_LOGICAL_ADDRESS  # RIV-TA: FK's logical address
    platform_dn: str | None = None  # RIV-TA: the platform certificate DN care's proxy forwards
    certificates: dict[str, RegisterCertificate] = field(default_factory=dict)
    messages_from_care: dict[str, SendMessageToRecipient] = field(default_factory=dict)
    revocations: dict[str, RevokeCertificate] = field(default_factory=dict)  # certificate id ->
    receipts: dict[str, Receipt] = field(default_factory=dict)
    schema_refusals: list[str] = field(default_factory=list)  # RIV-TA requests FK refused
    soap_requests: list[tuple[str, bytes]] = field(default_factory=list)  # (contract, envelope)
    accepted: Counter[str] = field(default_factory=Counter)  # id -> acceptances, repeats counted
    attempts: int = 0
    bad_signatures: int = 0
    sent_to_care: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last body sent
    care_answers: list[CareAnswer] = field(default_factory=list)
    mode: Mode = "normal"
    mode_times: int | None = None  # requests left in `mode` (None: until changed)

    # -- behaviour ----------------------------------------------------------------------------

    def set_mode(self, mode: Mode, times: int | None = 1) -> None:
        """Misbehave for the next `times` requests from care (None: until told otherwise)."""
        self.mode, self.mode_times = mode, times

    def _take_mode(self) -> Mode:
        mode = self.mode
        if mode != "normal" and self.mode_times is not None:
            self.mode_times -= 1
            if self.mode_times <= 0:
                self.mode, self.mode_times = "normal", None
        return mode

    # -- receiving from care ------------------------------------------------------------------

    def _answer(self, status: int, payload: BaseModel, key: str) -> Response:
        body = payload.model_dump_json().encode()
        return Response(body, status_code=status, headers=signed_headers(self.secret, body, key))

    async def receive(self, request: Request, kind: Kind) -> Response:
        """A signed JSON request from care (the JSON transport)."""
        self.attempts += 1
        body = await request.body()
        key = request.headers.get("Idempotency-Key", "")
        if not verify(self.secret, request.headers, body):
            self.bad_signatures += 1
            return self._answer(
                401, Result.error("VALIDATION_ERROR", "the signature is missing or wrong"), key
            )
        mode = self._take_mode()
        if mode in ("timeout", "fail"):
            if mode == "timeout":
                await asyncio.sleep(self.hang_seconds)
            return self._answer(503, Result.error("TECHNICAL_ERROR", "FK is unavailable"), key)
        if mode == "reject":
            return self._answer(422, Result.error("VALIDATION_ERROR", "refused (simulated)"), key)
        try:
            item = JSON_MODELS[kind].model_validate_json(body)
        except ValidationError as err:
            text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            return self._answer(422, Result.error("VALIDATION_ERROR", text), key)
        status, answer = await self._accept(kind, item, mode)
        return self._answer(status, answer, key)

    async def _accept(self, kind: Kind, item: Item, mode: Mode) -> tuple[int, Receipt | Result]:
        """FK's handling of a well-formed request, whatever the wire: refuse, or store once
        and acknowledge (a repeat: INFO, same receipt), then misbehave as the mode says."""
        refusal = self._refusal(item)
        if refusal is not None:
            return 422, refusal
        item_id = _key(kind, item)
        first = item_id not in self.receipts
        if first:
            if isinstance(item, RegisterCertificate):
                self.certificates[item_id] = item
            elif isinstance(item, RevokeCertificate):
                self.revocations[item.certificate_id] = item
            else:
                self.messages_from_care[item_id] = item
            self.receipts[item_id] = Receipt(
                receipt_id=f"fk-{kind}-{item_id}",
                received_at=datetime.now(UTC),
                result=Result.ok(),
            )
        self.accepted[item_id] += 1
        receipt = self.receipts[item_id]
        if not first:  # stored once, acknowledged again
            receipt = receipt.model_copy(
                update={"result": Result.info(f"{kind} {item_id} was already received")}
            )
        if mode == "accept_then_fail":
            return 503, Result.error("TECHNICAL_ERROR", "lost the answer")
        if mode == "accept_then_timeout":
            await asyncio.sleep(self.hang_seconds)
        return 200, receipt

    async def receive_soap(self, request: Request, contract: Contract) -> Response:
        """A RIV-TA request from care: SOAP, validated against the contract's schema, to FK's
        logical address; answered with the contract's ResultType (HTTP 200), or a SOAP Fault
        with HTTP 503 while FK is down."""
        self.attempts += 1

        def answer(result: Result, status: int = 200) -> Response:
            body = soap.envelope(None, soap.result_element(contract, result))
            return Response(body, status_code=status, media_type="text/xml; charset=UTF-8")

        def fault(text: str) -> Response:
            return Response(soap.fault(text), status_code=503, media_type="text/xml")

        mode = self._take_mode()
        if mode in ("timeout", "fail"):
            if mode == "timeout":
                await asyncio.sleep(self.hang_seconds)
            return fault("FK is unavailable (simulated)")
        if mode == "reject":
            return answer(Result.error("VALIDATION_ERROR", "refused (simulated)"))
        readers: dict[str, Callable[[Any], Item]] = {
            soap.REGISTER_CERTIFICATE.name: mapping.read_register_certificate,
            soap.SEND_MESSAGE_TO_RECIPIENT.name: mapping.read_send_message_to_recipient,
            soap.REVOKE_CERTIFICATE.name: mapping.read_revoke_certificate,
        }
        raw = await request.body()
        self.soap_requests.append((contract.name, raw))
        try:
            opened = soap.open_envelope(raw)
            if opened.body is None:
                raise soap.RivtaError("a SOAP Fault is not a request")
            if opened.logical_address != self.fk_address:
                raise soap.RivtaError(
                    f"LogicalAddress {opened.logical_address!r} is not FK ({self.fk_address})"
                )
            item = readers[contract.name](opened.body)
        except soap.RivtaError as err:
            self.schema_refusals.append(f"{contract.name}: {err}")
            return answer(Result.error("VALIDATION_ERROR", str(err)))
        kind: Kind = (
            "certificate"
            if isinstance(item, RegisterCertificate)
            else "revocation"
            if isinstance(item, RevokeCertificate)
            else "message"
        )
        status, result = await self._accept(kind, item, mode)
        if status == 503:
            return fault("FK lost the answer (simulated)")
        return answer(result.result if isinstance(result, Receipt) else result)

    def _refusal(self, item: Item) -> Result | None:
        """FK's own checks: an answer must answer a message FK sent, of the same topic; a
        revocation must name a certificate FK has; a revoked certificate stays revoked."""
        if isinstance(item, RevokeCertificate):
            held = self.certificates.get(item.certificate_id)
            if held is None:
                return Result.error(
                    "VALIDATION_ERROR", f"FK has no certificate {item.certificate_id}"
                )
            if held.patient_id != item.patient_id:
                return Result.error(
                    "VALIDATION_ERROR", "the patient does not match the certificate"
                )
            return None
        if isinstance(item, RegisterCertificate) and item.certificate_id in self.revocations:
            return Result.error("REVOKED", f"certificate {item.certificate_id} is revoked")
        if isinstance(item, SendMessageToRecipient) and item.answer_to is not None:
            question = self.sent_to_care.get(item.answer_to.message_id)
            if question is None:
                return Result.error(
                    "VALIDATION_ERROR", f"FK sent no message {item.answer_to.message_id}"
                )
            if question["topic"] != item.topic:
                return Result.error("VALIDATION_ERROR", "an answer must keep the question's topic")
        return None

    # -- sending to care ----------------------------------------------------------------------

    def compose(
        self, topic: str, certificate_id: str, patient_id: str, **fields: Any
    ) -> dict[str, Any]:
        """A SendMessageToCare body with sensible defaults (KOMPLT: one item, 14 days to answer)."""
        message_id = fields.pop("message_id", None) or f"fk-{uuid.uuid4().hex[:12]}"
        body: dict[str, Any] = {
            "message_id": message_id,
            "reference_id": f"ref-{message_id}",
            "sent_at": datetime.now(UTC).isoformat(),
            "certificate_id": certificate_id,
            "patient_id": patient_id,
            "topic": topic,
            "heading": HEADINGS.get(topic, topic),
            "text": f"{HEADINGS.get(topic, topic)} från Försäkringskassan.",
            "sender": "Försäkringskassan",
            "contact_info": "Handläggare, 0771-524 524",
        }
        if topic == "KOMPLT" and "answer_to" not in fields:
            body["completion_items"] = [
                {"question_id": "4", "instance": 1, "text": "Beskriv aktivitetsbegränsningen."}
            ]
            body["last_answer_date"] = (date.today() + timedelta(days=14)).isoformat()
        body.update({k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()})
        return body

    async def send(
        self,
        message: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        token: str | None = None,
    ) -> CareAnswer:
        """Deliver one message to care, signed (with `secret`, default FK's) and authorised; in
        RIV-TA mode as SendMessageToCare through the platform (`soap_request` for the XML)."""
        if self.protocol == "rivta":
            return await self.send_soap(message, authenticated=token != "")
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        key = message.get("message_id", "") if isinstance(message, dict) else ""
        headers = signed_headers(secret or self.secret, raw, str(key) or uuid.uuid4().hex)
        bearer = self.care_token if token is None else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if isinstance(message, dict) and key:
            self.sent_to_care[str(key)] = message
        async with httpx.AsyncClient(timeout=30.0) as http:
            response = await http.post(
                f"{self.care_url.rstrip('/')}/fk/messages", content=raw, headers=headers
            )
        try:
            result: Result | None = Result.model_validate_json(response.content)
        except ValidationError:
            result = None
        answer = CareAnswer(
            status=response.status_code,
            result=result,
            body=response.text,
            signed=verify(self.secret, response.headers, response.content),
        )
        self.care_answers.append(answer)
        return answer

    def soap_request(
        self,
        message: dict[str, Any],
        mutate: Callable[[Any], None] | None = None,
        address: str | None = None,
    ) -> bytes:
        """The SOAP request for a composed message; `mutate(element)` may break it first."""
        body = mapping.send_message_to_care_xml(
            SendMessageToCare.model_validate(message), self.care_address
        )
        if mutate is not None:
            mutate(body)
        return soap.envelope(address or self.care_address, body)

    async def send_soap(
        self, message: dict[str, Any] | bytes, authenticated: bool = True
    ) -> CareAnswer:
        """POST a SendMessageToCare to care; the answer's ResultType as the result. With a
        platform DN the request carries the headers care's TLS-terminating proxy would add."""
        if isinstance(message, dict):
            raw = self.soap_request(message)
            self.sent_to_care[str(message["message_id"])] = message
        else:
            raw = message
        headers = soap.soap_headers(soap.SEND_MESSAGE_TO_CARE)
        if self.platform_dn and authenticated:
            headers |= {"ssl-client-verify": "SUCCESS", "ssl-client-subject-dn": self.platform_dn}
        async with httpx.AsyncClient(timeout=30.0) as http:
            response = await http.post(
                f"{self.care_url.rstrip('/')}{CARE_SOAP_PATH}", content=raw, headers=headers
            )
        result: Result | None = None
        try:
            opened = soap.open_envelope(response.content)
            if opened.body is not None:
                result = soap.read_result(soap.SEND_MESSAGE_TO_CARE, opened.body)
        except soap.RivtaError:
            pass
        answer = CareAnswer(status=response.status_code, result=result, body=response.text)
        self.care_answers.append(answer)
        return answer

    async def ask(
        self, topic: str, certificate_id: str, patient_id: str, **fields: Any
    ) -> CareAnswer:
        """FK starts a conversation (KOMPLT, AVSTMN, KONTKT, OVRIGT)."""
        return await self.send(self.compose(topic, certificate_id, patient_id, **fields))

    async def remind(self, of_message_id: str, **fields: Any) -> CareAnswer:
        """A PAMINN of a message FK sent earlier."""
        original = self.sent_to_care[of_message_id]
        return await self.send(
            self.compose(
                "PAMINN",
                original["certificate_id"],
                original["patient_id"],
                reminder_of=of_message_id,
                **fields,
            )
        )

    async def answer(
        self, question_id: str, text: str = "Svar från FK.", **fields: Any
    ) -> CareAnswer:
        """FK answers a question care sent (same topic, answer_to the question)."""
        question = self.messages_from_care[question_id]
        return await self.send(
            self.compose(
                question.topic,
                question.certificate_id,
                question.patient_id,
                answer_to={"message_id": question_id, "reference_id": question.reference_id},
                text=text,
                **fields,
            )
        )

    async def resend(self, message_id: str) -> CareAnswer:
        """The exact same message again (a duplicate delivery)."""
        return await self.send(self.sent_to_care[message_id])

    async def malformed(
        self, kind: Malformed, certificate_id: str = "c1", patient_id: str = "191212121212"
    ) -> CareAnswer:
        """A message care must refuse without storing anything."""
        body = self.compose("KONTKT", certificate_id, patient_id)
        if self.protocol == "rivta":
            return await self._malformed_soap(kind, body)
        if kind == "not_json":
            return await self.send(b'{"message_id": "broken", ')
        if kind == "missing_fields":
            del body["message_id"], body["topic"]
        elif kind == "unknown_topic":
            body["topic"] = "HEJHEJ"
        elif kind == "bad_date":
            body["sent_at"] = "yesterday"
        elif kind == "bad_signature":
            return await self.send(body, secret="not-the-shared-secret")
        elif kind == "no_token":
            return await self.send(body, token="")
        return await self.send(body)

    async def _malformed_soap(self, kind: Malformed, body: dict[str, Any]) -> CareAnswer:
        ns = {"m": soap.SEND_MESSAGE_TO_CARE.namespace, "types": soap.TYPES}

        def set_text(path: str, value: str) -> Callable[[Any], None]:
            return lambda root: setattr(root.find(path, ns), "text", value)

        def drop(path: str) -> Callable[[Any], None]:
            return lambda root: root.remove(root.find(path, ns))

        if kind in ("not_json", "not_xml"):
            return await self.send_soap(b"<soapenv:Envelope xmlns:soapenv='x'><Body>")
        if kind == "doctype":  # an entity bomb: must be refused unread, never expanded
            return await self.send_soap(
                b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                + self.soap_request(body)
                .split(b"?>", 1)[1]
                .replace(b"<meddelande>", b"<meddelande>&lol2;")
            )
        if kind == "no_token":
            return await self.send_soap(body, authenticated=False)
        mutations: dict[str, Callable[[Any], None]] = {
            "missing_fields": drop("m:meddelande-id"),
            "unknown_topic": set_text("m:amne/types:code", "HEJHEJ"),
            "bad_date": set_text("m:skickatTidpunkt", "yesterday"),
        }
        if kind == "wrong_logical_address":
            return await self.send_soap(self.soap_request(body, address="SE-NOT-THIS-CARE"))
        if kind not in mutations:
            raise ValueError(f"{kind} is not a RIV-TA malformation")
        return await self.send_soap(self.soap_request(body, mutations[kind]))

    async def control_send(self, spec: dict[str, Any]) -> list[CareAnswer]:
        """The `POST /control/send` request: one kind of message, `times` deliveries."""
        kind = spec.get("kind", "KONTKT")
        times = int(spec.get("times", 1))
        fields = dict(spec.get("fields") or {})
        answers = []
        message_id: str | None = None
        for _ in range(times):
            if kind == "malformed":
                choice = spec.get("malformed", "missing_fields")
                if choice not in get_args(Malformed):
                    raise ValueError(f"malformed must be one of {', '.join(get_args(Malformed))}")
                answers.append(
                    await self.malformed(
                        choice,
                        spec.get("certificate_id", "c1"),
                        spec.get("patient_id", "191212121212"),
                    )
                )
            elif kind == "duplicate" or message_id is not None:
                answers.append(await self.resend(message_id or spec["message_id"]))
            elif kind == "PAMINN":
                answers.append(await self.remind(spec["reminder_of"], **fields))
            elif kind == "answer":
                answers.append(await self.answer(spec["answer_to"], **fields))
            else:
                body = self.compose(kind, spec["certificate_id"], spec["patient_id"], **fields)
                answers.append(await self.send(body))
            if kind not in ("malformed", "duplicate") and message_id is None:
                message_id = list(self.sent_to_care)[-1]
        return answers

    def snapshot(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "mode": self.mode,
            "attempts": self.attempts,
            "bad_signatures": self.bad_signatures,
            "certificates": sorted(self.certificates),
            "messages_from_care": sorted(self.messages_from_care),
            "revoked": sorted(self.revocations),
            "accepted": dict(self.accepted),
            "sent_to_care": sorted(self.sent_to_care),
        }


def create_app(
    care_url: str,
    care_token: str,
    secret: str,
    fk: SimulatedFk | None = None,
    **options: Any,
) -> Starlette:
    """The simulator as an ASGI app; `app.state.fk` is its SimulatedFk. It receives on both
    wires; `options` (protocol="rivta", care_address, ...) choose how it sends to care."""
    sim = fk or SimulatedFk(secret=secret, care_url=care_url, care_token=care_token, **options)

    async def certificates(request: Request) -> Response:
        return await sim.receive(request, "certificate")

    async def messages(request: Request) -> Response:
        return await sim.receive(request, "message")

    async def revocations(request: Request) -> Response:
        return await sim.receive(request, "revocation")

    def soap_route(contract: Contract) -> Route:
        async def endpoint(request: Request) -> Response:
            return await sim.receive_soap(request, contract)

        return Route(contract.path, endpoint, methods=["POST"])

    async def control_send(request: Request) -> JSONResponse:
        try:
            answers = await sim.control_send(await request.json())
        except (KeyError, ValueError, ValidationError) as err:
            return JSONResponse({"error": f"bad control request: {err!r}"}, status_code=400)
        return JSONResponse([a.model_dump(mode="json") for a in answers])

    async def control_mode(request: Request) -> JSONResponse:
        spec = await request.json()
        if spec.get("mode") not in get_args(Mode):
            return JSONResponse({"error": f"mode must be one of {get_args(Mode)}"}, 400)
        sim.set_mode(spec["mode"], spec.get("times", 1))
        return JSONResponse(sim.snapshot())

    async def control_state(_: Request) -> JSONResponse:
        return JSONResponse(sim.snapshot())

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/certificates", certificates, methods=["POST"]),
            Route("/messages", messages, methods=["POST"]),
            Route("/revocations", revocations, methods=["POST"]),
            *(
                soap_route(c)
                for c in (
                    soap.REGISTER_CERTIFICATE,
                    soap.SEND_MESSAGE_TO_RECIPIENT,
                    soap.REVOKE_CERTIFICATE,
                )
            ),
            Route("/control/send", control_send, methods=["POST"]),
            Route("/control/mode", control_mode, methods=["POST"]),
            Route("/control/state", control_state, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.fk = sim
    return app


class Simulator(SimulatedFk):
    """The simulator served on loopback for tests: `async with Simulator(secret) as fk:`."""

    def __init__(
        self,
        secret: str,
        care_url: str = "",
        care_token: str = "",
        port: int | None = None,
        hang_seconds: float = 30.0,
        **options: Any,  # protocol, care_address, fk_address, platform_dn
    ) -> None:
        super().__init__(
            secret=secret,
            care_url=care_url,
            care_token=care_token,
            hang_seconds=hang_seconds,
            **options,
        )
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        app = create_app(self.care_url, self.care_token, self.secret, fk=self)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task
