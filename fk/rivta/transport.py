"""`FkPort` over the national service platform: RIV-TA SOAP, validated both ways.

    POST {base_url}/clinicalprocess/healthcond/certificate/RegisterCertificate/3/rivtabp21
    POST {base_url}/clinicalprocess/healthcond/certificate/SendMessageToRecipient/2/rivtabp21
    POST {base_url}/clinicalprocess/healthcond/certificate/RevokeCertificate/2/rivtabp21

each with `LogicalAddress` = FK's logical address (SJUKFALL_RIVTA_FK_LOGICAL_ADDRESS) and the
contract's SOAPAction. The caller is authenticated by mutual TLS alone (the care provider's
function certificate, `fk.port.gateway_client`), as RIV-TA prescribes: no signatures.

The rules are the JSON transport's (fk/port.py): one attempt per call, Temporal retries;
`FkUnavailable` for a timeout, a connection error, HTTP 5xx, a SOAP Fault, an answer that is
not the contract's response, or TECHNICAL_ERROR; `FkRejected` for VALIDATION_ERROR, REVOKED,
APPLICATION_ERROR (and a request our own schema check refuses: a bug, not worth retrying).
Idempotency is the contract's: the certificate id / meddelande-id is in the request, and FK
answers a repeat with INFO, which counts as acknowledged. The receipt id is
`<contract>:<id>` (the contracts return no receipt of their own).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from lxml import etree

from fk.port import FkRejected, FkUnavailable, _reason
from fk.rivta import mapping
from fk.rivta.soap import (
    REGISTER_CERTIFICATE,
    REVOKE_CERTIFICATE,
    SEND_MESSAGE_TO_RECIPIENT,
    Contract,
    RivtaError,
    envelope,
    open_envelope,
    read_result,
    soap_headers,
    validate,
)
from fk.schemas import (
    PERMANENT_ERRORS,
    Receipt,
    RegisterCertificate,
    Result,
    RevokeCertificate,
    SendMessageToRecipient,
)

#: FK's organisation number, its logical address on the national platform.
FK_LOGICAL_ADDRESS = "2021005521"


class RivtaTransport:
    """FK through the national platform; pass `gateway_client(settings)` for mutual TLS."""

    def __init__(
        self,
        base_url: str,
        *,
        fk_logical_address: str = FK_LOGICAL_ADDRESS,
        care_provider_id: str,
        care_provider_name: str,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.fk_address = fk_logical_address
        self.provider = (care_provider_id, care_provider_name)
        self.timeout = timeout
        self._http = http
        self._owns_http = http is None

    async def register_certificate(self, certificate: RegisterCertificate) -> Receipt:
        body = mapping.register_certificate_xml(certificate, *self.provider)
        return await self._call(REGISTER_CERTIFICATE, body, certificate.certificate_id)

    async def send_message(self, message: SendMessageToRecipient) -> Receipt:
        body = mapping.send_message_to_recipient_xml(message, self.fk_address, *self.provider)
        return await self._call(SEND_MESSAGE_TO_RECIPIENT, body, message.message_id)

    async def revoke_certificate(self, revocation: RevokeCertificate) -> Receipt:
        body = mapping.revoke_certificate_xml(revocation, *self.provider)
        return await self._call(REVOKE_CERTIFICATE, body, revocation.certificate_id)

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _call(self, contract: Contract, body: etree._Element, key: str) -> Receipt:
        what = f"FK {contract.name} {key}"
        try:
            validate(contract, body)
        except RivtaError as err:
            refusal = Result.error("VALIDATION_ERROR", str(err))
            raise FkRejected(f"{what}: our request breaks the schema: {err}", refusal) from None
        if self._http is None:
            self._http = httpx.AsyncClient()
        try:
            response = await self._http.post(
                self.base_url + contract.path,
                content=envelope(self.fk_address, body),
                headers=soap_headers(contract),
                timeout=self.timeout,
            )
        except httpx.TimeoutException:
            raise FkUnavailable(f"{what}: no answer within {self.timeout:g} s") from None
        except httpx.TransportError as err:
            raise FkUnavailable(f"{what}: {type(err).__name__}: {_reason(err)}") from None
        result = _result(contract, response)
        if result is None:
            text = f"{what}: HTTP {response.status_code}, not a {contract.name}Response"
            transient = response.status_code >= 500 or response.status_code in (408, 425, 429)
            raise (FkUnavailable if transient else FkRejected)(text)
        if result.accepted:
            return Receipt(
                receipt_id=f"{contract.name}:{key}", received_at=datetime.now(UTC), result=result
            )
        text = f"{what}: {result.result_code} {result.error_id or ''} {result.result_text}"
        transient = result.error_id not in PERMANENT_ERRORS and result.error_id != (
            "APPLICATION_ERROR"
        )
        raise (FkUnavailable if transient else FkRejected)(text.rstrip(), result)


def _result(contract: Contract, response: httpx.Response) -> Result | None:
    """The contract's ResultType in the answer, or None (a fault, or not a response at all)."""
    try:
        opened = open_envelope(response.content)
        if opened.body is None:
            return None
        return read_result(contract, opened.body)
    except RivtaError:
        return None
