"""`sjukfall reconcile` against the Temporal dev server and a real PostgreSQL: it finds the cases
whose workflow and record disagree, says what to do, and repairs what the record can repair."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from api.commands import open_case, workflow_id
from domain import decide, event_to_record, fold, initial_state
from domain.calendar import STOCKHOLM
from domain.commands import GiveConsent, OpenCase
from infra.settings import Settings
from sjukfall.reconcile import classify
from store.eventstore import EventStore, NewEvent
from tests.workflows.support import PATIENT, PHYSICIAN, PNR, certificate
from worker import case_worker
from workflows.case import CaseWorkflow

SJUKFALL = Path(sys.executable).parent / "sjukfall"


@pytest.mark.parametrize(("record", "closed", "status", "workflow", "kind"), [
    (5, False, "running", 5, "ok"),
    (5, True, "completed", None, "ok"),
    (5, False, "missing", None, "workflow_missing"),
    (6, False, "running", 5, "record_ahead"),
    (5, False, "running", 6, "workflow_ahead"),
    (5, False, "terminated", None, "workflow_ended"),
    (0, False, "running", 3, "no_record"),
])
def test_each_disagreement_has_its_name(record: int, closed: bool, status: str,
                                        workflow: int | None, kind: str) -> None:
    assert classify(record, closed, status, workflow) == kind


def new_events(events: list) -> list[NewEvent]:
    return [NewEvent(e.event_id, *event_to_record(e)) for e in events]


async def test_reconcile_finds_and_repairs_what_the_record_can_repair(
    dev_server_env: WorkflowEnvironment, database_url: str,
) -> None:
    client = dev_server_env.client
    queue = f"reconcile-{uuid.uuid4().hex[:6]}"
    today = datetime.now(STOCKHOLM).date()
    ids = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ("agree", "missing", "ahead")}

    def opening(case_id: str) -> OpenCase:
        return OpenCase(actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
                        sick_period_start=today, certificate=certificate(today, 1, 30))

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        """In a thread: the worker in this process must keep answering the queries."""
        env = dict(os.environ, SJUKFALL_DATABASE_URL=database_url, SJUKFALL_TASK_QUEUE=queue,
                   SJUKFALL_TEMPORAL_ADDRESS=client.service_client.config.target_host)
        return await asyncio.to_thread(
            subprocess.run, [str(SJUKFALL), "reconcile", *args], env=env, capture_output=True,
            text=True, timeout=120, check=False)

    async with (await EventStore.connect(database_url) as store,
                case_worker(client, store, Settings(), task_queue=queue)):
        for name in ("agree", "ahead"):
            await open_case(client, queue, opening(ids[name]), f"open-{ids[name]}")
        # a case in the record whose workflow Temporal lost (restored to before it opened)
        opened = decide(opening(ids["missing"]), initial_state(ids["missing"]),
                        datetime.now(UTC))
        await store.append(ids["missing"], 0, new_events(opened))
        # a command in the record that the workflow forgot
        events = [e async for e in _record(store, ids["ahead"])]
        state = fold(events)
        consent = decide(GiveConsent(actor=PATIENT, recipient="employer",
                                     purpose="share_information"), state, datetime.now(UTC))
        await store.append(ids["ahead"], state.version, new_events(consent))

        found = await cli("--json")
        assert found.returncode == 1, found.stderr
        report = json.loads(found.stdout)
        assert report["checked"] == 3
        kinds = {f["case_id"]: f["kind"] for f in report["findings"]}
        assert kinds == {ids["missing"]: "workflow_missing", ids["ahead"]: "record_ahead"}
        assert all(f["advice"] and not f["repaired"] for f in report["findings"])

        repaired = await cli("--repair")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "3 case(s) checked, 2 disagree, 2 repaired" in repaired.stdout

        for name in ("missing", "ahead"):
            record = await store.pool.fetchval(
                "SELECT max(version) FROM events WHERE stream_id = $1", ids[name])
            handle = client.get_workflow_handle(workflow_id(ids[name]))
            assert (await handle.query(CaseWorkflow.current_state)).version == record
        again = await cli()
        assert again.returncode == 0, again.stdout + again.stderr
        assert "3 case(s) checked, 0 disagree" in again.stdout
        for case_id in ids.values():
            await client.get_workflow_handle(workflow_id(case_id)).terminate("test finished")


async def _record(store: EventStore, case_id: str):  # type: ignore[no-untyped-def]
    from store.projections import decode_event
    from store.queries import case_events

    for e in await case_events(store.pool, case_id):
        yield decode_event(e.type, e.schema_version, e.data)
