"""The API served by uvicorn on a loopback port, in front of a real worker on the
time-skipping Temporal server and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token
from infra.embedded import free_port
from infra.settings import Settings
from store.eventstore import EventStore
from tests.support.cleanup import end_all_cases
from tests.support.receiver import Receiver
from tests.workflows.conftest import RECIPIENTS, SECRET
from worker import case_worker

JWT_SECRET = "api-test-secret-at-least-32-bytes-long"


@dataclass
class Api:
    url: str
    http: httpx.AsyncClient
    store: EventStore
    env: WorkflowEnvironment
    receiver: Receiver

    def token(self, role: str, units: tuple[str, ...] = ("vc-norr",), sub: str | None = None) -> str:
        return issue_token(JWT_SECRET, sub or f"{role}-1", role, list(units))  # type: ignore[arg-type]

    def headers(self, role: str = "physician", units: tuple[str, ...] = ("vc-norr",),
                **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, units)}", **extra}

    async def event_count(self, recorded_by: str | None = None) -> int:
        """Events in the record (by one user: timers keep recording for the system meanwhile)."""
        return int(await self.store.pool.fetchval(
            "SELECT count(*) FROM events WHERE $1::text IS NULL OR data->>'recorded_by' = $1",
            recorded_by))


@contextlib.asynccontextmanager
async def serve_api(env: WorkflowEnvironment, database_url: str,
                    **overrides: Any) -> AsyncIterator[Api]:
    """The real app (create_app) on uvicorn, with its own worker; `overrides` are Settings."""
    settings = Settings(jwt_secret=JWT_SECRET, task_queue=f"api-{uuid.uuid4().hex[:6]}",
                        webhook_secret=SECRET, **overrides)
    async with Receiver(SECRET) as receiver, await EventStore.connect(database_url) as store:
        settings.webhook_urls = {r: receiver.url for r in RECIPIENTS}
        app = create_app(settings, client=env.client, store=store)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_config=None, access_log=False))
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        async with case_worker(env.client, store, settings):
            task = asyncio.create_task(server.serve())
            async with asyncio.timeout(30):
                while not server.started:
                    await asyncio.sleep(0.01)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                yield Api(f"http://127.0.0.1:{port}", http, store, env, receiver)
            server.should_exit = True
            await task
            await end_all_cases(env.client, store.pool)


@pytest.fixture(scope="module")
async def api(time_skipping_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Api]:
    async with serve_api(time_skipping_env, database_url) as running:
        yield running


TokenFactory = Callable[[str], str]
