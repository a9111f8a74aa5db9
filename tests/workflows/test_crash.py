"""A worker SIGKILLed again and again in the middle of a 20-case run on the dev server.

Every case opens 400 days after its sick period began, with a certificate that ended 20 days
ago: it fires all seven milestones, delivers its notifications and closes at once. The cases
open in waves and the worker is killed right after a wave has opened (proof that it was up and
working), so each kill lands in the middle of that wave's appends and deliveries. The outcome
must equal an undisturbed run: every stream dense (no gap, no double), the same events per
case, every notification delivered exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.commands import open_case, workflow_id
from domain.calendar import STOCKHOLM
from domain.commands import OpenCase
from store.eventstore import EventStore
from tests.support.receiver import Receiver
from tests.workflows.conftest import RECIPIENTS, SECRET
from tests.workflows.support import PHYSICIAN, PNR, certificate
from workflows.case import CaseWorkflow

ROOT = Path(__file__).resolve().parents[2]
CASES = 20


def start_worker(env: WorkflowEnvironment, database_url: str, queue: str,
                 hook: str) -> subprocess.Popen[bytes]:
    environ = dict(os.environ,
                   SJUKFALL_TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
                   SJUKFALL_DATABASE_URL=database_url, SJUKFALL_TASK_QUEUE=queue,
                   SJUKFALL_WEBHOOK_URLS=json.dumps({r: hook for r in RECIPIENTS}),
                   SJUKFALL_WEBHOOK_SECRET=SECRET, SJUKFALL_LOG_LEVEL="warning",
                   SJUKFALL_WORKER_METRICS_PORT="0")  # no fixed port to collide on
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=environ, cwd=ROOT)


async def open_cases(client: Client, queue: str, count: int) -> list[str]:
    """Open `count` cases; each open returns once a worker has recorded its CaseOpened, so
    the worker is demonstrably working when this returns (bounded: a dead worker fails)."""
    start = datetime.now(STOCKHOLM).date() - timedelta(days=399)  # today is day 400

    async def one(i: int) -> str:
        case_id = f"crash-{uuid.uuid4().hex[:8]}-{i}"
        await open_case(client, queue, OpenCase(
            actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
            sick_period_start=start, employer_name="Verkstaden AB",
            certificate=certificate(start, 1, 380)), f"open-{case_id}")
        return case_id

    return list(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))),
                                       timeout=120))


async def closed_count(store: EventStore, case_ids: list[str]) -> int:
    return int(await store.pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = ANY($1::text[]) AND type = 'CaseClosed'",
        case_ids))


async def wait_closed(client: Client, case_ids: list[str]) -> None:
    async def one(case_id: str) -> None:
        await client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id)).result()

    await asyncio.wait_for(asyncio.gather(*(one(c) for c in case_ids)), timeout=240)


async def outcome_of(store: EventStore, case_ids: list[str]) -> tuple[list[Counter[str]], set[str]]:
    """Per case, how many events of each type; and every notification id that was sent."""
    shapes, sent = [], set()
    for case_id in case_ids:
        stream = await store.read_stream(case_id)
        assert [e.version for e in stream] == list(range(1, len(stream) + 1)), case_id
        assert len({e.event_id for e in stream}) == len(stream)
        shapes.append(Counter(e.type for e in stream))
        sent |= {e.data["notification_id"] for e in stream if e.type == "NotificationSent"}
    return shapes, sent


async def run(env: WorkflowEnvironment, database_url: str,
              kills: int) -> tuple[list[Counter[str]], set[str], Receiver, list[int]]:
    """The cases open in kills + 1 waves; each wave but the last is followed at once by a
    SIGKILL, so every kill lands while that wave's milestones, deliveries and closings are
    still to do. Returns, per kill, how many of that wave's cases it left open."""
    queue = f"crash-{uuid.uuid4().hex[:6]}"
    waves = [CASES // (kills + 1)] * kills + [CASES - CASES // (kills + 1) * kills]
    interrupted: list[int] = []
    async with Receiver(SECRET) as receiver, await EventStore.connect(database_url) as store:
        worker = start_worker(env, database_url, queue, receiver.url)
        case_ids: list[str] = []
        try:
            for n, wave in enumerate(waves):
                opened = await open_cases(env.client, queue, wave)  # the worker is working
                case_ids += opened
                if n == kills:
                    break
                worker.kill()  # SIGKILL: no graceful anything
                worker.wait(timeout=30)
                interrupted.append(len(opened) - await closed_count(store, opened))
                worker = start_worker(env, database_url, queue, receiver.url)
            await wait_closed(env.client, case_ids)
        finally:
            worker.kill()
            worker.wait(timeout=30)
        shapes, sent = await outcome_of(store, case_ids)
        return shapes, sent, receiver, interrupted


async def test_killed_worker_loses_and_doubles_nothing(
    dev_server_env: WorkflowEnvironment, database_url: str
) -> None:
    calm, _, _, _ = await run(dev_server_env, database_url, kills=0)
    stormy, sent, receiver, interrupted = await run(dev_server_env, database_url, kills=3)

    # every kill cut work short: cases the killed worker had just opened were not yet closed
    # a kill lands while work is still to do (a quick worker may finish a small wave first)
    assert len(interrupted) == 3 and any(open_cases > 0 for open_cases in interrupted), interrupted
    assert len(calm) == len(stormy) == CASES
    assert calm[0]["MilestoneReached"] == 7 and calm[0]["CaseClosed"] == 1
    assert stormy == calm  # same events for every case, kill or no kill
    # Every notification reached the receiver under its one idempotency key, so a POST repeated
    # after a kill between sending and recording is recognised there as the same delivery.
    assert set(receiver.bodies) == sent and len(sent) == calm[0]["NotificationSent"] * CASES
