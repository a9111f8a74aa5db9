"""RIV-TA basic profile 2.1 plumbing: the contracts, their schemas, SOAP envelopes, safe parsing.

A RIV-TA request is a SOAP 1.1 envelope: the header carries the receiver's `LogicalAddress`
(namespace `urn:riv:itintegration:registry:1`), the body one request element of the contract,
the HTTP header `SOAPAction` names the contract's operation. Every answer's body is the
contract's response element holding a `result` (ResultType). Business answers (OK, INFO,
ERROR of any errorId) travel as HTTP 200; a SOAP Fault (HTTP 500) means the answer never got
that far, which a sender treats as TECHNICAL_ERROR.

Untrusted XML is parsed with `parse_untrusted`: no DTD, no entity expansion, no network, a
size cap; a document with a DOCTYPE is refused outright. XML is built with lxml element
factories, never by pasting text, so a value cannot break out of its element.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lxml import etree

from fk.schemas import Result

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
ADDRESSING = "urn:riv:itintegration:registry:1"
CORE = "urn:riv:clinicalprocess:healthcond:certificate:3"
TYPES = "urn:riv:clinicalprocess:healthcond:certificate:types:3"
SCHEMAS = Path(__file__).parent / "schemas"
MAX_BYTES = 1_000_000  # no real message comes near; refuse before parsing


@dataclass(frozen=True)
class Contract:
    """One service contract of the domain clinicalprocess:healthcond:certificate."""

    name: str  # e.g. SendMessageToCare
    major: int  # the contract's major version (namespace and URL)
    schema_file: str  # its responder XSD in fk/rivta/schemas/

    @property
    def namespace(self) -> str:
        return f"urn:riv:clinicalprocess:healthcond:certificate:{self.name}Responder:{self.major}"

    @property
    def soap_action(self) -> str:
        return f"{self.namespace}:{self.name}"

    @property
    def path(self) -> str:
        """The endpoint path, after the national platform's convention."""
        return f"/clinicalprocess/healthcond/certificate/{self.name}/{self.major}/rivtabp21"

    def q(self, local: str) -> str:
        """A qualified name in the contract's namespace."""
        return f"{{{self.namespace}}}{local}"


SEND_MESSAGE_TO_CARE = Contract("SendMessageToCare", 2, "SendMessageToCareResponder_2.0.xsd")
SEND_MESSAGE_TO_RECIPIENT = Contract(
    "SendMessageToRecipient", 2, "SendMessageToRecipientResponder_2.0.xsd"
)
REGISTER_CERTIFICATE = Contract("RegisterCertificate", 3, "RegisterCertificateResponder_3.0.xsd")
REVOKE_CERTIFICATE = Contract("RevokeCertificate", 2, "RevokeCertificateResponder_2.0.xsd")
CONTRACTS = (
    SEND_MESSAGE_TO_CARE,
    SEND_MESSAGE_TO_RECIPIENT,
    REGISTER_CERTIFICATE,
    REVOKE_CERTIFICATE,
)


class RivtaError(Exception):
    """A message that is not what the contract says: its ResultType is VALIDATION_ERROR."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
    )


def parse_untrusted(data: bytes) -> etree._Element:
    """The document's root element; RivtaError if it is not well-formed or not plain XML."""
    if len(data) > MAX_BYTES:
        raise RivtaError(f"the message is larger than {MAX_BYTES} bytes")
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as err:
        raise RivtaError(f"not well-formed XML: {err.msg}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise RivtaError("a DOCTYPE is not allowed")
    return tree.getroot()


@cache
def schema(contract: Contract) -> etree.XMLSchema:
    """The contract's schema (imports resolved from the same folder, never the network)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    doc = etree.parse(str(SCHEMAS / contract.schema_file), parser)
    return etree.XMLSchema(doc)


def validate(contract: Contract, element: etree._Element) -> None:
    """RivtaError naming the first schema violation (element path and rule)."""
    checker = schema(contract)
    if not checker.validate(etree.ElementTree(element)):
        error = checker.error_log.last_error
        where = error.path.replace(f"{{{contract.namespace}}}", "") if error.path else ""
        raise RivtaError(f"{where}: {_short(error.message)}".lstrip(": "))


def _short(message: str) -> str:
    """libxml2's message without the namespace noise."""
    for namespace in (*(c.namespace for c in CONTRACTS), CORE, TYPES):
        message = message.replace(f"{{{namespace}}}", "")
    return message


def envelope(logical_address: str | None, body: etree._Element) -> bytes:
    """A SOAP 1.1 envelope around the request (to `logical_address`) or response (None)."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    if logical_address is not None:
        address = etree.SubElement(
            header, f"{{{ADDRESSING}}}LogicalAddress", nsmap={"add": ADDRESSING}
        )
        address.text = logical_address
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body)
    text: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return text


@dataclass(frozen=True)
class Envelope:
    logical_address: str | None
    body: etree._Element | None  # the one element in the body (None: a SOAP Fault)
    fault: str | None = None


def open_envelope(data: bytes) -> Envelope:
    """The logical address and the body's element; RivtaError if it is not a SOAP envelope."""
    root = parse_untrusted(data)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise RivtaError("not a SOAP 1.1 envelope")
    address = root.find(f"{{{SOAP_ENV}}}Header/{{{ADDRESSING}}}LogicalAddress")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise RivtaError("the SOAP envelope has no body")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise RivtaError("the SOAP body must hold exactly one element")
    if children[0].tag == f"{{{SOAP_ENV}}}Fault":
        text = children[0].findtext("faultstring") or "SOAP Fault"
        return Envelope(address.text if address is not None else None, None, text)
    return Envelope((address.text or "").strip() if address is not None else None, children[0])


def result_element(contract: Contract, result: Result) -> etree._Element:
    """The contract's response element holding `result`."""
    response = etree.Element(
        contract.q(f"{contract.name}Response"), nsmap={None: contract.namespace, "core": CORE}
    )
    holder = etree.SubElement(response, contract.q("result"))
    etree.SubElement(holder, f"{{{CORE}}}resultCode").text = result.result_code
    if result.error_id is not None:
        etree.SubElement(holder, f"{{{CORE}}}errorId").text = result.error_id
    if result.result_text:
        etree.SubElement(holder, f"{{{CORE}}}resultText").text = result.result_text
    return response


def read_result(contract: Contract, response: etree._Element) -> Result:
    """The ResultType of a response element (validated); RivtaError when it is not one."""
    if response.tag != contract.q(f"{contract.name}Response"):
        raise RivtaError(f"expected {contract.name}Response, got {etree.QName(response).localname}")
    validate(contract, response)
    holder = response.find(contract.q("result"))
    assert holder is not None  # the schema requires it
    return Result.model_validate(
        {
            "result_code": holder.findtext(f"{{{CORE}}}resultCode"),
            "error_id": holder.findtext(f"{{{CORE}}}errorId"),
            "result_text": holder.findtext(f"{{{CORE}}}resultText") or "",
        }
    )


def soap_headers(contract: Contract) -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": f'"{contract.soap_action}"'}


def fault(text: str) -> bytes:
    """A SOAP 1.1 Fault (HTTP 500): the request never reached the contract's logic."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    item = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(item, "faultcode").text = "soapenv:Server"
    etree.SubElement(item, "faultstring").text = text
    document: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return document
