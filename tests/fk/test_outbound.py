"""Certificates and care's messages to FK: on day 14, on the physician's request, with consent,
once even when the worker loses FK's answer, retried while FK is down."""

from __future__ import annotations

import pytest

from domain.commands import RecordCertificate
from tests.fk.conftest import FkStack, eventually
from tests.fk.support import (
    PNR,
    case_with_certificate,
    notifications,
    records,
    withdraw_fk_consent,
)
from tests.workflows.support import PHYSICIAN, advance_to_day, certificate, do


async def test_the_certificate_goes_to_fk_on_day_14_with_fks_receipt_recorded(
    stack: FkStack,
) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=30)
    await advance_to_day(stack, start, 13)  # type: ignore[arg-type]
    assert cid not in stack.fk.certificates  # sick pay period: nothing to FK yet

    await advance_to_day(stack, start, 15)  # type: ignore[arg-type]
    sent = (await notifications(stack, case_id, "certificate_to_fk"))["sent"]
    assert [s["receipt"] for s in sent] == [f"fk-certificate-{cid}"]
    stored = stack.fk.certificates[cid]
    assert (stored.patient_id, stored.care_unit_id, stored.certificate_type) == (
        PNR,
        "vc-norr",
        "FK7804",
    )
    assert [(p.grade, p.start, p.end) for p in stored.periods] == [
        (100, start, start.fromordinal(start.toordinal() + 29))
    ]
    assert stack.fk.accepted[cid] == 1


@pytest.mark.parametrize("lost", ["accept_then_fail", "accept_then_timeout"])
async def test_a_lost_answer_from_fk_does_not_send_the_certificate_twice(
    stack: FkStack, lost: str
) -> None:
    """FK stores the certificate but care never hears back (a 503, or no answer before the
    timeout): to care this is a worker dying between sending and recording. The retry carries
    the same certificate id, FK acknowledges it again with the same receipt, stores it once."""
    case_id, cid, start = await case_with_certificate(stack, last_day=30)
    held_before = len(stack.fk.certificates)
    stack.fk.set_mode(lost, 1)  # type: ignore[arg-type]
    await advance_to_day(stack, start, 15)  # type: ignore[arg-type]

    delivered = await notifications(stack, case_id, "certificate_to_fk")
    assert [s["receipt"] for s in delivered["sent"]] == [f"fk-certificate-{cid}"]
    assert len(stack.fk.certificates) == held_before + 1  # FK holds it once
    assert stack.fk.accepted[cid] == 2  # accepted twice: the lost one and the retry


async def test_consent_withdrawn_before_day_14_means_no_certificate_and_the_reason_is_recorded(
    stack: FkStack,
) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=30)
    await advance_to_day(stack, start, 5)  # type: ignore[arg-type]
    await withdraw_fk_consent(stack, case_id)
    attempts = stack.fk.attempts
    await advance_to_day(stack, start, 16)  # type: ignore[arg-type]

    delivered = await notifications(stack, case_id, "certificate_to_fk")
    assert delivered["requested"] == [] and delivered["sent"] == []
    [suppressed] = delivered["suppressed"]
    assert suppressed["recipient"] == "fk" and "withdrew consent" in suppressed["reason"]
    assert cid not in stack.fk.certificates and stack.fk.attempts == attempts


async def test_consent_withdrawn_while_fk_is_down_stops_the_retries(stack: FkStack) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=30)
    stack.fk.set_mode("fail", None)  # FK's gateway is down from day 14
    await advance_to_day(stack, start, 14, hour=2)  # type: ignore[arg-type]
    assert stack.fk.attempts > 1 and cid not in stack.fk.certificates

    await withdraw_fk_consent(stack, case_id)
    stack.fk.set_mode("normal", None)  # back up: nothing may reach it now
    await advance_to_day(stack, start, 16)  # type: ignore[arg-type]

    delivered = await notifications(stack, case_id, "certificate_to_fk")
    assert delivered["sent"] == [] and len(delivered["suppressed"]) == 1
    assert "withdrew consent" in delivered["suppressed"][0]["reason"]
    assert cid not in stack.fk.certificates


