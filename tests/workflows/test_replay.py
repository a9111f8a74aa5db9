"""Replay of committed histories: the guard for changes to the released case workflow.

`tests/histories/*.json` are histories of real runs of scenarios below. A change to the
workflow that would make them replay differently fails here; such a change must go behind
`workflow.patched(...)` (see README, "Versioning"). To record them anew (only when adding a
scenario, never to make a failing replay pass):

    SJUKFALL_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows/test_replay.py
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from api.commands import workflow_id
from domain.commands import (
    EstablishPlan,
    GiveConsent,
    RecordCertificate,
    RecordPlanFollowUp,
    WithdrawConsent,
)
from sjukfall.payload_codec import codec_for, encrypted_converter
from sjukfall.settings import Settings
from tests.workflows.conftest import Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    advance_to_day,
    certificate,
    do,
    open_new_case,
    outcome,
    plan,
    today,
)
from worker import sandbox_runner
from workflows.case import PATCH_LEAN, CaseWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
RECORDING = os.environ.get("SJUKFALL_RECORD_HISTORIES") == "1"


def committed_histories() -> list[WorkflowHistory]:
    return [WorkflowHistory.from_json(p.stem, p.read_text()) for p in sorted(HISTORIES.glob("*.json"))]


async def test_committed_histories_replay_on_the_current_workflow() -> None:
    histories = committed_histories()
    assert len(histories) >= 2, "the committed histories are missing"
    # Committed histories from before payload encryption are plain; newer ones are encrypted.
    converter = encrypted_converter(codec_for(Settings(), accept_plaintext=True))
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=converter,
                        workflow_runner=sandbox_runner())
    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    failures = {wid: str(err) for wid, err in results.replay_failures.items()}
    assert failures == {}


@pytest.mark.skipif(not RECORDING, reason="set SJUKFALL_RECORD_HISTORIES=1 to record")
async def test_record_histories(harness: Harness) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 45),
                                     employer_name="Verkstaden AB")
    await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="employer",
                                           purpose="share_information"))
    await advance_to_day(harness, start, 10)
    await do(harness, case_id, EstablishPlan(actor=PHYSICIAN, plan=plan(start + timedelta(days=39))))
    await advance_to_day(harness, start, 25)
    await do(harness, case_id, WithdrawConsent(actor=PATIENT, recipient="employer",
                                               purpose="share_information"))
    await advance_to_day(harness, start, 40)
    await do(harness, case_id, RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=start + timedelta(days=39)))
    await outcome(harness, case_id)
    await save(harness, case_id, "45-day-case-with-plan-and-withdrawn-consent")

    late_start = start - timedelta(days=19)
    late_id, _ = await open_new_case(harness, late_start, certificate(
        late_start, 1, 20, issued=await harness.env.get_current_time(),
        motivation_early_start="Bedömd per telefon dag 1"))
    await outcome(harness, late_id)
    await save(harness, late_id, "case-opened-on-day-20")

    # an extension recorded after day 14, with consent for FK
    ext_start = await today(harness)
    ext_id, _ = await open_new_case(harness, ext_start, certificate(ext_start, 1, 20))
    await do(harness, ext_id, GiveConsent(actor=PATIENT, recipient="fk",
                                          purpose="share_information"))
    await advance_to_day(harness, ext_start, 18)
    await do(harness, ext_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        ext_start, 21, 35, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c1"})))
    await outcome(harness, ext_id)
    await save(harness, ext_id, "extension-after-day-14")


async def save(h: Harness, case_id: str, name: str) -> None:
    """Saved under the newest patch's name: histories of older code are kept, never replaced."""
    history = await h.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}--{PATCH_LEAN}.json").write_text(history.to_json())
