"""The one port to Försäkringskassan, and its first transport: signed JSON over HTTP.

`FkPort` is what the rest of the system needs from FK: register a certificate, send a message,
each answered by FK's `Receipt`. Transports are pluggable; `HttpTransport` speaks JSON to an
integration gateway (or the simulator in fk/simulator.py):

    POST {base_url}/certificates   RegisterCertificate     -> Receipt
    POST {base_url}/messages       SendMessageToRecipient  -> Receipt
    POST {base_url}/revocations    RevokeCertificate       -> Receipt

The other transport, RIV-TA SOAP through the national platform, is fk/rivta/transport.py;
SJUKFALL_FK_TRANSPORT (json | rivta) chooses (fk/transports.py `transport_for(settings, http)`).

Rules, and why:
- Every request is signed with HMAC-SHA256 over `<timestamp>.<body>` (infra/signing.py) and
  every receipt must come back signed with the same shared secret: care only records a receipt
  it can prove came from the gateway.
- The certificate id / message id is the Idempotency-Key: a retried request after a lost
  answer is acknowledged again by FK and stored once there, so "sent twice" cannot happen even
  when the sender died between sending and recording.
- No retries here: a transport error raises and Temporal retries the activity with its policy
  (one place decides how long to keep trying). `FkUnavailable` is transient (timeout, refused
  connection, 5xx, TECHNICAL_ERROR, a receipt that is not signed right); `FkRejected` is the
  contract saying no (VALIDATION_ERROR, REVOKED, APPLICATION_ERROR, or a 4xx) and is not worth
  retrying.
- Production runs over mutual TLS (`gateway_client`): care presents its function certificate
  (SITHS) and trusts only the CA that signs FK's gateway. A failed handshake or a certificate
  FK does not accept is a connection error like any other, so `FkUnavailable`: the fix is in
  configuration, and Temporal keeps the delivery until it is made.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Protocol

import httpx
from pydantic import BaseModel, ValidationError

from fk.schemas import (
    PERMANENT_ERRORS,
    Receipt,
    RegisterCertificate,
    Result,
    RevokeCertificate,
    SendMessageToRecipient,
)
from infra.signing import signed_headers, verify

if TYPE_CHECKING:
    from infra.settings import Settings


class FkError(Exception):
    """FK did not acknowledge; `result` is the contract's answer when there was one."""

    def __init__(self, message: str, result: Result | None = None) -> None:
        super().__init__(message)
        self.result = result


class FkUnavailable(FkError):
    """Transient: try again later (Temporal's retry policy decides when and how long)."""


class FkRejected(FkError):
    """Permanent: FK refused the content; retrying the same request cannot succeed."""


class FkPort(Protocol):
    async def register_certificate(self, certificate: RegisterCertificate) -> Receipt: ...

    async def send_message(self, message: SendMessageToRecipient) -> Receipt: ...

    async def revoke_certificate(self, revocation: RevokeCertificate) -> Receipt: ...


def gateway_client(settings: Settings) -> httpx.AsyncClient:
    """An HTTP client for FK's gateway: presents SJUKFALL_FK_TLS_CERT + _KEY when set, and
    accepts only a server certificate signed by SJUKFALL_FK_TLS_CA (the system roots when unset)."""
    context = ssl.create_default_context(cafile=settings.fk_tls_ca)
    if settings.fk_tls_cert is not None:
        context.load_cert_chain(settings.fk_tls_cert, settings.fk_tls_key)
    return httpx.AsyncClient(verify=context)


class HttpTransport:
    """`FkPort` over HTTP(S) to an integration gateway, signed both ways, with a timeout.

    Pass a shared `httpx.AsyncClient` to reuse connections (`gateway_client(settings)` for mutual
    TLS); otherwise one is made on first use (close it with `aclose()`).
    """

    def __init__(
        self,
        base_url: str,
        secret: str,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self._http = http
        self._owns_http = http is None

    async def register_certificate(self, certificate: RegisterCertificate) -> Receipt:
        return await self._post("/certificates", certificate, certificate.certificate_id)

    async def send_message(self, message: SendMessageToRecipient) -> Receipt:
        return await self._post("/messages", message, message.message_id)

    async def revoke_certificate(self, revocation: RevokeCertificate) -> Receipt:
        return await self._post("/revocations", revocation, revocation.certificate_id)

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _post(self, path: str, payload: BaseModel, key: str) -> Receipt:
        if self._http is None:
            self._http = httpx.AsyncClient()
        body = payload.model_dump_json().encode()
        what = f"FK {path.strip('/')} {key}"
        try:
            response = await self._http.post(
                self.base_url + path,
                content=body,
                headers=signed_headers(self.secret, body, key),
                timeout=self.timeout,
            )
        except httpx.TimeoutException:
            raise FkUnavailable(f"{what}: no answer within {self.timeout:g} s") from None
        except httpx.TransportError as err:
            raise FkUnavailable(f"{what}: {type(err).__name__}: {_reason(err)}") from None
        if not verify(self.secret, response.headers, response.content):
            raise FkUnavailable(f"{what}: answer HTTP {response.status_code} is not signed by FK")
        receipt, result = _parse(response.content)
        if response.is_success and receipt is not None and receipt.result.accepted:
            return receipt
        result = result or (receipt.result if receipt else None)
        text = f"{what}: HTTP {response.status_code}"
        if result is not None:
            text += f" {result.result_code} {result.error_id or ''} {result.result_text}".rstrip()
        transient = response.status_code >= 500 or response.status_code in (408, 425, 429)
        if result is not None and result.error_id is not None:
            transient = result.error_id not in PERMANENT_ERRORS and result.error_id != (
                "APPLICATION_ERROR"
            )
        raise (FkUnavailable if transient else FkRejected)(text, result)


def _reason(err: Exception) -> str:
    """The error's text, or its root cause's when it has none: a gateway that refuses our client
    certificate just resets the connection, and httpx then says only "ReadError"."""
    if str(err):
        return str(err)
    root: BaseException = err
    while (cause := root.__cause__ or root.__context__) is not None:
        root = cause
    return f"{type(root).__name__}: {root}"


def _parse(content: bytes) -> tuple[Receipt | None, Result | None]:
    """A receipt, or just a result (an error answer), or neither."""
    try:
        return Receipt.model_validate_json(content), None
    except ValidationError:
        pass
    try:
        return None, Result.model_validate_json(content)
    except ValidationError:
        return None, None
