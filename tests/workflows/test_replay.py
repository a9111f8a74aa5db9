"""Replay of committed histories: the guard for changes to the released case workflow.

`tests/histories/*.json` are histories of real runs of scenarios below. A change to the
workflow that would make them replay differently fails here; such a change must go behind
`workflow.patched(...)` (see README, "Versioning"). To record them anew (only when adding a
scenario, never to make a failing replay pass):

    SJUKFALL_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows/test_replay.py
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from api.commands import open_case, workflow_id
from domain.calendar import STOCKHOLM
from domain.commands import (
    EstablishPlan,
    GiveConsent,
    OpenCase,
    RecordCertificate,
    RecordPlanFollowUp,
    WithdrawConsent,
)
from domain.rehab_chain import ChainLink
from sjukfall.payload_codec import codec_for, encrypted_converter
from sjukfall.settings import Settings
from store.eventstore import EventStore
from tests.workflows.conftest import Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    PNR,
    advance_to_day,
    certificate,
    do,
    morning,
    open_new_case,
    outcome,
    plan,
    today,
)
from worker import case_worker, sandbox_runner
from workflows.case import (
    PATCH_LEAN,
    PATCH_REVISED_RULES,
    PATCH_SEARCH_ATTRIBUTES,
    CaseInput,
    CaseOutcome,
    CaseWorkflow,
)

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
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


def patches_in(history: WorkflowHistory) -> frozenset[str]:
    """The patch ids a history's run took (its workflow.patched markers)."""
    found = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            for payloads in event.marker_recorded_event_attributes.details.values():
                for payload in payloads.payloads:
                    if b'"id"' in payload.data:
                        found.add(json.loads(payload.data)["id"])
    return frozenset(found)


def test_every_released_version_of_the_workflow_has_a_committed_history() -> None:
    """Each release in turn: the first, then each patch added on top of the ones before (the
    runs in flight at each upgrade are what a change must still replay)."""
    released = [PATCH_SEARCH_ATTRIBUTES, PATCH_LEAN, PATCH_REVISED_RULES]
    versions = {patches_in(h) for h in committed_histories()}
    for n in range(len(released) + 1):
        assert frozenset(released[:n]) in versions, released[:n]


