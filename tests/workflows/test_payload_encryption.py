"""Temporal holds no readable patient data, and a command forged without the key is refused
(issue #15, finding 2): the real time-skipping server, the real worker, a plain client as an
intruder who reached Temporal (or its UI) would use."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from api.commands import workflow_id
from domain.commands import EstablishPlan
from infra.payload_codec import (
    ENCODING,
    UNREADABLE,
    EncryptionCodec,
    PayloadKeyError,
    parse_keys,
)
from infra.settings import Settings
from tests.workflows.conftest import Harness
from tests.workflows.support import PHYSICIAN, PNR, certificate, do, open_new_case, plan, today

MOTIVATION = "Patienten berättar om sömnlöshet sedan skilsmässan"


async def plain_client(h: Harness) -> Client:
    """A client without the codec: what Temporal, its UI or `temporal` show to anyone."""
    return await Client.connect(h.client.service_client.config.target_host,
                                namespace=h.client.namespace,
                                data_converter=pydantic_data_converter)


async def test_a_cases_raw_history_holds_no_identity_diagnosis_or_free_text(
        harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(
        harness, start, certificate(start, 1, 30, motivation_early_start=MOTIVATION))
    await do(harness, case_id, EstablishPlan(actor=PHYSICIAN, plan=plan(start)))
    history = await (await plain_client(harness)).get_workflow_handle(
        workflow_id(case_id)).fetch_history()
    tree = json.loads(history.to_json())
    sealed = _sealed_payloads(tree)  # their data replaced by "" in `tree`: ciphertext is noise
    # what is left (every field, every payload not sealed by us) holds nothing readable
    text = json.dumps(tree, ensure_ascii=False) + "".join(
        base64.b64decode(v).decode("latin-1") for v in _payload_data(tree))
    for secret in (PNR, "19121212-1212", "F43.8A", "F43", MOTIVATION, "sömnlöshet",
                   "Stressrelaterad", plan(start).assessment, PHYSICIAN.id):
        assert secret not in text, secret
    assert sealed > 3  # the inputs, updates and results are there, only sealed by our codec
    events = [e.type for e in await harness.store.read_stream(case_id)]
    assert "PlanEstablished" in events


def _sealed_payloads(node: object) -> int:
    """Blank the data of every payload our codec sealed (in place); how many there were."""
    ours = base64.b64encode(ENCODING).decode()
    count = 0
    if isinstance(node, dict):
        if "data" in node and node.get("metadata", {}).get("encoding") == ours:
            node["data"] = ""
            count += 1
        for value in node.values():
            count += _sealed_payloads(value)
    elif isinstance(node, list):
        for value in node:
            count += _sealed_payloads(value)
    return count


def _payload_data(node: object) -> list[str]:
    found = []
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            found.append(node["data"])
        for value in node.values():
            found += _payload_data(value)
    elif isinstance(node, list):
        for value in node:
            found += _payload_data(value)
    return found


async def test_an_update_forged_without_the_key_is_refused_and_records_nothing(
        harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 30))
    before = await harness.store.read_stream(case_id)
    forged = {"type": "EstablishPlan", "actor": {"id": "forged-person", "role": "physician",
                                                 "unit_id": "vc-norr"},
              "plan": json.loads(plan(start).model_dump_json())}
    handle = (await plain_client(harness)).get_workflow_handle(workflow_id(case_id))
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("execute", forged, id=f"forged-{uuid.uuid4().hex}")
    assert len(await harness.store.read_stream(case_id)) == len(before)
    # The case is not jammed: the same command through the codec is recorded.
    result = await do(harness, case_id, EstablishPlan(actor=PHYSICIAN, plan=plan(start)))
    assert result.events == ["PlanEstablished"]
    recorded = await harness.store.read_stream(case_id)
    assert all(r.data.get("recorded_by") != "forged-person" for r in recorded)


KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


async def test_rotation_new_payloads_use_the_newest_key_and_old_ones_still_decrypt() -> None:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"patient_id":"191212121212"}')
    old = EncryptionCodec(parse_keys({"2026-01": KEY_A}), "2026-01")
    [sealed_old] = await old.encode([payload])
    rotated = EncryptionCodec(parse_keys({"2026-01": KEY_A, "2026-06": KEY_B}), "2026-06")
    [sealed_new] = await rotated.encode([payload])
    assert sealed_new.metadata["encryption-key-id"] == b"2026-06"
    assert b"191212121212" not in sealed_new.data
    assert await rotated.decode([sealed_old, sealed_new]) == [payload, payload]
    # The old key alone cannot read the new payload; a relabelled payload does not authenticate.
    [unread] = await old.decode([sealed_new])
    assert unread.metadata["encoding"] == UNREADABLE
    relabelled = Payload(metadata={**sealed_old.metadata, "encryption-key-id": b"2026-06"},
                         data=sealed_old.data)
    [unread] = await rotated.decode([relabelled])
    assert unread.metadata["encoding"] == UNREADABLE
    # A plain payload is unreadable, unless plaintext is let through for a migration.
    assert (await rotated.decode([payload]))[0].metadata["encoding"] == UNREADABLE
    lenient = EncryptionCodec(parse_keys({"2026-06": KEY_B}), "2026-06", accept_plaintext=True)
    assert await lenient.decode([payload]) == [payload]


def test_keys_are_checked_and_the_dev_key_is_refused_in_production() -> None:
    with pytest.raises(PayloadKeyError, match="16 bytes"):
        parse_keys({"k": base64.b64encode(b"x" * 16).decode()})
    with pytest.raises(ValueError, match="SJUKFALL_PAYLOAD_KEY_ID"):
        Settings(payload_keys={"k": KEY_A}, payload_key_id="other")
    assert any("SJUKFALL_PAYLOAD_KEYS holds the dev key" in p
               for p in Settings().production_problems())
    assert not any("PAYLOAD" in p for p in Settings(
        payload_keys={"k": KEY_A}, payload_key_id="k").production_problems())
