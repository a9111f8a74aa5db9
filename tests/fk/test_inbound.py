"""FK's messages to care over real HTTP: simulator -> POST /fk/messages -> case workflow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.commands import RecordCertificate, RevokeCertificate
from tests.fk.conftest import FkStack
from tests.fk.support import OTHER_PNR, PNR, case_with_certificate, records
from tests.workflows.support import PHYSICIAN, certificate, do


async def received(stack: FkStack, case_id: str) -> list[dict[str, Any]]:
    return await records(stack, case_id, "FkMessageReceived")  # type: ignore[arg-type]


async def test_the_same_message_delivered_three_times_is_stored_once(stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    async with httpx.AsyncClient() as http:  # through the simulator's control API
        answers = (
            await http.post(
                f"{stack.fk.url}/control/send",
                json={
                    "kind": "KOMPLT",
                    "certificate_id": cid,
                    "patient_id": PNR,
                    "times": 3,
                    "fields": {"last_answer_date": "2099-01-01"},
                },
            )
        ).json()
    assert [(a["status"], a["result"]["result_code"]) for a in answers] == [
        (200, "OK"),
        (200, "INFO"),
        (200, "INFO"),
    ]
    assert all(a["signed"] for a in answers)  # care's answers are signed for FK

    [stored] = await received(stack, case_id)
    assert stored["status"] == "PENDING_INTERNAL_ACTION"
    assert stored["message"]["completion_items"][0]["question_id"] == "4"
    await stack.project()
    listed = (
        await stack.http.get(
            "/cases", params={"unanswered_fk": "true", "limit": 500}, headers=stack.headers()
        )
    ).json()
    row = next(item for item in listed["items"] if item["case_id"] == case_id)
    assert (row["unanswered_fk"], str(row["fk_answer_due"])) == (1, "2099-01-01")


@pytest.mark.parametrize(
    ("kind", "fields", "error_id"),
    [
        ("unknown certificate", {"certificate_id": "intyg-finns-inte"}, "VALIDATION_ERROR"),
        ("someone else's identity", {"patient_id": OTHER_PNR}, "VALIDATION_ERROR"),
        (
            "completion items on KONTKT",
            {"completion_items": [{"question_id": "1", "text": "x"}]},
            "VALIDATION_ERROR",
        ),
        (
            "reminder of nothing",
            {"topic": "PAMINN", "reminder_of": "fk-finns-inte"},
            "VALIDATION_ERROR",
        ),
        ("answer to nothing", {"answer_to": {"message_id": "care-finns-inte"}}, "VALIDATION_ERROR"),
    ],
)
async def test_a_message_that_breaks_a_rule_is_refused_with_the_contract_error_and_not_stored(
    stack: FkStack, kind: str, fields: dict[str, Any], error_id: str
) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    body = stack.fk.compose("KONTKT", cid, PNR)
    answer = await stack.fk.send({**body, **fields})
    assert answer.status == 422, kind
    assert answer.result is not None and answer.result.result_code == "ERROR"
    assert answer.result.error_id == error_id and answer.result.result_text
    assert await received(stack, case_id) == []


async def test_a_message_about_a_revoked_certificate_is_refused_as_revoked(stack: FkStack) -> None:
    case_id, cid, start = await case_with_certificate(stack)
    second = certificate(start, 1, 30, cid=f"{cid}-b")
    await do(stack, case_id, RecordCertificate(actor=PHYSICIAN, certificate=second))  # type: ignore[arg-type]
    await do(stack, case_id, RevokeCertificate(actor=PHYSICIAN, certificate_id=f"{cid}-b"))  # type: ignore[arg-type]
    answer = await stack.fk.ask("KONTKT", f"{cid}-b", PNR)
    assert (answer.status, answer.result and answer.result.error_id) == (422, "REVOKED")
    assert await received(stack, case_id) == []


@pytest.mark.parametrize(
    ("malformed", "status"),
    [
        ("not_json", 422),
        ("missing_fields", 422),
        ("unknown_topic", 422),
        ("bad_date", 422),
        ("bad_signature", 401),
        ("no_token", 401),
    ],
)
async def test_malformed_or_unsigned_messages_are_refused_and_nothing_is_stored(
    stack: FkStack, malformed: str, status: int
) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    answer = await stack.fk.malformed(malformed, cid, PNR)  # type: ignore[arg-type]
    assert answer.status == status
    if status == 422:  # the contract's answer, naming what is wrong
        assert answer.result is not None and answer.result.error_id == "VALIDATION_ERROR"
    assert await received(stack, case_id) == []


async def test_only_the_fk_gateway_may_deliver_messages(stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    token = stack.headers("physician")["Authorization"].removeprefix("Bearer ")
    answer = await stack.fk.send(stack.fk.compose("KONTKT", cid, PNR), token=token)
    assert answer.status == 403
    assert await received(stack, case_id) == []


async def test_a_message_for_a_closed_case_is_refused_as_an_application_error(
    stack: FkStack,
) -> None:
    from domain.commands import CloseCase

    case_id, cid, _ = await case_with_certificate(stack)
    await do(stack, case_id, CloseCase(actor=PHYSICIAN, reason="return_to_work_full"))  # type: ignore[arg-type]
    answer = await stack.fk.ask("KONTKT", cid, PNR)
    assert (answer.status, answer.result and answer.result.error_id) == (409, "APPLICATION_ERROR")
    assert await received(stack, case_id) == []


async def test_care_asks_fk_answers_and_a_second_answer_is_refused(stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    refused = await stack.http.post(
        f"/cases/{case_id}/fk/messages",
        headers=stack.headers(),
        json={"message_id": "care-k", "certificate_id": cid, "topic": "KOMPLT"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["rule"] == "topic_not_allowed_for_care"

    asked = await stack.http.post(
        f"/cases/{case_id}/fk/messages",
        headers=stack.headers("coordinator"),
        json={
            "message_id": f"care-{cid}",
            "certificate_id": cid,
            "topic": "AVSTMN",
            "heading": "Avstämningsmöte",
            "text": "Förslag: möte vecka 12.",
        },
    )
    assert asked.status_code == 202 and asked.json()["status"] == "queued"
    from tests.fk.conftest import eventually

    await eventually(lambda: _fk_has_message(stack, f"care-{cid}"))
    sent = await eventually(lambda: records(stack, case_id, "FkMessageSent"))  # type: ignore[arg-type]
    assert sent[0]["receipt"] == f"fk-message-care-{cid}"
    assert sent[0]["status"] == "PENDING_EXTERNAL_ACTION"
    assert stack.fk.messages_from_care[f"care-{cid}"].patient_id == PNR

    first = await stack.fk.answer(f"care-{cid}", "Vi föreslår tisdag.")
    second = await stack.fk.answer(f"care-{cid}", "Eller onsdag.")
    assert first.result is not None and first.result.result_code == "OK"
    assert (second.status, second.result and second.result.error_id) == (422, "VALIDATION_ERROR")
    state = await stack.state(case_id)
    assert state.fk_messages[f"care-{cid}"].status == "ANSWERED"
    assert len(await received(stack, case_id)) == 1


async def _fk_has_message(stack: FkStack, message_id: str) -> bool:
    return message_id in stack.fk.messages_from_care


async def test_a_captured_message_replayed_ten_minutes_later_is_refused(stack: FkStack) -> None:
    """The signature covers the timestamp: an old (captured) request cannot be sent again."""
    import json
    import time

    from infra.signing import sign

    case_id, cid, _ = await case_with_certificate(stack)
    raw = json.dumps(stack.fk.compose("KONTKT", cid, PNR)).encode()
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {stack.fk.care_token}"}
    for age, status in ((600, 401), (0, 200)):
        ts = int(time.time()) - age
        response = await stack.http.post("/fk/messages", content=raw, headers={
            **headers, "X-Sjukfall-Timestamp": str(ts),
            "X-Sjukfall-Signature": sign(stack.fk.secret, ts, raw)})
        assert response.status_code == status, response.text
        assert len(await received(stack, case_id)) == (age == 0)
