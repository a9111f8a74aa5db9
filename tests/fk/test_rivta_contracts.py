"""The RIV-TA contracts without a case: the XML fixtures against the schemas, every message
built and read back through its schema, safe parsing, and the RIV-TA transport against the
simulator over real HTTP (and over mutual TLS)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from domain.fk import FkMessage
from fk.port import FkRejected, FkUnavailable, gateway_client
from fk.rivta import mapping, soap
from fk.rivta.soap import RivtaError
from fk.rivta.transport import RivtaTransport
from fk.schemas import Result, RevokeCertificate, SendMessageToCare, SendMessageToRecipient
from fk.simulator import Simulator
from fk.transports import transport_for
from infra.settings import Settings
from tests.fk.test_mtls import Pki, https_simulator, pki  # noqa: F401 (the fixture)
from tests.fk.test_transport import fk7804

FIXTURES = Path(__file__).parent / "fixtures" / "rivta"
SECRET = "unused-by-rivta"


def revocation(cid: str = "t-1") -> RevokeCertificate:
    return RevokeCertificate(
        certificate_id=cid,
        patient_id="191212121212",
        care_unit_id="vc-norr",
        revoked_by="dr-anna",
        revoked_at=datetime(2024, 3, 5, 8, tzinfo=UTC),
    )


def question(**fields: Any) -> SendMessageToRecipient:
    data = {
        "message_id": "care-1",
        "sent_at": datetime(2024, 3, 5, 8, tzinfo=UTC),
        "certificate_id": "t-1",
        "patient_id": "191212121212",
        "topic": "KONTKT",
        "text": "Ring gärna.",
        "sender": "vc-norr",
    } | fields
    return SendMessageToRecipient.from_domain(FkMessage.model_validate(data), "dr-anna")


def transport(url: str, **options: Any) -> RivtaTransport:
    return RivtaTransport(
        url,
        care_provider_id="SE2321000016-VG",
        care_provider_name="Region Test",
        timeout=1,
        **options,
    )


# --- schemas and mapping ------------------------------------------------------------------


def test_the_komplt_fixture_is_valid_and_reads_into_the_domain_message() -> None:
    opened = soap.open_envelope((FIXTURES / "SendMessageToCare-KOMPLT.xml").read_bytes())
    assert opened.logical_address == "SE2321000016-TEST" and opened.body is not None
    message = mapping.read_send_message_to_care(opened.body)
    assert (message.message_id, message.topic, message.certificate_id) == (
        "FK-2024-000123",
        "KOMPLT",
        "9f0a6c2e-intyg-1",
    )
    assert [(i.question_id, i.instance) for i in message.completion_items] == [
        ("35", 1),
        ("17", None),
    ]
    assert message.sent_at == datetime(2024, 3, 18, 9, 15, tzinfo=UTC)  # Swedish local time
    assert str(message.last_answer_date) == "2024-04-01"


def test_the_lisjp_fixture_is_valid_and_reads_into_the_fk7804() -> None:
    opened = soap.open_envelope((FIXTURES / "RegisterCertificate-LISJP.xml").read_bytes())
    assert opened.logical_address == "2021005521" and opened.body is not None
    assert mapping.read_register_certificate(opened.body) == fk7804()


@pytest.mark.parametrize(
    ("contract", "build", "read", "value"),
    [
        (
            soap.REGISTER_CERTIFICATE,
            lambda v: mapping.register_certificate_xml(v, "VG-1", "Region"),
            mapping.read_register_certificate,
            fk7804(),
        ),
        (
            soap.SEND_MESSAGE_TO_RECIPIENT,
            lambda v: mapping.send_message_to_recipient_xml(v, "2021005521", "VG-1", "Region"),
            mapping.read_send_message_to_recipient,
            question(answer_to={"message_id": "fk-1", "reference_id": "r"}, heading="Svar"),
        ),
        (
            soap.REVOKE_CERTIFICATE,
            lambda v: mapping.revoke_certificate_xml(v, "VG-1", "Region"),
            mapping.read_revoke_certificate,
            revocation(),
        ),
        (
            soap.SEND_MESSAGE_TO_CARE,
            lambda v: mapping.send_message_to_care_xml(v, "SE-CARE"),
            mapping.read_send_message_to_care,
            SendMessageToCare.model_validate(
                question(topic="PAMINN", reminder_of="care-0", sender="FKASSA").model_dump(
                    exclude={"recipient", "sent_by"}
                )
            ),
        ),
    ],
    ids=lambda p: getattr(p, "name", ""),
)
def test_every_message_is_schema_valid_and_reads_back_unchanged(
    contract: soap.Contract, build: Any, read: Any, value: Any
) -> None:
    element = build(value)
    soap.validate(contract, element)
    again = read(etree.fromstring(etree.tostring(element)))  # through the bytes on the wire
    assert again == value


def test_the_schema_names_the_element_a_certificate_gets_wrong() -> None:
    element = mapping.register_certificate_xml(fk7804(), "VG-1", "Region")
    grade = element.find(".//{*}delsvar[@id='32.1']/{*}cv/{*}codeSystem")
    assert grade is not None
    grade.getparent().remove(grade)
    with pytest.raises(RivtaError, match="codeSystem"):
        soap.validate(soap.REGISTER_CERTIFICATE, element)


def test_a_result_that_is_not_the_contracts_is_refused() -> None:
    response = soap.result_element(soap.SEND_MESSAGE_TO_CARE, Result.ok())
    response[0][0].text = "MAYBE"  # resultCode outside OK / INFO / ERROR
    with pytest.raises(RivtaError, match="resultCode"):
        soap.read_result(soap.SEND_MESSAGE_TO_CARE, response)


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
        b"<x>unclosed",
        b"",
    ],
    ids=["external entity", "entity expansion", "not well-formed", "empty"],
)
def test_untrusted_xml_with_a_dtd_or_broken_is_refused_unread(document: bytes) -> None:
    with pytest.raises(RivtaError) as refused:
        soap.parse_untrusted(document)
    assert "root:" not in str(refused.value)  # nothing of /etc/passwd came back


# --- the transport against the simulator (the national platform) --------------------------


async def test_a_certificate_is_registered_once_and_a_repeat_is_acknowledged_with_info() -> None:
    async with Simulator(SECRET, protocol="rivta") as fk:
        port = transport(fk.url)
        first = await port.register_certificate(fk7804())
        again = await port.register_certificate(fk7804())
        await port.aclose()
    assert (first.result.result_code, again.result.result_code) == ("OK", "INFO")
    assert first.receipt_id == again.receipt_id == "RegisterCertificate:t-1"
    assert list(fk.certificates) == ["t-1"] and fk.accepted["t-1"] == 2
    assert fk.certificates["t-1"] == fk7804()  # all FK7804 fields survived the XML


async def test_revoking_at_fk_then_fk_refuses_the_certificate_as_revoked() -> None:
    async with Simulator(SECRET, protocol="rivta") as fk:
        port = transport(fk.url)
        with pytest.raises(FkRejected, match="VALIDATION_ERROR"):  # FK has no such certificate
            await port.revoke_certificate(revocation("t-1"))
        await port.register_certificate(fk7804())
        receipt = await port.revoke_certificate(revocation("t-1"))
        again = await port.revoke_certificate(revocation("t-1"))
        with pytest.raises(FkRejected) as refused:
            await port.register_certificate(fk7804())
        await port.aclose()
    assert (receipt.receipt_id, receipt.result.result_code) == ("RevokeCertificate:t-1", "OK")
    assert again.result.result_code == "INFO" and list(fk.revocations) == ["t-1"]
    assert refused.value.result is not None and refused.value.result.error_id == "REVOKED"


async def test_a_message_to_another_logical_address_is_refused_by_the_platform() -> None:
    async with Simulator(SECRET, protocol="rivta") as fk:
        port = transport(fk.url, fk_logical_address="SE-NOT-FK")
        with pytest.raises(FkRejected, match="LogicalAddress") as refused:
            await port.send_message(question())
        await port.aclose()
    assert refused.value.result is not None
    assert refused.value.result.error_id == "VALIDATION_ERROR"
    assert fk.messages_from_care == {}


@pytest.mark.parametrize(
    ("mode", "error"),
    [("fail", FkUnavailable), ("timeout", FkUnavailable), ("reject", FkRejected)],
)
async def test_failures_say_whether_a_retry_can_help(mode: str, error: type[Exception]) -> None:
    async with Simulator(SECRET, protocol="rivta", hang_seconds=2.0) as fk:
        port = transport(fk.url)
        fk.set_mode(mode, 1)  # type: ignore[arg-type]
        with pytest.raises(error):
            await port.send_message(question())
        assert fk.messages_from_care == {}
        assert (await port.send_message(question())).result.result_code == "OK"
        await port.aclose()


async def test_the_worker_builds_the_rivta_transport_over_mutual_tls(pki: Pki) -> None:  # noqa: F811
    async with https_simulator(pki.gateway, pki.siths_ca.pem) as (fk, url):
        settings = Settings(
            fk_transport="rivta",
            fk_url=url,
            fk_tls_cert=pki.care.cert,
            fk_tls_key=pki.care.key,
            fk_tls_ca=pki.fk_ca.pem,
        )
        async with gateway_client(settings) as http:
            port = transport_for(settings, http)
            assert isinstance(port, RivtaTransport)
            receipt = await port.register_certificate(fk7804())
        without = Settings(fk_transport="rivta", fk_url=url, fk_tls_ca=pki.fk_ca.pem)
        async with gateway_client(without) as http:
            with pytest.raises(FkUnavailable):
                await transport_for(without, http).register_certificate(fk7804())
    assert receipt.result.result_code == "OK" and list(fk.certificates) == ["t-1"]
