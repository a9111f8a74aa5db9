"""Shared setup of the lifecycle, query and chaos benchmarks.

- real servers only: an embedded PostgreSQL in a temporary folder (or --database-url), the
  Temporal time-skipping test server and the Temporal CLI dev server, all from the installed
  wheels, so nothing is downloaded;
- `Receiver`: the webhook receiver (infra/inbox.py) plus arrival times and the
  two fault modes the chaos runs need (a capped failure streak, a first attempt slower than
  the worker's HTTP timeout);
- `history_costs`: history events, activities and Temporal Cloud billable actions counted from
  a workflow history (the counting rule is documented there);
- small helpers for percentiles, progress lines on stderr and the single JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.requests import Request
from starlette.responses import JSONResponse
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.embedded import (
    EmbeddedPostgres,
    free_port,
    register_search_attributes,
    search_attribute_args,
    temporal_cli,
    temporal_test_server,
)
from infra.inbox import WebhookReceiver as _TestReceiver
from infra.payload_codec import data_converter as _encrypted
from infra.settings import Settings as _Settings
from infra.signing import IDEMPOTENCY_HEADER
from infra.webhooks import verify_webhook as verify
from store.databases import create_database, drop_database  # noqa: F401  (common.drop_database)

SECRET = "bench-webhook-secret"
FK_SECRET = "bench-fk-secret"
RECIPIENTS = ("patient", "physician", "coordinator", "employer", "fk", "af", "social_services",
              "occupational_health", "multimodal_team")

# The worker process encrypts payloads (the dev key): the bench's clients must too.
ENCRYPTED = _encrypted(_Settings())


# --- output -------------------------------------------------------------------------------

QUIET = False


def say(*args: Any) -> None:
    """Progress and human-readable figures go to stderr; with --json stdout holds only JSON."""
    if not QUIET:
        print(*args, file=sys.stderr, flush=True)


_REAL_STDOUT: int | None = None


def protect_stdout() -> None:
    """Point fd 1 at stderr (child servers print banners to stdout) until `emit` writes the
    one JSON object to the real stdout."""
    global _REAL_STDOUT
    if _REAL_STDOUT is None:
        sys.stdout.flush()
        _REAL_STDOUT = os.dup(1)
        os.dup2(2, 1)


def emit(result: dict[str, Any], as_json: bool) -> None:
    text = json.dumps(result, default=str) if as_json else json.dumps(result, default=str, indent=2)
    sys.stdout.flush()
    if _REAL_STDOUT is not None:
        os.write(_REAL_STDOUT, (text + "\n").encode())
    else:
        print(text, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# --- PostgreSQL ---------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(database_url: str | None, durable: bool = True) -> Any:
    """An admin URL: the given one, or an embedded server in a temporary folder (removed after).

    Yields (admin_url, server or None); the server has stop()/kill()/start() on the same data
    directory and port, for restart tests."""
    if database_url:
        yield database_url, None
        return
    tmp = Path(tempfile.mkdtemp(prefix="sjukfall-bench-"))
    server = EmbeddedPostgres(tmp / "data", free_port(), durable=durable)
    server.start()
    try:
        yield server.url, server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def fresh_database(admin_url: str, prefix: str = "bench") -> str:
    return await create_database(admin_url, prefix, migrated=True)


# --- Temporal -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def temporal(kind: str) -> AsyncIterator[WorkflowEnvironment]:
    """`time-skipping` (test server) or `dev` (CLI dev server, in-memory SQLite)."""
    if kind == "time-skipping":
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=ENCRYPTED,
            test_server_existing_path=str(temporal_test_server()),
        )
        await register_search_attributes(env.client)
    elif kind == "dev":
        env = await WorkflowEnvironment.start_local(
            data_converter=ENCRYPTED,
            dev_server_existing_path=str(temporal_cli()),
            dev_server_log_level="error",
            dev_server_extra_args=search_attribute_args(),
        )
    else:
        raise ValueError(kind)
    try:
        yield env
    finally:
        await env.shutdown()


# --- Temporal Cloud billable actions, counted from a history --------------------------------
#
# Rule (docs.temporal.io/cloud/actions, "Temporal Cloud Actions"), per history event:
#   WORKFLOW_EXECUTION_STARTED                1  (client start, update-with-start, continue-as-new run)
#   WORKFLOW_EXECUTION_UPDATE_ACCEPTED        1  (each accepted update; a rejected update is billed
#                                                 too but never written to history: counted by the
#                                                 driver, `rejected_updates`)
#   WORKFLOW_EXECUTION_SIGNALED               1
#   ACTIVITY_TASK_SCHEDULED                   1  (schedule activity)
#   ACTIVITY_TASK_STARTED                     attempt - 1  (retries; intermediate attempts leave
#                                                 no event, the started event carries the count)
#   TIMER_STARTED                             1  (includes the implicit timer of
#                                                 workflow.wait_condition(timeout=...))
#   UPSERT_WORKFLOW_SEARCH_ATTRIBUTES         1  per command, unless it only sets
#                                                 TemporalChangeVersion (versioning is exempt)
#   START_CHILD_WORKFLOW_EXECUTION_INITIATED  2
#   MARKER_RECORDED                           1 per workflow task for local-activity markers;
#                                                 patch markers (workflow.patched) are not billed
#   WORKFLOW_EXECUTION_OPTIONS_UPDATED        1
# Not in histories and so not counted here: queries (none are sent by the benchmarks), activity
# heartbeats (the case activities do not heartbeat), rejected updates (counted by the driver).

_BILLED_ONE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update_accepted",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity_scheduled",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer_started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options_updated",
}


def history_costs(history: History) -> dict[str, Any]:
    """Events, bytes, activities, timers and billable actions (by kind) of one history."""
    actions: Counter[str] = Counter()
    activity_types: Counter[str] = Counter()
    la_marker_tasks: set[int] = set()
    task = 0
    for ev in history.events:
        t = ev.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task = ev.event_id
        if t in _BILLED_ONE:
            actions[_BILLED_ONE[t]] += 1
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activity_types[ev.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = max(0, ev.activity_task_started_event_attributes.attempt - 1)
            if retries:
                actions["activity_retry"] += retries
        elif t == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = set(ev.upsert_workflow_search_attributes_event_attributes
                         .search_attributes.indexed_fields)
            if fields - {"TemporalChangeVersion"}:
                actions["search_attributes_upsert"] += 1
        elif t == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            actions["start_child"] += 2
        elif (t == EventType.EVENT_TYPE_MARKER_RECORDED
              and ev.marker_recorded_event_attributes.marker_name == "core_local_activity"):
            la_marker_tasks.add(task)
    if la_marker_tasks:
        actions["local_activities"] += len(la_marker_tasks)
    return {
        "events": len(history.events),
        "bytes": history.ByteSize(),
        "activities": sum(activity_types.values()),
        "activity_types": dict(activity_types),
        "timers": actions["timer_started"],
        "actions": sum(actions.values()),
        "actions_by_kind": dict(actions),
    }


async def fetch_costs(client: Client, workflow_ids: Iterable[str],
                      concurrency: int = 20) -> list[dict[str, Any]]:
    """history_costs of each workflow id (every run, following continue-as-new)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(wid: str) -> dict[str, Any]:
        async with sem:
            total: dict[str, Any] = {"events": 0, "bytes": 0, "activities": 0, "timers": 0,
                                     "actions": 0, "actions_by_kind": Counter(),
                                     "activity_types": Counter(), "runs": 0}
            run_id: str | None = None
            handle = client.get_workflow_handle(wid)
            # the first run (first_execution_run_id unknown): walk forward through continued runs
            history = await handle.fetch_history()
            while True:
                c = history_costs(History(events=history.events))
                for k in ("events", "bytes", "activities", "timers", "actions"):
                    total[k] += c[k]
                total["actions_by_kind"].update(c["actions_by_kind"])
                total["activity_types"].update(c["activity_types"])
                total["runs"] += 1
                last = history.events[-1] if history.events else None
                continued = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
                if last is None or last.event_type != continued:
                    break
                run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
            return total

    return list(await asyncio.gather(*(one(w) for w in workflow_ids)))


