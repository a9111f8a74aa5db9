"""FK over the national contracts, end to end through real HTTP: the simulator plays the
platform (SJUKFALL_FK_TRANSPORT=rivta), the API's SOAP endpoint takes SendMessageToCare v2, the
worker's RIV-TA transport sends SendMessageToRecipient v2, RegisterCertificate v3 and
RevokeCertificate v2. Every request and answer is validated against fk/rivta/schemas/ on the
side that receives it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lxml import etree

from domain.commands import CloseCase, RecordCertificate, RevokeCertificate
from fk.rivta import soap
from tests.fk.conftest import FkStack, eventually
from tests.fk.support import (
    PNR,
    case_with_certificate,
    consent_to_fk,
    notifications,
    records,
)
from tests.workflows.support import PHYSICIAN, certificate, do, open_new_case, today

NS = {"core": soap.CORE, "types": soap.TYPES}


async def received(stack: FkStack, case_id: str) -> list[dict[str, Any]]:
    return await records(stack, case_id, "FkMessageReceived")  # type: ignore[arg-type]


# --- SendMessageToCare: FK -> care ----------------------------------------------------------


async def test_fks_komplt_arrives_as_soap_and_is_recorded_with_its_completion_items(
    rivta_stack: FkStack,
) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    answer = await stack.fk.ask(
        "KOMPLT",
        cid,
        PNR,
        completion_items=[
            {"question_id": "35", "instance": 1, "text": "Beskriv funktionsnedsättningen."},
            {"question_id": "32", "instance": 2, "text": "Period två saknar motivering."},
        ],
        last_answer_date="2099-01-01",
    )
    assert (answer.status, answer.result and answer.result.result_code) == (200, "OK")

    [stored] = await received(stack, case_id)
    assert [(i["question_id"], i["instance"]) for i in stored["message"]["completion_items"]] == [
        ("35", 1),
        ("32", 2),
    ]
    assert stored["message"]["topic"] == "KOMPLT"
    assert stored["message"]["last_answer_date"] == "2099-01-01"
    assert stored["recorded_by"] == "national-platform"
    assert stored["status"] == "PENDING_INTERNAL_ACTION"


async def test_a_repeated_meddelande_id_is_acknowledged_with_info_and_stored_once(
    rivta_stack: FkStack,
) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    first = await stack.fk.ask("KONTKT", cid, PNR)
    again = await stack.fk.resend(list(stack.fk.sent_to_care)[-1])
    assert first.result is not None and first.result.result_code == "OK"
    assert (again.status, again.result and again.result.result_code) == (200, "INFO")
    assert len(await received(stack, case_id)) == 1


@pytest.mark.parametrize(
    "malformed",
    ["not_xml", "missing_fields", "unknown_topic", "bad_date", "wrong_logical_address", "doctype"],
)
async def test_a_message_that_breaks_the_contract_gets_validation_error_and_stores_nothing(
    rivta_stack: FkStack, malformed: str
) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    answer = await stack.fk.malformed(malformed, cid, PNR)  # type: ignore[arg-type]
    assert answer.status == 200  # the contract's answer, not a transport error
    assert answer.result is not None
    assert (answer.result.result_code, answer.result.error_id) == ("ERROR", "VALIDATION_ERROR")
    assert answer.result.result_text  # says what is wrong
    if malformed == "wrong_logical_address":
        assert "LogicalAddress" in answer.result.result_text
    if malformed == "missing_fields":
        assert "meddelande-id" in answer.result.result_text
    if malformed == "unknown_topic":
        assert "amne" in answer.result.result_text
    if malformed == "doctype":
        assert "DOCTYPE" in answer.result.result_text
    assert await received(stack, case_id) == []


async def test_the_domain_rules_answer_with_the_contracts_error_ids(rivta_stack: FkStack) -> None:
    stack = rivta_stack
    case_id, cid, start = await case_with_certificate(stack)
    unknown = await stack.fk.ask("KONTKT", "intyg-finns-inte", PNR)
    await do(
        stack,
        case_id,
        RecordCertificate(
            actor=PHYSICIAN,
            certificate=certificate(  # type: ignore[arg-type]
                start, 1, 30, cid=f"{cid}-b"
            ),
        ),
    )
    await do(stack, case_id, RevokeCertificate(actor=PHYSICIAN, certificate_id=f"{cid}-b"))  # type: ignore[arg-type]
    revoked = await stack.fk.ask("KONTKT", f"{cid}-b", PNR)
    await do(stack, case_id, CloseCase(actor=PHYSICIAN, reason="return_to_work_full"))  # type: ignore[arg-type]
    closed = await stack.fk.ask("KONTKT", cid, PNR)
    assert [(a.result.result_code, a.result.error_id) for a in (unknown, revoked, closed)] == [  # type: ignore[union-attr]
        ("ERROR", "VALIDATION_ERROR"),
        ("ERROR", "REVOKED"),
        ("ERROR", "APPLICATION_ERROR"),
    ]
    assert await received(stack, case_id) == []


async def test_only_the_national_platform_may_post_messages(rivta_stack: FkStack) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    answer = await stack.fk.malformed("no_token", cid, PNR)
    assert answer.status == 403 and "Fault" in answer.body
    assert await received(stack, case_id) == []


# --- care -> FK ---------------------------------------------------------------------------


async def test_cares_answer_leaves_as_send_message_to_recipient_and_fks_ok_is_recorded(
    rivta_stack: FkStack,
) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    assert (await stack.fk.ask("KONTKT", cid, PNR)).accepted
    question = list(stack.fk.sent_to_care)[-1]
    response = await stack.http.post(
        f"/cases/{case_id}/fk/messages",
        headers=stack.headers(),
        json={
            "message_id": f"svar-{cid}",
            "certificate_id": cid,
            "topic": "KONTKT",
            "text": "Ring mig på tisdag.",
            "answer_to": {"message_id": question},
        },
    )
    assert response.status_code == 202

    sent = await eventually(lambda: records(stack, case_id, "FkMessageSent"))  # type: ignore[arg-type]
    assert sent[0]["receipt"] == f"SendMessageToRecipient:svar-{cid}"
    at_fk = stack.fk.messages_from_care[f"svar-{cid}"]
    assert (at_fk.answer_to and at_fk.answer_to.message_id) == question
    assert (at_fk.sent_by, at_fk.sender, at_fk.patient_id) == ("physician-1", "vc-norr", PNR)
    state = await stack.state(case_id)
    assert state.fk_messages[question].status == "ANSWERED"
    [(contract, raw)] = [r for r in stack.fk.soap_requests if b"svar-" + cid.encode() in r[1]]
    envelope = etree.fromstring(raw)
    assert contract == "SendMessageToRecipient"
    assert envelope.findtext(f".//{{{soap.ADDRESSING}}}LogicalAddress") == "2021005521"


async def test_a_lisjp_leaves_as_register_certificate_with_its_periods_and_grades(
    rivta_stack: FkStack,
) -> None:
    stack = rivta_stack
    start = await today(stack)  # type: ignore[arg-type]
    cid = f"lisjp-{uuid.uuid4().hex[:10]}"
    cert = certificate(
        start,
        1,
        14,
        cid=cid,
        periods=[
            {"grade": 100, "start": start, "end": start.fromordinal(start.toordinal() + 13)},
            {
                "grade": 50,
                "start": start.fromordinal(start.toordinal() + 14),
                "end": start.fromordinal(start.toordinal() + 41),
            },
        ],
        diagnoses=[{"code": "F43.8A", "description": "Utmattning"}, {"code": "M54.5"}],
        function_impairment="Nedsatt koncentration.",
        activity_limitation="Klarar inte längre möten.",
        prognosis={"kind": "ATER_X_ANTAL_DGR", "days": 60},
        work_measures=["ARBETSTRANING", "KONTAKT_FHV"],
        contact_with_fk_desired=True,
    )
    case_id, _ = await open_new_case(stack, start, cert)  # type: ignore[arg-type]
    await consent_to_fk(stack, case_id)
    response = await stack.http.post(
        f"/cases/{case_id}/fk/certificates", json={"certificate_id": cid}, headers=stack.headers()
    )
    assert response.status_code == 202
    await eventually(lambda: _holds(stack, cid))

    held = stack.fk.certificates[cid]
    assert [(p.grade, p.start, p.end) for p in held.periods] == [
        (p.grade, p.start, p.end) for p in cert.periods
    ]
    assert (held.patient_id, held.care_unit_id, held.prognosis) == (PNR, "vc-norr", cert.prognosis)
    # the wire itself: one svar 32 per period, 32.1 grade codes, 32.2 date periods
    [raw] = [
        r for c, r in stack.fk.soap_requests if c == "RegisterCertificate" and cid.encode() in r
    ]
    intyg = etree.fromstring(raw).find(".//{*}intyg")
    periods = intyg.findall("core:svar[@id='32']", NS)  # type: ignore[union-attr]
    assert [p.findtext("core:instans", namespaces=NS) for p in periods] == ["1", "2"]
    assert [
        p.findtext("core:delsvar[@id='32.1']/types:cv/types:code", namespaces=NS) for p in periods
    ] == ["HELT_NEDSATT", "HALFTEN"]
    assert [
        p.findtext("core:delsvar[@id='32.2']/types:datePeriod/types:end", namespaces=NS)
        for p in periods
    ] == [p.end.isoformat() for p in cert.periods]
    diagnoses = intyg.findall("core:svar[@id='6']/core:delsvar[@id='6.2']/types:cv", NS)  # type: ignore[union-attr]
    assert [
        (d.findtext("types:code", namespaces=NS), d.findtext("types:codeSystem", namespaces=NS))
        for d in diagnoses
    ] == [("F43.8A", "1.2.752.116.1.1.1.1.3"), ("M54.5", "1.2.752.116.1.1.1.1.3")]
    sent = await eventually(lambda: _sent(stack, case_id, "certificate_to_fk"))
    assert [s["receipt"] for s in sent] == [f"RegisterCertificate:{cid}"]


async def test_a_lost_answer_does_not_register_the_certificate_twice(rivta_stack: FkStack) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    stack.fk.set_mode("accept_then_fail", 1)  # FK stores it, the answer is a SOAP Fault
    await stack.http.post(
        f"/cases/{case_id}/fk/certificates", json={"certificate_id": cid}, headers=stack.headers()
    )
    sent = await eventually(lambda: _sent(stack, case_id, "certificate_to_fk"), timeout=30.0)
    assert [s["receipt"] for s in sent] == [f"RegisterCertificate:{cid}"]
    assert stack.fk.accepted[cid] == 2 and cid in stack.fk.certificates  # the retry got INFO


async def test_a_revoked_certificate_leaves_as_revoke_certificate(rivta_stack: FkStack) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    await stack.http.post(
        f"/cases/{case_id}/fk/certificates", json={"certificate_id": cid}, headers=stack.headers()
    )
    await eventually(lambda: _sent(stack, case_id, "certificate_to_fk"))
    await do(
        stack,
        case_id,
        RevokeCertificate(
            actor=PHYSICIAN,
            certificate_id=cid,  # type: ignore[arg-type]
            reason="Fel patient.",
        ),
    )

    sent = await eventually(lambda: _sent(stack, case_id, "certificate_revoked_to_fk"))
    assert [s["receipt"] for s in sent] == [f"RevokeCertificate:{cid}"]
    revocation = stack.fk.revocations[cid]
    assert (revocation.revoked_by, revocation.patient_id, revocation.reason) == (
        PHYSICIAN.id,
        PNR,
        "",  # the reason may hold health text: it stays in the case
    )
    assert stack.fk.accepted[f"revoked-{cid}"] == 1


async def _holds(stack: FkStack, cid: str) -> bool:
    return cid in stack.fk.certificates


async def _sent(stack: FkStack, case_id: str, kind: str) -> list[dict[str, Any]]:
    return (await notifications(stack, case_id, kind))["sent"]


async def test_a_request_for_another_operation_is_refused(rivta_stack: FkStack) -> None:
    stack = rivta_stack
    case_id, cid, _ = await case_with_certificate(stack)
    raw = stack.fk.soap_request(stack.fk.compose("KONTKT", cid, PNR))
    response = await stack.http.post(
        soap.SEND_MESSAGE_TO_CARE.path,
        content=raw,
        headers={
            "SOAPAction": f'"{soap.REGISTER_CERTIFICATE.soap_action}"',
            "ssl-client-verify": "SUCCESS",
            "ssl-client-subject-dn": stack.fk.platform_dn or "",
        },
    )
    opened = soap.open_envelope(response.content)
    assert opened.body is not None
    result = soap.read_result(soap.SEND_MESSAGE_TO_CARE, opened.body)
    assert (response.status_code, result.error_id) == (200, "VALIDATION_ERROR")
    assert "SOAPAction" in result.result_text
    assert await received(stack, case_id) == []


async def test_the_soap_endpoint_is_closed_while_fk_speaks_json(stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    raw = stack.fk.soap_request(stack.fk.compose("KONTKT", cid, PNR))
    response = await stack.http.post(soap.SEND_MESSAGE_TO_CARE.path, content=raw)
    assert response.status_code == 404 and "SJUKFALL_FK_TRANSPORT" in response.text
    assert await received(stack, case_id) == []
