"""A case worker on the time-skipping server, wired to a real event store and a real
webhook receiver that stands in for every external recipient."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from fk.simulator import Simulator
from infra.settings import Settings
from store.eventstore import EventStore
from tests.support.cleanup import end_all_cases
from tests.support.receiver import Receiver
from worker import case_worker

SECRET = "test-webhook-secret"
RECIPIENTS = ("patient", "physician", "coordinator", "employer", "fk", "af", "social_services",
              "occupational_health", "multimodal_team")


@dataclass
class Harness:
    client: Client
    env: WorkflowEnvironment
    store: EventStore
    receiver: Receiver
    task_queue: str
    fk: Simulator
    cases: list[str] = field(default_factory=list)

    async def terminate_open_cases(self) -> None:
        await end_all_cases(self.client, self.store.pool)


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with await EventStore.connect(database_url) as s:
        yield s


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver(SECRET) as r:
        yield r


@pytest.fixture
async def fk() -> AsyncIterator[Simulator]:
    async with Simulator(SECRET) as simulator:
        yield simulator


@pytest.fixture
async def harness(
    time_skipping_env: WorkflowEnvironment, store: EventStore, receiver: Receiver, fk: Simulator
) -> AsyncIterator[Harness]:
    settings = Settings(webhook_urls={r: receiver.url for r in RECIPIENTS}, webhook_secret=SECRET,
                        fk_url=fk.url, fk_secret=SECRET)
    queue = f"cases-{uuid.uuid4().hex[:8]}"
    async with case_worker(time_skipping_env.client, store, settings, task_queue=queue):
        h = Harness(time_skipping_env.client, time_skipping_env, store, receiver, queue, fk)
        yield h
        await h.terminate_open_cases()
