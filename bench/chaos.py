"""Reliability runs: faults injected while 50 cases run on the dev server, outcomes compared
with an undisturbed run of the same cases.

    .venv/bin/python bench/chaos.py [--cases 50] [--runs calm,kill,pg_restart,webhook_50,fk_timeout]
                                    [--kills 3] [--seed 1] [--json]

Every run: the Temporal CLI dev server (one for all runs), an embedded durable PostgreSQL (one
for all runs, restartable), the real worker as a child process (`python worker.py`, as
tests/workflows/test_crash.py does, so it can be SIGKILLed), a real webhook receiver on
loopback for every recipient, and --cases cases driven concurrently through:

  S0 open: sick period began 9 days ago (today is day 10), certificate days 1-120, employer
     on record -> milestone 8 fires at once
  S1 the patient consents to informing the employer and FK
  S2 the sick-period start is corrected 10 days back (today is day 20) -> milestone 14:
     employer, patient and FK are told
  S3 corrected 15 days further back (day 35) -> milestone 30: employer (return-to-work plan),
     coordinator; the multimodal team is suppressed (no consent); the certificate no longer
     covers the new day 8, so the patient is reminded late (revised rules, late duties)
  S4 the patient withdraws the employer consent
  S5 corrected 60 days further back (day 95) -> milestones 60 and 90: the employer notice of
     day 91 must be suppressed, the patient is told
  S6 the physician closes the case
with, before S1..S6, a wait until the event record shows the case idle (no notification
pending, no timer due), so the undisturbed outcome is deterministic.

Runs (--runs):
  calm        no fault: the reference outcome
  kill        the worker is SIGKILLed --kills times at random instants (seeded) and restarted
  pg_restart  PostgreSQL is stopped (fast shutdown) in mid-run and started again on the same
              data directory and port after 3 s
  webhook_50  the receiver answers 503 to half of the requests (coin flips; at most three in a
              row for one key, because the workflow's delivery retry backs off 10 s, 20 s,
              40 s, ... and an uncapped coin would test patience, not correctness)
  fk_timeout  the FK simulator (fk/simulator.py, behind the worker's FK port) takes the first
              --cases requests (the day-14 certificates), stores them and then hangs 12 s,
              beyond the worker's 10 s FK timeout (`accept_then_timeout`): the worker cannot
              know FK has the certificate, retries, and FK must recognise the repeat by id

Each run ends with these checks (all must hold; the JSON has the counts):
  - every case reached its final state (closed, return_to_work_partial);
  - every case's event stream equals the undisturbed run's (types, milestone days,
    notification recipients/kinds/outcomes; in order, except notification outcomes, which
    are compared as a multiset), versions dense, event ids unique;
  - no notification delivered twice: every NotificationSent id reached the receiver under its
    one idempotency key, and no (case, recipient, kind) reached it under two keys (repeated
    POSTs under one key are counted as `redeliveries_absorbed`); every certificate the record
    says went to FK is held by the FK simulator, once (`fk_repeats_absorbed`: repeats FK
    recognised by the certificate id), and FK holds none the record does not know;
  - no notification reached an actor after the consent was withdrawn (receiver arrival times
    against ConsentWithdrawn.occurred_at, and no NotificationSent for that actor after it).
Inbound FK messages are not exercised (the certificate to FK is the outbound FK traffic of
this script).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client

from activities.delivery import FK_PORT_KINDS
from api.commands import open_case, send_command, workflow_id
from bench import common
from bench.lifecycle import PATIENT, PHYSICIAN, PNR, _certificate
from domain import event_from_record, fold, next_timer
from domain.calendar import STOCKHOLM, day_start
from domain.commands import (
    CloseCase,
    Command,
    CorrectSickPeriodStart,
    GiveConsent,
    OpenCase,
    WithdrawConsent,
)
from fk.simulator import Simulator
from infra.embedded import EmbeddedPostgres
from store.eventstore import EventStore, RecordedEvent

RUNS = ("calm", "kill", "pg_restart", "webhook_50", "fk_timeout")
FINAL_REASON = "return_to_work_partial"
OUTCOME_TYPES = {"NotificationSent", "NotificationSuppressed", "NotificationFailed"}


def script(case_id: str, now: datetime) -> list[list[Command]]:
    start = now.astimezone(STOCKHOLM).date() - timedelta(days=9)
    def back(days):
        return CorrectSickPeriodStart(
            actor=PHYSICIAN, sick_period_start=start - timedelta(days=days),
            reason="the first sick day was earlier")
    return [
        [OpenCase(actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
                  sick_period_start=start, employer_name="Verkstaden AB",
                  certificate=_certificate(start, f"{case_id}-c1", 1, 120,
                                           day_start(start, 1) + timedelta(hours=9)))],
        [GiveConsent(actor=PATIENT, recipient="employer", purpose="share_information"),
         GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information")],
        [back(10)],
        [back(25)],
        [WithdrawConsent(actor=PATIENT, recipient="employer", purpose="share_information")],
        [back(85)],
        [CloseCase(actor=PHYSICIAN, reason=FINAL_REASON)],
    ]


# --- the worker as a child process ----------------------------------------------------------


class WorkerProcess:
    def __init__(self, address: str, database_url: str, queue: str, hook: str,
                 fk_url: str) -> None:
        self.env = common.settings_env(address, database_url, queue, hook, fk_url)
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=self.env,
                                     cwd=ROOT, stdout=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # SIGKILL: no graceful anything
            self.proc.wait()
            self.proc = None
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# --- driving ------------------------------------------------------------------------------


async def read_stream(store: EventStore, case_id: str) -> list[RecordedEvent] | None:
    try:
        return await store.read_stream(case_id)
    except Exception:  # noqa: BLE001 - the database may be restarting
        return None


async def wait_idle(store: EventStore, case_id: str, deadline: float) -> None:
    """Until the record shows the case idle: no notification pending, no timer due."""
    while time.monotonic() < deadline:
        records = await read_stream(store, case_id)
        if records:
            state = fold([event_from_record(r.type, r.schema_version, r.data) for r in records])
            timer = next_timer(state)
            due = timer is not None and timer.at <= datetime.now(STOCKHOLM)
            if not state.pending_notifications and not due:
                return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"case {case_id} did not become idle")


async def send(client: Client, queue: str, case_id: str, command: Command, key: str,
               deadline: float) -> int:
    """Send until answered; the same idempotency key every time. Returns the attempts."""
    attempts = 0
    while True:
        attempts += 1
        try:
            if isinstance(command, OpenCase):
                await asyncio.wait_for(open_case(client, queue, command, key), 60)
            else:
                await asyncio.wait_for(send_command(client, case_id, command, key), 60)
            return attempts
        except Exception as err:
            status = getattr(err, "status", None)
            if status is not None and status < 500:  # a domain refusal: a finding
                raise RuntimeError(f"{case_id} {command.type}: {err}") from err
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(min(5.0, 0.5 * attempts))


async def drive_case(client: Client, store: EventStore, queue: str, case_id: str,
                     timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    attempts = 0
    for n, step in enumerate(script(case_id, datetime.now(STOCKHOLM))):
        if n:
            await wait_idle(store, case_id, deadline)
        for k, command in enumerate(step):
            attempts += await send(client, queue, case_id, command, f"{case_id}-{n}-{k}", deadline)
    handle = client.get_workflow_handle(workflow_id(case_id))
    out = await asyncio.wait_for(handle.result(), max(1.0, deadline - time.monotonic()))
    reason = out.get("closed_reason") if isinstance(out, dict) else getattr(out, "closed_reason", None)
    return {"case_id": case_id, "closed_reason": reason, "send_attempts": attempts}


# --- checking -----------------------------------------------------------------------------


def expected_decisions(now: datetime) -> list[tuple[Any, ...]]:
    """The ordered part of `shape` as the domain decides the script (every timer due fired
    after each step): what the undisturbed run itself must match."""
    from domain import decide, evolve, initial_state

    state = initial_state("expected")
    out = []

    def apply(command: Command) -> None:
        nonlocal state
        for e in decide(command, state, now):
            state = evolve(state, e)
            d = e.model_dump(mode="json")
            if e.type not in OUTCOME_TYPES:
                out.append((e.type, d.get("day"), d.get("recipient"), d.get("kind"),
                            d.get("purpose")))

    for step in script("expected", now):
        for command in step:
            apply(command)
        while (timer := next_timer(state)) is not None and timer.at <= now:
            apply(timer.command)
    return out


def shape(records: list[RecordedEvent]) -> tuple[list[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """A case's stream without ids and times: ordered decisions, and the multiset of
    notification outcomes (deliveries finish in any order)."""
    ordered, outcomes = [], Counter()
    for r in records:
        d = r.data
        key = (r.type, d.get("day"), d.get("recipient"), d.get("kind"), d.get("purpose"))
        (outcomes.update([key]) if r.type in OUTCOME_TYPES else ordered.append(key))
    return ordered, outcomes


def check(case_ids: list[str], streams: dict[str, list[RecordedEvent]], results: list[Any],
          receiver: common.Receiver, fk: Simulator,
          reference: tuple[Any, Any] | None) -> dict[str, Any]:
    lost = duplicated = differing = not_final = not_dense = 0
    sent_ids: set[str] = set()
    fk_sent: list[str] = []  # certificate ids the record says FK got
    violations: list[str] = []
    for case_id, res in zip(case_ids, results, strict=True):
        records = streams.get(case_id) or []
        if isinstance(res, BaseException) or res.get("closed_reason") != FINAL_REASON:
            not_final += 1
        if [r.version for r in records] != list(range(1, len(records) + 1)) or \
                len({r.event_id for r in records}) != len(records):
            not_dense += 1
        if reference is not None:
            ordered, outcomes = shape(records)
            ref_ordered, ref_outcomes = reference
            ref_all = Counter(ref_ordered) + ref_outcomes
            got_all = Counter(ordered) + outcomes
            lost += sum((ref_all - got_all).values())
            duplicated += sum((got_all - ref_all).values())
            if ordered != ref_ordered or outcomes != ref_outcomes:
                differing += 1
        requested = {r.data["notification_id"]: r.data for r in records
                     if r.type == "NotificationRequested"}
        for r in records:
            if r.type != "NotificationSent":
                continue
            note = requested.get(r.data["notification_id"], {})
            if note.get("recipient") == "fk" and note.get("kind") in FK_PORT_KINDS:
                fk_sent.append(note.get("parameters", {}).get("certificate_id", "?"))
            else:
                sent_ids.add(r.data["notification_id"])
        # consent: nothing reached a recipient after its withdrawal
        withdrawn: dict[str, datetime] = {}
        for r in records:
            if r.type == "ConsentWithdrawn":
                withdrawn.setdefault(r.data["recipient"], datetime.fromisoformat(r.data["occurred_at"]))
            if r.type == "NotificationSent" and r.data.get("recipient") in withdrawn:
                violations.append(f"{case_id}: NotificationSent to {r.data['recipient']} after withdrawal")
        for key, body in receiver.bodies.items():
            if body["case_id"] == case_id and body["recipient"] in withdrawn:
                arrived = datetime.fromtimestamp(receiver.first_seen[key]).astimezone()
                if arrived >= withdrawn[body["recipient"]]:
                    violations.append(f"{case_id}: {body['kind']} reached {body['recipient']} "
                                      f"after withdrawal")
    # deliveries: one key per notification, every sent notification reached the receiver
    by_content = Counter((b["case_id"], b["recipient"], b["kind"]) for b in receiver.bodies.values())
    twice = sum(n - 1 for n in by_content.values() if n > 1)
    ours = {k for k, b in receiver.bodies.items() if b["case_id"] in set(case_ids)}
    return {
        "cases": len(case_ids),
        "not_final": not_final,
        "streams_not_dense": not_dense,
        "streams_differing": differing,
        "events_lost": lost,
        "events_duplicated": duplicated,
        "notifications_sent": len(sent_ids),
        "notifications_received": len(ours),
        "sent_not_received": len(sent_ids - ours),
        "received_not_recorded": len(ours - sent_ids),
        "delivered_twice": twice + sum(n - 1 for n in Counter(fk_sent).values()),
        "redeliveries_absorbed": sum(n - 1 for k, n in receiver.delivered.items() if k in ours),
        "fk_certificates_sent": len(fk_sent),
        "fk_certificates_missing": len(set(fk_sent) - set(fk.certificates)),
        "fk_certificates_unrecorded": len({c for c in fk.certificates
                                           if c.rsplit("-c", 1)[0] in set(case_ids)}
                                          - set(fk_sent)),
        "fk_repeats_absorbed": sum(n - 1 for n in fk.accepted.values()),
        "consent_violations": len(violations),
        "violation_examples": violations[:5],
    }


# --- one run ------------------------------------------------------------------------------


async def one_run(kind: str, args: argparse.Namespace, client: Client, address: str,
                  database_url: str, pg: EmbeddedPostgres | None, rng: random.Random,
                  reference: tuple[Any, Any] | None) -> tuple[dict[str, Any], Any]:
    queue = f"chaos-{kind}-{uuid.uuid4().hex[:6]}"
    receiver = common.Receiver(fail_ratio=0.5 if kind == "webhook_50" else 0.0,
                               max_streak=args.max_streak)
    faults: list[str] = []
    fk = Simulator(common.FK_SECRET, hang_seconds=12.0)  # beyond the worker's 10 s FK timeout
    if kind == "fk_timeout":
        # FK stores each of the first --cases requests, then hangs past the worker's timeout:
        # the worker cannot know FK has it, and its retry must be recognised by the id.
        fk.set_mode("accept_then_timeout", times=args.cases)
        faults.append(f"FK simulator: accept_then_timeout for the next {args.cases} requests")
    async with receiver, fk, \
            await EventStore.connect(database_url, min_size=1, max_size=10) as store:
        worker = WorkerProcess(address, database_url, queue, receiver.url, fk.url)
        worker.start()
        case_ids = [f"{kind}-{uuid.uuid4().hex[:6]}-{i:03d}" for i in range(args.cases)]
        started = time.perf_counter()
        drive = asyncio.gather(*(drive_case(client, store, queue, c, args.timeout)
                                 for c in case_ids), return_exceptions=True)
        task = asyncio.ensure_future(drive)
        try:
            if kind == "kill":
                for _ in range(args.kills):
                    await asyncio.sleep(rng.uniform(0.5, 4.0))
                    worker.kill()
                    faults.append(f"SIGKILL at {time.perf_counter() - started:.1f}s")
                    worker.start()
            elif kind == "pg_restart":
                if pg is None:
                    faults.append("not run: --database-url given, no server to restart")
                else:
                    await asyncio.sleep(rng.uniform(1.0, 3.0))
                    await asyncio.to_thread(pg.stop)
                    faults.append(f"PostgreSQL stopped at {time.perf_counter() - started:.1f}s")
                    await asyncio.sleep(3.0)
                    await asyncio.to_thread(pg.start)
                    faults.append(f"PostgreSQL started at {time.perf_counter() - started:.1f}s")
            results = await task
        finally:
            worker.stop()
        seconds = time.perf_counter() - started
        streams = {}
        for c in case_ids:
            for _ in range(20):
                got = await read_stream(store, c)
                if got is not None:
                    streams[c] = got
                    break
                await asyncio.sleep(0.5)
    extra: dict[str, Any] = {}
    if reference is None and streams:
        reference = shape(streams[case_ids[0]])
        extra["reference_matches_domain"] = reference[0] == expected_decisions(datetime.now(STOCKHOLM))
        extra["reference_events_per_case"] = len(reference[0]) + sum(reference[1].values())
    summary = check(case_ids, streams, list(results), receiver, fk, reference)
    summary.update(extra)
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    summary.update({
        "seconds": round(seconds, 1),
        "faults": faults,
        "worker_kills": worker.kills,
        "receiver_attempts": receiver.attempts,
        "injected_failures": receiver.injected_failures,
        "injected_failure_share": round(receiver.injected_failures / max(1, receiver.attempts), 3),
        "slowed_first_attempts": receiver.slowed,
        "fk_attempts": fk.attempts,
        "command_resends": sum(r["send_attempts"] for r in results if isinstance(r, dict))
        - sum(len(s) for s in script("x", datetime.now(STOCKHOLM))) * len(case_ids),
        "errors": errors[:5],
        "ok": not errors and extra.get("reference_matches_domain", True)
        and summary["not_final"] == 0 and summary["streams_not_dense"] == 0
        and summary["streams_differing"] == 0 and summary["delivered_twice"] == 0
        and summary["consent_violations"] == 0 and summary["sent_not_received"] == 0
        and summary["received_not_recorded"] == 0 and summary["fk_certificates_missing"] == 0
        and summary["fk_certificates_unrecorded"] == 0,
    })
    return summary, reference


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(runs) - set(RUNS)
    if unknown:
        raise SystemExit(f"unknown runs: {sorted(unknown)}; choose from {RUNS}")
    if "calm" in runs:
        runs.remove("calm")
    runs.insert(0, "calm")  # the reference comes first
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"config": {"cases": args.cases, "runs": runs, "kills": args.kills,
                                         "seed": args.seed, "max_streak": args.max_streak}}
    with common.postgres(args.database_url, durable=True) as (admin, pg):
        url = await common.fresh_database(admin, "chaos")
        try:
            async with common.temporal("dev") as env:
                address = env.client.service_client.config.target_host
                reference = None
                for kind in runs:
                    common.say(f"[{kind}] {args.cases} cases")
                    summary, reference = await one_run(kind, args, env.client, address, url,
                                                       pg, rng, reference)
                    result[kind] = summary
                    common.say(f"[{kind}] {summary}")
        finally:
            await common.drop_database(admin, url)
    fault_runs = [k for k in runs if k != "calm"]
    totals = {k: sum(result[r][k] for r in runs) for k in
              ("not_final", "events_lost", "events_duplicated", "delivered_twice",
               "consent_violations", "streams_differing", "sent_not_received")}
    result["totals"] = totals
    result["all_ok"] = all(result[r]["ok"] for r in runs)
    # ratio figures: each fault run's wall time against the undisturbed run's
    result["slowdown_vs_calm"] = {k: common.ratio(result[k]["seconds"], result["calm"]["seconds"])
                                  for k in fault_runs}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-streak", type=int, default=3,
                        help="webhook_50: most failures in a row for one key")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    common.protect_stdout()
    import logging

    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    result = asyncio.run(main_async(args))
    common.emit(result, args.json)
    raise SystemExit(0 if result["all_ok"] else 1)


if __name__ == "__main__":
    main()
