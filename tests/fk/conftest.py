"""The FK integration end to end, all real: the FK simulator (HTTP), the API (uvicorn, with the
FK routes), a case worker wired to the simulator through the JSON or the RIV-TA transport, the Temporal
time-skipping server, PostgreSQL, and a webhook receiver for everyone else (physician,
coordinator, patient, employer)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token
from domain import CaseState, event_from_record, fold
from fk.simulator import Simulator
from fk.transports import transport_for
from infra.embedded import free_port
from infra.settings import Settings
from store.eventstore import EventStore
from store.subscription import run_once
from tests.support.cleanup import end_all_cases
from tests.support.receiver import Receiver
from tests.workflows.conftest import RECIPIENTS, SECRET
from worker import case_worker

JWT_SECRET = "fk-test-jwt-secret-at-least-32-bytes-long"
FK_SECRET = "fk-gateway-shared-secret"
CARE_ADDRESS = "SE2321000016-TEST"  # care's logical address on the national platform (RIV-TA)
PLATFORM_DN = "CN=ntjp.test,O=Inera AB,C=SE"  # the platform's certificate, as the ingress says


@dataclass
class FkStack:
    """Duck-types tests.workflows.conftest.Harness, so its support helpers work here too."""

    client: Client
    env: WorkflowEnvironment
    store: EventStore
    receiver: Receiver
    fk: Simulator
    app: FastAPI
    http: httpx.AsyncClient  # to the care API
    task_queue: str
    cases: list[str] = field(default_factory=list)

    def headers(
        self, role: str = "physician", units: tuple[str, ...] = ("vc-norr",)
    ) -> dict[str, str]:
        token = issue_token(JWT_SECRET, f"{role}-1", role, list(units))  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def state(self, case_id: str) -> CaseState:
        records = await self.store.read_stream(case_id)
        return fold(event_from_record(r.type, r.schema_version, r.data) for r in records)

    async def project(self) -> None:
        """Bring the case list (case_summary projection) up to date."""
        await run_once(self.store, self.app.state.summary)

    async def terminate_open_cases(self) -> None:
        await end_all_cases(self.client, self.store.pool)
        self.cases.clear()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll (in real time) until `check()` returns something truthy; activities run in real time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {check}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def fk_stack(
    env: WorkflowEnvironment, database_url: str, transport: str = "json"
) -> AsyncIterator[FkStack]:
    """The whole stack with FK speaking `transport`: json (signed JSON) or rivta (SOAP)."""
    api_port = free_port()
    gateway_token = issue_token(JWT_SECRET, "fk-gateway", "fk_gateway", [])
    settings = Settings(
        jwt_secret=JWT_SECRET,
        task_queue=f"fk-{uuid.uuid4().hex[:6]}",
        webhook_secret=SECRET,
        fk_secret=FK_SECRET,
        fk_transport=transport,  # type: ignore[arg-type]
        rivta_logical_address=CARE_ADDRESS,
        rivta_platform_dn=PLATFORM_DN if transport == "rivta" else None,
    )
    async with (
        Receiver(SECRET) as receiver,
        await EventStore.connect(database_url) as store,
        Simulator(
            FK_SECRET,
            f"http://127.0.0.1:{api_port}",
            gateway_token,
            hang_seconds=3.0,
            protocol=transport,
            care_address=CARE_ADDRESS,
            platform_dn=settings.rivta_platform_dn,
        ) as fk,
    ):
        settings.webhook_urls = {r: receiver.url for r in RECIPIENTS}
        settings.fk_url = fk.url
        app = create_app(settings, client=env.client, store=store)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=api_port, log_config=None, access_log=False)
        )
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        async with (
            httpx.AsyncClient() as fk_http,
            case_worker(
                env.client,
                store,
                settings.model_copy(update={"fk_timeout_seconds": 2.0}),
                task_queue=settings.task_queue,
                fk_port=transport_for(
                    settings.model_copy(update={"fk_timeout_seconds": 2.0}), fk_http
                ),
            ),
        ):
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", timeout=30
            ) as http:
                yield FkStack(env.client, env, store, receiver, fk, app, http, settings.task_queue)
            server.should_exit = True
            await task


@pytest.fixture(scope="module")
async def stack_once(
    time_skipping_env: WorkflowEnvironment, database_url: str
) -> AsyncIterator[FkStack]:
    async with fk_stack(time_skipping_env, database_url, "json") as stack:
        yield stack


@pytest.fixture(scope="module")
async def rivta_stack_once(
    time_skipping_env: WorkflowEnvironment, database_url: str
) -> AsyncIterator[FkStack]:
    async with fk_stack(time_skipping_env, database_url, "rivta") as stack:
        yield stack


@pytest.fixture
async def stack(stack_once: FkStack) -> AsyncIterator[FkStack]:
    """The module's stack with FK behaving normally; the test's cases are ended afterwards
    (time skips only while every workflow on the server is idle)."""
    stack_once.fk.set_mode("normal", None)
    yield stack_once
    stack_once.fk.set_mode("normal", None)
    await stack_once.terminate_open_cases()


@pytest.fixture
async def rivta_stack(rivta_stack_once: FkStack) -> AsyncIterator[FkStack]:
    """The stack with FK on the national contracts (SJUKFALL_FK_TRANSPORT=rivta)."""
    rivta_stack_once.fk.set_mode("normal", None)
    yield rivta_stack_once
    rivta_stack_once.fk.set_mode("normal", None)
    await rivta_stack_once.terminate_open_cases()