async def test_the_physician_sends_the_certificate_early_and_day_14_does_not_repeat_it(
    stack: FkStack,
) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=30)
    url = f"/cases/{case_id}/fk/certificates"
    coordinator = await stack.http.post(
        url, json={"certificate_id": cid}, headers=stack.headers("coordinator")
    )
    assert coordinator.status_code == 403
    response = await stack.http.post(url, json={"certificate_id": cid}, headers=stack.headers())
    assert response.status_code == 202 and response.json()["status"] == "queued"
    await eventually(lambda: _has(stack, cid))
    again = await stack.http.post(url, json={"certificate_id": cid}, headers=stack.headers())
    assert again.status_code == 202 and again.json()["status"] == "unchanged"

    await advance_to_day(stack, start, 15)  # type: ignore[arg-type]
    delivered = await notifications(stack, case_id, "certificate_to_fk")
    assert len(delivered["requested"]) == 1 and len(delivered["sent"]) == 1
    assert stack.fk.accepted[cid] == 1


async def test_a_certificate_revoked_before_it_was_sent_never_reaches_fk(stack: FkStack) -> None:
    from domain.commands import RevokeCertificate

    case_id, cid, start = await case_with_certificate(stack, last_day=30)
    stack.fk.set_mode("fail", None)
    attempts = stack.fk.attempts
    response = await stack.http.post(
        f"/cases/{case_id}/fk/certificates", json={"certificate_id": cid}, headers=stack.headers()
    )
    assert response.status_code == 202
    await eventually(lambda: _attempted(stack, attempts))  # FK is down: the send is retrying
    await do(stack, case_id, RevokeCertificate(actor=PHYSICIAN, certificate_id=cid))  # type: ignore[arg-type]
    stack.fk.set_mode("normal", None)
    await advance_to_day(stack, start, 2)  # type: ignore[arg-type]

    delivered = await notifications(stack, case_id, "certificate_to_fk")
    assert delivered["sent"] == []
    assert "revoked" in delivered["suppressed"][0]["reason"]
    assert cid not in stack.fk.certificates


async def test_fk_refusing_a_message_leaves_it_unsent_on_the_case(stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    stack.fk.set_mode("reject", 1)
    response = await stack.http.post(
        f"/cases/{case_id}/fk/messages",
        headers=stack.headers(),
        json={
            "message_id": "care-q-1",
            "certificate_id": cid,
            "topic": "KONTKT",
            "text": "Ring gärna.",
        },
    )
    assert response.status_code == 202
    failed = await eventually(lambda: records(stack, case_id, "NotificationFailed"))  # type: ignore[arg-type]
    assert "VALIDATION_ERROR" in failed[0]["reason"]
    state = await stack.state(case_id)
    assert "care-q-1" not in state.fk_messages and state.fk_outbox == {}


async def test_a_completion_certificate_closes_every_open_komplt_and_goes_to_fk(
    stack: FkStack,
) -> None:
    case_id, cid, start = await case_with_certificate(stack, last_day=40)
    first = await stack.fk.ask("KOMPLT", cid, PNR)
    second = await stack.fk.ask("KOMPLT", cid, PNR)
    contact = await stack.fk.ask("KONTKT", cid, PNR)
    assert all(a.accepted for a in (first, second, contact))
    ids = list(stack.fk.sent_to_care)[-3:]

    completion = certificate(
        start, 1, 40, cid=f"{cid}-k", relation={"kind": "KOMPLT", "certificate_id": cid}
    )
    await do(stack, case_id, RecordCertificate(actor=PHYSICIAN, certificate=completion))  # type: ignore[arg-type]
    await eventually(lambda: _has(stack, f"{cid}-k"))
    state = await stack.state(case_id)
    assert [state.fk_messages[i].status for i in ids] == [
        "CLOSED",
        "CLOSED",
        "PENDING_INTERNAL_ACTION",
    ]
    assert state.fk_messages[ids[0]].resolved_by == f"{cid}-k"
    assert stack.fk.certificates[f"{cid}-k"].relation is not None


async def _has(stack: FkStack, cid: str) -> bool:
    return cid in stack.fk.certificates


async def _attempted(stack: FkStack, before: int) -> bool:
    return stack.fk.attempts > before