@pytest.mark.skipif(not RECORDING, reason="set SJUKFALL_RECORD_HISTORIES=1 to record")
async def test_record_histories(harness: Harness) -> None:
    start = await morning(harness)
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
    ext_start = await morning(harness)
    ext_id, _ = await open_new_case(harness, ext_start, certificate(ext_start, 1, 20))
    await do(harness, ext_id, GiveConsent(actor=PATIENT, recipient="fk",
                                          purpose="share_information"))
    await advance_to_day(harness, ext_start, 18)
    await do(harness, ext_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        ext_start, 21, 35, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c1"})))
    await outcome(harness, ext_id)
    await save(harness, ext_id, "extension-after-day-14")

    # revised rules: a certificate recorded on day 14 at 10:00 (late duties), then closure and a
    # backdated certificate that reopens the case
    late_start = await today(harness)
    late_id, _ = await open_new_case(harness, late_start, certificate(late_start, 1, 10),
                                     employer_name="Verkstaden AB")
    await do(harness, late_id, GiveConsent(actor=PATIENT, recipient="fk",
                                           purpose="share_information"))
    await advance_to_day(harness, late_start, 14, hour=10)
    await do(harness, late_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        late_start, 11, 20, cid="c2", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c1"})))
    await advance_to_day(harness, late_start, 30)  # closed as day 27 began
    await do(harness, late_id, RecordCertificate(actor=PHYSICIAN, certificate=certificate(
        late_start, 26, 35, cid="c3", issued=await harness.env.get_current_time(),
        relation={"kind": "FRLANG", "certificate_id": "c2"})))
    await outcome(harness, late_id)
    await save(harness, late_id, "late-certificate-and-reopening")

    # rehabiliteringskedjan: a sick period continuing an earlier one (60 chain days before it),
    # so chain day 90 comes on its own day 30
    chain_start = await today(harness)
    chain_id, _ = await open_new_case(harness, chain_start, certificate(chain_start, 1, 40),
                                      employer_name="Verkstaden AB", rehab_chain=ChainLink(
                                          earlier_case_id="earlier-case",
                                          earlier_sick_period_end=chain_start - timedelta(days=30),
                                          chain_days_before=60))
    await outcome(harness, chain_id)
    await save(harness, chain_id, "rehab-chain-continued")


async def save(h: Harness, case_id: str, name: str) -> None:
    """Saved under the newest patch's name: histories of older code are kept, never replaced
    (a scenario already recorded under that name is left as it is)."""
    path = HISTORIES / f"{name}--{PATCH_REVISED_RULES}.json"
    if path.exists():
        return
    history = await h.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    write_new(path, history.to_json())


def write_new(path: Path, text: str) -> None:
    """Write a history that is not there yet; a committed one is never replaced (FileExistsError:
    name the new patch, or delete the file by hand if it was never committed)."""
    path.parent.mkdir(exist_ok=True)
    with path.open("x") as file:
        file.write(text)


def test_the_recorder_never_replaces_a_committed_history(tmp_path: Path) -> None:
    committed = sorted(HISTORIES.glob(f"*--{PATCH_LEAN}.json"))
    assert committed, "no history of the current workflow is committed"
    before = committed[0].read_bytes()
    with pytest.raises(FileExistsError):
        write_new(committed[0], "{}")
    assert committed[0].read_bytes() == before
    write_new(tmp_path / "h" / "new.json", "{}")  # a new one is written
    assert (tmp_path / "h" / "new.json").read_text() == "{}"


@workflow.defn(name="Case")
class TimerFirstCase(CaseWorkflow):
    """A change made without workflow.patched: a timer before anything else."""

    @workflow.run
    async def run(self, input: CaseInput) -> CaseOutcome:
        await workflow.sleep(1)
        return await super().run(input)


async def test_the_replayer_fails_a_change_made_without_a_patch() -> None:
    """The guard itself: an unpatched change to the released workflow fails every history."""
    converter = encrypted_converter(codec_for(Settings(), accept_plaintext=True))
    replayer = Replayer(workflows=[TimerFirstCase], data_converter=converter,
                        workflow_runner=UnsandboxedWorkflowRunner())
    histories = committed_histories()

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    assert len(results.replay_failures) == len(histories)  # by run id: every one failed
    assert all(isinstance(err, workflow.NondeterminismError)
               for err in results.replay_failures.values()), results.replay_failures


def sjukfall_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "sjukfall"), *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)


def test_sjukfall_replay_checks_the_committed_histories_and_fails_on_a_changed_one(
    tmp_path: Path,
) -> None:
    ok = sjukfall_cli("replay", str(HISTORIES))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    count = len(committed_histories())
    assert f"{count} of {count} replayed" in ok.stdout
    # a history whose recorded activity the code would never schedule: a replay failure
    source = min(HISTORIES.glob(f"*--{PATCH_LEAN}.json"))
    (tmp_path / source.name).write_text(
        source.read_text().replace('"append_events"', '"append_everything"'))
    failed = sjukfall_cli("replay", str(tmp_path))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"FAIL {source.stem}" in failed.stdout and "0 of 1 replayed" in failed.stdout
    empty = sjukfall_cli("replay", str(tmp_path / "none"))
    assert empty.returncode == 1  # nothing replayed proves nothing


async def test_sjukfall_replay_by_workflow_id_replays_a_live_case(
    dev_server_env: WorkflowEnvironment, store: EventStore,
) -> None:
    """`sjukfall replay --workflow-id case-…` fetches the history from the server (upgrade check
    on a running deployment before new workers roll out)."""
    queue = f"replay-{uuid.uuid4().hex[:6]}"
    start = datetime.now(STOCKHOLM).date()
    case_id = f"live-{uuid.uuid4().hex[:8]}"
    async with case_worker(dev_server_env.client, store, Settings(), task_queue=queue):
        await asyncio.wait_for(open_case(dev_server_env.client, queue, OpenCase(
            actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
            sick_period_start=start, certificate=certificate(start, 1, 10)), f"open-{case_id}"),
            timeout=60)
        address = dev_server_env.client.service_client.config.target_host
        replayed = await asyncio.to_thread(
            sjukfall_cli, "replay", "--workflow-id", workflow_id(case_id),
            SJUKFALL_TEMPORAL_ADDRESS=address, SJUKFALL_TEMPORAL_NAMESPACE=dev_server_env.client.namespace)
        await dev_server_env.client.get_workflow_handle(workflow_id(case_id)).terminate("done")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"ok   {workflow_id(case_id)}" in replayed.stdout
    assert "1 of 1 replayed" in replayed.stdout
