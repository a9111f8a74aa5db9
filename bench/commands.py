"""Write-path benchmark: a command's round trip through the API against a floor of the same run.

    .venv/bin/python bench/commands.py [--commands 300] [--database-url URL] [--json]

1. Floor: a bare Temporal update whose handler appends one row through an activity (the least
   a durable command can cost: one update, one activity, one INSERT), sent by a client
   directly, one at a time.
2. The product: `POST /cases/{id}/consents` through the API (uvicorn on loopback, a real case
   worker), one at a time, alternately giving and withdrawing so every command records an
   event; once with a fresh `Idempotency-Key` per command (the keyed path: scoped, fingerprinted,
   remembered by the case) and once without a key.
3. The largest carried state: a case at every bound (certificates, plan versions and FK messages
   with texts at their maximum length), as carried across continue-as-new, with and without
   compaction (domain.bounds.compact).

Both servers are real: the Temporal CLI dev server and PostgreSQL (an embedded server in a
temporary folder unless --database-url is given). Figures are p50/p99 in milliseconds and
ratios against the floor; the target (issue #13) is keyed p99 <= 1.5 x floor p99, and keyed
vs unkeyed shows what the idempotency store itself adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
import uvicorn
from temporalio import activity, workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.app import create_app
from api.auth import issue_token
from bench import common
from domain import decide, fold, initial_state
from domain.bounds import LIST_MAX, TEXT_MAX, compact
from domain.calendar import STOCKHOLM
from domain.commands import (
    Actor,
    EstablishPlan,
    OpenCase,
    ReceiveFkMessage,
    RecordCertificate,
    RevisePlan,
)
from infra.embedded import free_port
from infra.settings import Settings
from store.eventstore import EventStore, NewEvent
from worker import case_worker
from workflows.case import CaseInput

JWT_SECRET = "bench-commands-jwt-secret-of-32-bytes!"
_store: EventStore | None = None


@activity.defn
async def append_one(stream: str, version: int) -> int:
    assert _store is not None
    return await _store.append(stream, version, [NewEvent(
        uuid.uuid4().hex, "FloorEvent", 1, {"n": version}, {})])


@workflow.defn(sandboxed=False)
class FloorWorkflow:
    """One update, one activity, one INSERT: the least a durable command costs."""

    def __init__(self) -> None:
        self.version = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def execute(self, _: str) -> int:
        self.version = await workflow.execute_activity(
            append_one, args=[workflow.info().workflow_id, self.version],
            start_to_close_timeout=timedelta(seconds=10))
        return self.version


def figures(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(common.percentile(samples, 50) * 1000, 2),
            "p99_ms": round(common.percentile(samples, 99) * 1000, 2), "n": len(samples)}


async def floor(client: Any, n: int) -> list[float]:
    queue = f"floor-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[FloorWorkflow],
                      activities=[append_one], workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(FloorWorkflow.run, id=f"floor-{uuid.uuid4().hex}",
                                             task_queue=queue)
        samples = []
        for i in range(n + 10):
            started = time.perf_counter()
            await handle.execute_update(FloorWorkflow.execute, str(i))
            if i >= 10:  # warm-up
                samples.append(time.perf_counter() - started)
        await handle.terminate("bench over")
    return samples


async def through_api(http: httpx.AsyncClient, case_id: str, n: int, keyed: bool) -> list[float]:
    token = issue_token(JWT_SECRET, "rk-bench", "coordinator", ["vc-bench"])
    samples: list[float] = []
    for i in range(n + 10 + (n % 2)):  # an even count: the consent ends withdrawn
        headers = {"Authorization": f"Bearer {token}"}
        if keyed:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        started = time.perf_counter()
        if i % 2 == 0:
            response = await http.post(f"/cases/{case_id}/consents", headers=headers,
                                       json={"recipient": "af", "purpose": "contact"})
        else:
            response = await http.delete(f"/cases/{case_id}/consents/af/contact", headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200 and response.json()["events"], response.text
        if i >= 10 and len(samples) < n:
            samples.append(elapsed)
    return samples


def largest_carried_state() -> dict[str, int]:
    """A case at every bound, as continue-as-new would carry it, with and without compaction."""
    now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    doctor = Actor(id="d" * 50, role="physician", unit_id="vc-bench")
    start = date(2026, 1, 1)
    long = "x" * TEXT_MAX
    commands: list[Any] = [OpenCase(actor=doctor, case_id="c" * 40, patient_id="191212121212",
                                    unit_id="vc-bench", sick_period_start=start)]
    for n in range(LIST_MAX):
        commands.append(RecordCertificate(actor=doctor, certificate={
            "certificate_id": f"intyg-{n:03}", "issued_at": now, "issued_by": doctor.id,
            "diagnoses": [{"code": "F43.8A", "description": long}],
            "function_impairment": long, "activity_limitation": long,
            "motivation_early_start": long,
            "periods": [{"grade": 50, "start": start + timedelta(days=n),
                         "end": start + timedelta(days=n)}]}))
    plan = {"assessment": long, "goals": [long] * 5, "sick_leave": long,
            "return_to_work": long, "follow_up_date": start + timedelta(days=90)}
    commands.append(EstablishPlan(actor=doctor, plan=plan))
    for n in range(LIST_MAX):
        commands.append(RevisePlan(actor=doctor, plan={**plan, "assessment": f"{n:03}{long[3:]}"},
                                   reason=long))
    gateway = Actor(id="fk", role="fk_gateway")
    for n in range(LIST_MAX):
        commands.append(ReceiveFkMessage(actor=gateway, message={
            "message_id": f"fk-{n}", "sent_at": now, "certificate_id": "intyg-000",
            "patient_id": "191212121212", "topic": "KONTKT", "heading": "h" * 200,
            "text": long, "sender": "Försäkringskassan"}))
    state = initial_state("c" * 40)
    for command in commands:
        state = fold(decide(command, state, now), state)
    full = CaseInput(case_id=state.case_id, state=state).model_dump_json()
    compacted = CaseInput(case_id=state.case_id, state=compact(state)).model_dump_json()
    return {"events": state.version, "full_bytes": len(full), "compact_bytes": len(compacted)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    global _store
    result: dict[str, Any] = {"config": {"commands": args.commands}}
    with common.postgres(args.database_url, durable=not args.no_fsync) as (admin, _server):
        url = await common.fresh_database(admin, "commands")
        async with common.temporal("dev") as env, await EventStore.connect(url) as store:
            _store = store
            client = env.client
            common.say("floor: bare update + one appended row")
            result["floor"] = figures(await floor(client, args.commands))
            settings = Settings(jwt_secret=JWT_SECRET, task_queue=f"cmd-{uuid.uuid4().hex[:6]}",
                                webhook_urls={}, log_level="warning")
            app = create_app(settings, client=client, store=store)
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                   log_config=None, access_log=False))
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
            async with case_worker(client, store, settings):
                task = asyncio.create_task(server.serve())
                while not server.started:
                    await asyncio.sleep(0.01)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                             timeout=30) as http:
                    token = issue_token(JWT_SECRET, "dr-bench", "physician", ["vc-bench"])
                    opened = await http.post("/cases", headers={
                        "Authorization": f"Bearer {token}"}, json={
                        "patient_id": "191212121212", "unit_id": "vc-bench",
                        "sick_period_start": str(datetime.now(STOCKHOLM).date())})
                    case_id = opened.json()["case_id"]
                    common.say("API: consent round trips with a fresh Idempotency-Key each")
                    result["consent_keyed"] = figures(await through_api(
                        http, case_id, args.commands, keyed=True))
                    common.say("API: consent round trips without a key")
                    result["consent_unkeyed"] = figures(await through_api(
                        http, case_id, args.commands, keyed=False))
                server.should_exit = True
                await task
        await common.drop_database(admin, url)
    floor_p99 = result["floor"]["p99_ms"]
    keyed, unkeyed = result["consent_keyed"], result["consent_unkeyed"]
    result["ratio"] = {
        "keyed_vs_floor_p99": common.ratio(keyed["p99_ms"], floor_p99),
        "unkeyed_vs_floor_p99": common.ratio(unkeyed["p99_ms"], floor_p99),
        "keyed_vs_unkeyed_p99": common.ratio(keyed["p99_ms"], unkeyed["p99_ms"]),
    }
    result["target"] = {"keyed_vs_floor_p99_at_most": 1.5,
                        "met": keyed["p99_ms"] <= 1.5 * floor_p99}
    result["carried_state"] = largest_carried_state()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    common.protect_stdout()
    import logging

    logging.getLogger("temporalio").setLevel(logging.ERROR)
    from infra.logs import configure

    configure("console", "error")
    common.emit(asyncio.run(main_async(args)), args.json)


if __name__ == "__main__":
    main()
