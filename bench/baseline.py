"""The baseline workflow of bench/lifecycle.py: the same wake-ups and messages as a case, no work.

It is the cheapest Temporal design that still does what a case needs from Temporal:
- started by update-with-start, then one update per command (the same commands as the case);
- each command and each wake-up runs ONE no-op activity (where the case appends its events);
- each notification the domain would request runs ONE no-op activity (where the case delivers
  it); its outcome is not recorded separately;
- one durable timer per wake-up (milestones, follow-up date, ...): a timer is started only when
  the wake-up lies in the future, and commands do not restart it;
- no search attributes, no continue-as-new, no queries; payloads are a few bytes.

What the wake-ups and notification counts are is decided by the real domain
(`bench/lifecycle.py: plan_case`), so the two workflows differ only in how the product
implements the same case.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity, workflow

NOOP_TIMEOUT = timedelta(seconds=10)


@dataclass
class Wake:
    at: datetime
    deliveries: int = 0


@dataclass
class BaselineInput:
    case_id: str
    wakes: list[Wake] = field(default_factory=list)


@dataclass
class BaselineStep:
    name: str
    deliveries: int = 0
    close: bool = False


@activity.defn(name="baseline_noop")
async def noop(what: str) -> None:
    return None


@workflow.defn(name="BaselineCase")
class BaselineWorkflow:
    @workflow.init
    def __init__(self, input: BaselineInput) -> None:
        self.closed = False
        self.version = 0
        self.pending = 0
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        for wake in input.wakes:
            delay = (wake.at - workflow.now()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self.closed, timeout=delay)
            if self.closed:
                break
            async with self.lock:
                await self._append("wake")
            self._deliver(wake.deliveries)
        await workflow.wait_condition(lambda: self.closed)
        await workflow.wait_condition(
            lambda: self.pending == 0 and workflow.all_handlers_finished()
        )
        return self.version

    @workflow.update
    async def execute(self, step: BaselineStep) -> int:
        async with self.lock:
            await self._append(step.name)
        self._deliver(step.deliveries)
        if step.close:
            self.closed = True
        return self.version

    async def _append(self, what: str) -> None:
        await workflow.execute_activity(noop, what, start_to_close_timeout=NOOP_TIMEOUT)
        self.version += 1

    def _deliver(self, count: int) -> None:
        for _ in range(count):
            self.pending += 1
            asyncio.create_task(self._one_delivery())

    async def _one_delivery(self) -> None:
        await workflow.execute_activity(noop, "deliver", start_to_close_timeout=NOOP_TIMEOUT)
        self.pending -= 1

