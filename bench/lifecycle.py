"""Lifecycle benchmark: N standard 45-day cases through the real case workflow, against a baseline.

    .venv/bin/python bench/lifecycle.py [--cases 500] [--server time-skipping|dev|both]
                                        [--concurrency 100] [--database-url URL] [--json]

The standard case (one physician, one patient with an employer):
  day 1   open with certificate c1 (days 1-30, 100 %); the patient consents to informing the
          employer and FK (share_information)
  day 10  the plan is established, follow-up date day 40
  day 28  extension: certificate c2 (days 31-45, FRLANG c1)
  day 40  the plan is followed up
  day 45  the physician closes the case (return_to_work_full)
and in between the workflow wakes itself at milestones 8, 14 and 30 and at the follow-up date,
and delivers the notifications the domain requests (day 14: employer, patient, FK; day 30:
coordinator referral, multimodal team, ...), each to a real webhook receiver on loopback, the
certificate to FK through the FK port to the FK simulator (fk/simulator.py).

Servers
- time-skipping: every case is opened "today" on the test server's clock; the driver moves all
  cases in lockstep through the days above (env.sleep skips time, timers fire on the way).
- dev: the CLI dev server runs in real time, so a 45-day case cannot wait for its timers. Each
  case is dated back: its sick period began 33 days ago (today is day 34), c1 covered days 1-30
  (issued on day 1), so milestones 8, 14 and 30 are already due when the case opens and fire at
  once; the consents, the plan (follow-up date today, so that timer is due too), the extension
  (c2 days 31-45, issued today), the follow-up and the close follow back-to-back, each awaited
  before the next (as a user's requests would be). Closure is not yet due (day 51), so it is the
  same explicit close as on the time-skipping server. Timers that are already due start no
  Temporal timer, so the dev histories are shorter than the time-skipping ones; the billable
  actions of a standard case are the time-skipping figures. Because the milestones fire while
  the consent commands arrive, a dev case may tell the employer/FK at day 14 or suppress it,
  depending on which wins; the figures are means.

Baseline (bench/baseline.py): the same commands as updates, the same wake-ups (a timer only
when in the future), one no-op activity per command/wake-up and one per notification the
domain requests; the wake-ups and notification counts come from running the real domain over
the same commands at the same instants (`plan_case`). Figure of merit: lifecycle / baseline.

Billable actions are counted from each workflow's history by the rule in bench/common.py
(`history_costs`, from docs.temporal.io/cloud/actions).

Unless --database-url is given, a durable (fsync on) embedded PostgreSQL is started in a
temporary folder and removed afterwards. Progress goes to stderr; with --json stdout is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.commands import open_case, send_command, workflow_id
from bench import common
from bench.baseline import BaselineInput, BaselineStep, BaselineWorkflow, Wake, noop
from domain import decide, evolve, initial_state, next_timer
from domain.calendar import STOCKHOLM, day_start
from domain.certificate import Certificate
from domain.commands import (
    Actor,
    CloseCase,
    Command,
    EstablishPlan,
    GiveConsent,
    OpenCase,
    RecordCertificate,
    RecordPlanFollowUp,
)
from domain.plan import Plan, PlannedMeasure
from fk.simulator import Simulator
from infra.settings import Settings
from store.eventstore import EventStore
from worker import case_worker, sandbox_runner

PNR = "191212121212"
PHYSICIAN = Actor(id="dr-anna", role="physician", unit_id="vc-norr")
PATIENT = Actor(id="patient", role="patient")


# --- the standard case ---------------------------------------------------------------------


def _certificate(start: date, cid: str, first: int, last: int, issued: datetime,
                 relation: dict[str, str] | None = None) -> Certificate:
    data: dict[str, Any] = {
        "certificate_id": cid,
        "issued_at": issued,
        "issued_by": PHYSICIAN.id,
        "diagnoses": [{"code": "F43.8A"}],
        "periods": [{"grade": 100, "start": start + timedelta(days=first - 1),
                     "end": start + timedelta(days=last - 1)}],
        "function_impairment": "Nedsatt koncentrationsförmåga och uttröttbarhet.",
        "activity_limitation": "Klarar inte längre arbetspass.",
    }
    if relation:
        data["relation"] = relation
    return Certificate.model_validate(data)


def _plan(follow_up: date) -> Plan:
    return Plan(
        assessment="Stressrelaterad utmattning; arbetsförmågan nedsatt mot nuvarande arbete.",
        goals=["Återgång i arbete på 50 % inom sex veckor"],
        measures=[PlannedMeasure(what="Samtalsbehandling", by_whom="kurator")],
        sick_leave="100 % i fyra veckor, därefter upptrappning",
        return_to_work="Upptrappning via 50 % efter samtal med arbetsgivaren",
        follow_up_date=follow_up,
    )


@dataclass
class Step:
    at: datetime | None  # time-skipping: when to send; dev: None (send at once)
    command: Command


def standard_case(case_id: str, server: str, now: datetime) -> list[Step]:
    """The commands of one standard case; `now` is the server's clock when the run begins."""
    today = now.astimezone(STOCKHOLM).date()
    if server == "time-skipping":
        start = today

        def at(day: int, hour: int = 9) -> datetime:
            return max(now, day_start(start, day) + timedelta(hours=hour))

        c1_issued, c2_issued, follow_up = now, at(28), start + timedelta(days=39)
        times = {"open": now, "plan": at(10), "extend": at(28), "follow": at(40),
                 "close": at(45, 15)}
    else:
        start = today - timedelta(days=33)  # today is day 34
        c1_issued, c2_issued, follow_up = day_start(start, 1) + timedelta(hours=9), now, today
        times = {}
    t = times.get
    return [
        Step(t("open"), OpenCase(actor=PHYSICIAN, case_id=case_id, patient_id=PNR,
                                 unit_id="vc-norr", sick_period_start=start,
                                 employer_name="Verkstaden AB",
                                 certificate=_certificate(start, f"{case_id}-c1", 1, 30,
                                                          c1_issued))),
        Step(t("open"), GiveConsent(actor=PATIENT, recipient="employer",
                                    purpose="share_information")),
        Step(t("open"), GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information")),
        Step(t("plan"), EstablishPlan(actor=PHYSICIAN, plan=_plan(follow_up))),
        Step(t("extend"), RecordCertificate(actor=PHYSICIAN, certificate=_certificate(
            start, f"{case_id}-c2", 31, 45, c2_issued,
            relation={"kind": "FRLANG", "certificate_id": f"{case_id}-c1"}))),
        Step(t("follow"), RecordPlanFollowUp(actor=PHYSICIAN, followed_up_on=follow_up)),
        Step(t("close"), CloseCase(actor=PHYSICIAN, reason="return_to_work_full")),
    ]


@dataclass
class CasePlan:
    """What the domain makes of the standard case: per command, the notifications requested;
    the wake-ups (timers) with theirs; the event count."""

    steps: list[Step]
    command_deliveries: list[int] = field(default_factory=list)
    wakes: list[Wake] = field(default_factory=list)
    events: int = 0


def plan_case(case_id: str, server: str, now: datetime) -> CasePlan:
    """Run the real domain over the standard case at the instants the driver will use, firing
    every timer due before each command (on dev: at once, before the next command)."""
    steps = standard_case(case_id, server, now)
    plan = CasePlan(steps)
    state = initial_state(case_id)
    clock = now

    def requested(events: list[Any]) -> int:
        return sum(1 for e in events if e.type == "NotificationRequested")

    def fire_until(until: datetime) -> None:
        nonlocal state, clock
        while (timer := next_timer(state)) is not None and timer.at <= until:
            clock = max(clock, timer.at)
            events = decide(timer.command, state, clock)
            for e in events:
                state = evolve(state, e)
            plan.events += len(events)
            plan.wakes.append(Wake(at=timer.at, deliveries=requested(events)))

    for step in steps:
        when = step.at or now
        fire_until(when)
        clock = max(clock, when)
        events = decide(step.command, state, clock)
        for e in events:
            state = evolve(state, e)
        plan.events += len(events)
        plan.command_deliveries.append(requested(events))
        if server == "dev":
            fire_until(now)
    # every requested notification records its outcome as one more event
    plan.events += sum(plan.command_deliveries) + sum(w.deliveries for w in plan.wakes)
    return plan


# --- drivers -------------------------------------------------------------------------------


@dataclass
class RunResult:
    seconds: float
    workflow_ids: list[str]
    rejected_updates: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


async def advance(env: WorkflowEnvironment, to: datetime) -> None:
    """Skip time to `to` (timers fire on the way). env.sleep with a long RPC deadline: a skip
    over hundreds of busy workflows outlasts the default one."""
    now = await env.get_current_time()
    if to <= now:
        return
    req = SleepRequest()
    req.duration.FromTimedelta(to - now)
    await env.client.test_service.unlock_time_skipping_with_sleep(
        req, timeout=timedelta(minutes=30))


async def drive(env: WorkflowEnvironment, server: str, n: int, concurrency: int,
                queue: str, kind: str, now: datetime) -> RunResult:
    """Drive n cases of `kind` ("lifecycle" or "baseline") through the standard case."""
    client = env.client
    prefix = f"{kind[:4]}-{uuid.uuid4().hex[:6]}"
    case_ids = [f"{prefix}-{i:05d}" for i in range(n)]
    plans = {c: plan_case(c, server, now) for c in case_ids}
    rejected = 0
    wids = [workflow_id(c) if kind == "lifecycle" else f"baseline-{c}" for c in case_ids]

    async def send(case_id: str, index: int) -> None:
        nonlocal rejected
        plan = plans[case_id]
        step = plan.steps[index]
        try:
            if kind == "lifecycle":
                key = f"{case_id}-{index}"
                if index == 0:
                    await open_case(client, queue, step.command, key)  # type: ignore[arg-type]
                else:
                    await send_command(client, case_id, step.command, key)
            else:
                bstep = BaselineStep(name=step.command.type,
                                     deliveries=plan.command_deliveries[index],
                                     close=step.command.type == "CloseCase")
                if index == 0:
                    start = WithStartWorkflowOperation(
                        BaselineWorkflow.run, BaselineInput(case_id, plan.wakes),
                        id=f"baseline-{case_id}", task_queue=queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        task_timeout=timedelta(seconds=30),
                    )
                    await client.execute_update_with_start_workflow(
                        BaselineWorkflow.execute, bstep, start_workflow_operation=start,
                        id=f"{case_id}-{index}")
                else:
                    handle = client.get_workflow_handle(f"baseline-{case_id}")
                    await handle.execute_update(BaselineWorkflow.execute, bstep,
                                                id=f"{case_id}-{index}")
        except Exception as err:  # noqa: BLE001 - a rejected command is a finding, not a crash
            rejected += 1
            common.say(f"  {kind} {case_id} step {index} rejected: {err}")

    async def result(wid: str) -> str:
        handle = client.get_workflow_handle(wid)
        try:
            out = await handle.result()
        except Exception as err:  # noqa: BLE001 - reported as the case's outcome
            return f"failed: {type(err).__name__}"
        if isinstance(out, dict):
            return str(out.get("closed_reason"))
        return str(getattr(out, "closed_reason", "completed"))

    steps = len(plans[case_ids[0]].steps)
    started = time.perf_counter()
    if server == "time-skipping":
        # lockstep: all cases get step i at its instant (the same for every case)
        for i in range(steps):
            at = plans[case_ids[0]].steps[i].at
            if at is not None:
                await advance(env, at)
            await common.bounded(concurrency, case_ids, lambda c, i=i: send(c, i))
        async with env.time_skipping_unlocked():  # type: ignore[attr-defined]
            outcomes = await common.bounded(concurrency, wids, result)
    else:
        async def whole_case(case_id: str) -> str:
            for i in range(steps):
                await send(case_id, i)
            return await result(workflow_id(case_id) if kind == "lifecycle"
                                else f"baseline-{case_id}")

        outcomes = await common.bounded(concurrency, case_ids, whole_case)
    seconds = time.perf_counter() - started
    return RunResult(seconds, wids, rejected, Counter(outcomes))


async def baseline_worker(client: Client, queue: str, settings: Settings) -> Worker:
    return Worker(
        client, task_queue=queue, workflows=[BaselineWorkflow], activities=[noop],
        workflow_runner=sandbox_runner(),
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
    )


async def run_server(server: str, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    common.say(f"[{server}] starting the server")
    async with common.temporal(server) as env, common.Receiver() as receiver, \
            Simulator(common.FK_SECRET) as fk, await EventStore.connect(database_url) as store:
        client = env.client
        settings = Settings(webhook_urls={r: receiver.url for r in common.RECIPIENTS},
                            webhook_secret=common.SECRET, fk_url=fk.url,
                            fk_secret=common.FK_SECRET, log_level="warning")
        runs: dict[str, RunResult] = {}
        order = ["baseline", "lifecycle"]
        for kind in order:
            queue = f"{kind}-{uuid.uuid4().hex[:6]}"
            now = await env.get_current_time() if server == "time-skipping" else datetime.now(STOCKHOLM)
            common.say(f"[{server}] {kind}: {args.cases} cases")
            if kind == "lifecycle":
                async with case_worker(client, store, settings, task_queue=queue):
                    runs[kind] = await drive(env, server, args.cases, args.concurrency, queue,
                                             kind, now)
            else:
                async with await baseline_worker(client, queue, settings):
                    runs[kind] = await drive(env, server, args.cases, args.concurrency, queue,
                                             kind, now)
            common.say(f"[{server}] {kind}: {args.cases / runs[kind].seconds:.1f} cases/s "
                       f"({runs[kind].seconds:.1f} s), outcomes {dict(runs[kind].outcomes)}")
        costs = {k: common.mean_costs(await common.fetch_costs(client, r.workflow_ids))
                 for k, r in runs.items()}
        case_ids = [w.removeprefix("case-") for w in runs["lifecycle"].workflow_ids]
        streams = [await store.read_stream(c) for c in case_ids]
        plan = plan_case("probe", server, datetime.now(STOCKHOLM))

    out: dict[str, Any] = {}
    for kind, r in runs.items():
        out[kind] = {"cases": args.cases, "seconds": round(r.seconds, 2),
                     "cases_per_s": round(args.cases / r.seconds, 2),
                     "rejected_updates": r.rejected_updates, "outcomes": dict(r.outcomes),
                     **costs[kind]}
    lc, bl = out["lifecycle"], out["baseline"]
    lc["store_events_per_case"] = round(sum(len(s) for s in streams) / max(1, len(streams)), 2)
    lc["domain_events_planned"] = plan.events
    lc["notifications_delivered"] = len(receiver.bodies) + len(fk.certificates)
    lc["fk_certificates_registered"] = len(fk.certificates)
    lc["notifications_delivered_twice"] = (
        sum(1 for v in receiver.delivered.values() if v > 1)
        + sum(1 for v in fk.accepted.values() if v > 1))
    out["ratio"] = {k: common.ratio(lc[k], bl[k]) for k in
                    ("cases_per_s", "history_events", "history_bytes", "activities", "timers",
                     "actions")}
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    servers = ["time-skipping", "dev"] if args.server == "both" else [args.server]
    result: dict[str, Any] = {"config": {"cases": args.cases, "servers": servers,
                                         "concurrency": args.concurrency,
                                         "durable_postgres": not args.no_fsync}}
    with common.postgres(args.database_url, durable=not args.no_fsync) as (admin, _server):
        for server in servers:
            url = await common.fresh_database(admin, "lifecycle")
            try:
                result[server] = await run_server(server, args, url)
            finally:
                await common.drop_database(admin, url)
    if "time-skipping" in result:
        ts = result["time-skipping"]["lifecycle"]
        result["standard_case"] = {
            "actions": ts["actions"], "actions_target": 40, "actions_met": ts["actions"] <= 40,
            "actions_by_kind": ts["actions_by_kind"],
        }
    if "dev" in result:
        r = result["dev"]["ratio"]["cases_per_s"]
        result["dev_throughput_vs_baseline"] = {"ratio": r, "target": 0.5,
                                                "met": r is not None and r >= 0.5}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--server", choices=["time-skipping", "dev", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=100,
                        help="cases in flight at once (both workflows)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-fsync", action="store_true",
                        help="embedded PostgreSQL without fsync (default: durable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    common.protect_stdout()
    import logging

    logging.getLogger("temporalio").setLevel(logging.ERROR)
    from infra.logs import configure

    configure("console", "error")
    result = asyncio.run(main_async(args))
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