def mean_costs(costs: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(1, len(costs))
    kinds: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for c in costs:
        kinds.update(c["actions_by_kind"])
        types.update(c["activity_types"])
    return {
        "history_events": round(sum(c["events"] for c in costs) / n, 2),
        "history_bytes": round(sum(c["bytes"] for c in costs) / n, 1),
        "activities": round(sum(c["activities"] for c in costs) / n, 2),
        "timers": round(sum(c["timers"] for c in costs) / n, 2),
        "actions": round(sum(c["actions"] for c in costs) / n, 2),
        "actions_max": max((c["actions"] for c in costs), default=0),
        "actions_by_kind": {k: round(v / n, 2) for k, v in sorted(kinds.items())},
        "activity_types": {k: round(v / n, 2) for k, v in sorted(types.items())},
    }


# --- webhook receiver ---------------------------------------------------------------------


@dataclass
class Receiver(_TestReceiver):
    """The test receiver plus: first arrival time per key, a cap on consecutive failures of
    one key (`max_streak`), and a first attempt that answers only after `slow_first` seconds
    for the recipients in `slow_recipients` (longer than the worker's HTTP timeout, so the
    worker gives up, retries, and the receiver sees the same key twice)."""

    secret: str = SECRET
    max_streak: int = 3
    slow_first: float = 0.0
    slow_recipients: tuple[str, ...] = ()
    first_seen: dict[str, float] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    injected_failures: int = 0
    slowed: int = 0
    per_key_attempts: Counter[str] = field(default_factory=Counter)

    async def _hook(self, request: Request) -> JSONResponse:
        self.attempts += 1
        body = await request.body()
        if not verify(self.secret, request.headers, body):
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers[IDEMPOTENCY_HEADER]
        self.per_key_attempts[key] += 1
        data = json.loads(body)
        if (self.slow_first and data.get("recipient") in self.slow_recipients
                and self.per_key_attempts[key] == 1):
            self.slowed += 1
            await asyncio.sleep(self.slow_first)
        if (self.fail_ratio and self.failures[key] < self.max_streak
                and self._rng.random() < self.fail_ratio):
            self.failures[key] += 1
            self.injected_failures += 1
            return JSONResponse({"error": "try later"}, status_code=503)
        self.failures[key] = 0
        if key not in self.delivered:
            self.bodies[key] = data
            self.first_seen[key] = time.time()
        self.delivered[key] += 1
        return JSONResponse({"receipt": f"r-{key}"}, headers={"X-Receipt": f"r-{key}"})


def settings_env(address: str, database_url: str, queue: str, hook: str,
                 fk_url: str) -> dict[str, str]:
    return dict(os.environ, SJUKFALL_FK_URL=fk_url, SJUKFALL_FK_SECRET=FK_SECRET,
                SJUKFALL_TEMPORAL_ADDRESS=address,
                SJUKFALL_DATABASE_URL=database_url, SJUKFALL_TASK_QUEUE=queue,
                SJUKFALL_WEBHOOK_URLS=json.dumps({r: hook for r in RECIPIENTS}),
                SJUKFALL_WEBHOOK_SECRET=SECRET, SJUKFALL_LOG_LEVEL="warning")


async def bounded(concurrency: int, items: Iterable[Any], fn: Any) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with sem:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))
