"""FK's gateway cannot jam a case, and no client key can swallow FK's message (issue #13)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from infra.signing import signed_headers
from tests.fk.conftest import FK_SECRET, FkStack
from tests.fk.support import PNR, case_with_certificate, records


async def send(stack: FkStack, **spec: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        [answer] = (await http.post(f"{stack.fk.url}/control/send", json=spec)).json()
    return dict(answer)


async def test_a_nul_in_fks_text_is_refused_and_the_case_still_takes_messages(
        stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack)
    refused = await send(stack, kind="KONTKT", certificate_id=cid, patient_id=PNR,
                         fields={"text": "hej\u0000"})
    assert (refused["status"], refused["result"]["error_id"]) == (422, "VALIDATION_ERROR")
    assert "control character" in refused["result"]["result_text"]
    assert await records(stack, case_id, "FkMessageReceived") == []  # type: ignore[arg-type]
    accepted = await send(stack, kind="KONTKT", certificate_id=cid, patient_id=PNR)
    assert (accepted["status"], accepted["result"]["result_code"]) == (200, "OK")


async def test_a_client_key_shaped_like_fks_cannot_swallow_fks_message(stack: FkStack) -> None:
    case_id, cid, _ = await case_with_certificate(stack, consent=False)
    mid = f"fk-{uuid.uuid4().hex[:10]}"
    consent = await stack.http.post(
        f"/cases/{case_id}/consents", json={"recipient": "fk", "purpose": "share_information"},
        headers={**stack.headers("coordinator"), "Idempotency-Key": f"fk-{mid}"})
    assert consent.status_code == 200, consent.text
    answer = await send(stack, kind="KONTKT", certificate_id=cid, patient_id=PNR,
                        fields={"message_id": mid})
    assert (answer["status"], answer["result"]["result_code"]) == (200, "OK")
    [stored] = await records(stack, case_id, "FkMessageReceived")  # type: ignore[arg-type]
    assert stored["message"]["message_id"] == mid


async def test_a_non_ascii_signature_is_refused_not_a_server_error(stack: FkStack) -> None:
    body = json.dumps({"message_id": "x"}).encode()
    headers = signed_headers(FK_SECRET, body, "x")
    sent = {k: v.encode() for k, v in headers.items()}
    sent["X-Sjukfall-Signature"] = "sha256=ä".encode()  # bytes beyond ASCII, as a client may send
    sent["Authorization"] = stack.headers("fk_gateway", ())["Authorization"].encode()
    response = await stack.http.post("/fk/messages", content=body, headers=sent)
    assert response.status_code == 401, response.text
