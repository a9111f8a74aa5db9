"""The Temporal worker: runs case workflows and their activities on the task queue.

`python worker.py` (or `sjukfall worker`) connects to SJUKFALL_TEMPORAL_ADDRESS and
SJUKFALL_DATABASE_URL; `sjukfall run` starts it in-process next to the API.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case_activities import CaseActivities
from fk.port import FkPort, gateway_client
from fk.transports import transport_for
from infra.logs import configure, forwarding_runtime, get_logger
from infra.metrics import start_worker_metrics, temporal_runtime
from infra.payload_codec import data_converter
from infra.settings import Settings, get_settings
from infra.tracing import setup_tracing, shutdown_tracing
from store.eventstore import EventStore, is_transient
from workflows.case import CaseWorkflow

log = get_logger(__name__)

# Pure, deterministic modules the workflow imports: passed through the sandbox so they are
# loaded once (pydantic models are expensive to re-import per workflow run).
PASS_THROUGH = ("domain", "activities", "pydantic", "pydantic_core", "annotated_types",
                "structlog", "httpx", "infra", "store", "asyncpg", "zoneinfo")


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASS_THROUGH)
    )


async def connect_client(settings: Settings, address: str | None = None,
                         service_name: str = "sjukfall-worker") -> Client:
    """A Temporal client with the pydantic converter and encrypted payloads
    (infra/payload_codec.py), TLS from the settings, the SDK's
    Prometheus metrics (when SJUKFALL_TEMPORAL_METRICS_PORT is set) and tracing (when
    SJUKFALL_OTLP_ENDPOINT is set)."""
    return await Client.connect(
        address or settings.temporal_address or f"127.0.0.1:{settings.temporal_port}",
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=temporal_runtime(settings) or forwarding_runtime(),  # core logs redacted
        plugins=setup_tracing(settings, service_name),
        **settings.temporal_connect_options(),
    )


@asynccontextmanager
async def case_worker(
    client: Client, store: EventStore, settings: Settings, task_queue: str | None = None,
    fk_port: FkPort | None = None,
) -> AsyncIterator[Worker]:
    """A running worker for the case workflow; stopped gracefully on exit. FK is reached over
    mutual TLS when the settings name a client certificate (SJUKFALL_FK_TLS_*), as JSON or
    RIV-TA as SJUKFALL_FK_TRANSPORT says."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http,
        gateway_client(settings) as fk_http,
    ):
        fk_port = fk_port or transport_for(settings, fk_http)  # SJUKFALL_FK_TRANSPORT
        activities = CaseActivities(store, http, settings.webhook_urls,
                                    settings.secrets_by_recipient,
                                    fk_port=fk_port)
        worker = Worker(
            client,
            task_queue=task_queue or settings.task_queue,
            workflows=[CaseWorkflow],
            activities=[activities.append_events, activities.deliver_notification],
            workflow_runner=sandbox_runner(),
            max_cached_workflows=settings.max_cached_workflows,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            # Activities still running at shutdown are cancelled after this; Temporal retries
            # them on the next worker, and appends and deliveries are idempotent.
            graceful_shutdown_timeout=timedelta(seconds=5),
        )
        async with worker:
            yield worker


async def connect_store(database_url: str, patience: float = 60) -> EventStore:
    """The database may be restarting as the worker starts (a deploy, a failover): wait for it,
    with backoff, rather than crash at once. A refusal that will not change (a wrong password,
    no such database) fails at once."""
    loop = asyncio.get_running_loop()
    deadline, delay = loop.time() + patience, 0.5
    while True:
        try:
            return await EventStore.connect(database_url)
        except Exception as err:
            if not is_transient(err) or loop.time() + delay > deadline:
                raise
            log.warning("database_unavailable_at_start", error=type(err).__name__,
                        retry_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def main() -> None:
    settings = get_settings()
    configure(settings.resolved_log_format, settings.log_level)
    if not settings.database_url:
        raise SystemExit("SJUKFALL_DATABASE_URL is required for a standalone worker")
    if problems := settings.fk_client_problems():
        raise SystemExit("; ".join(problems))
    client = await connect_client(settings)
    store = await connect_store(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    endpoint = start_worker_metrics(settings.worker_metrics_port)  # /metrics, /healthz, /readyz
    try:
        async with case_worker(client, store, settings) as worker:
            log.info("worker_started", task_queue=settings.task_queue)
            if endpoint is not None:
                endpoint.ready = lambda: worker.is_running
                watch = asyncio.create_task(endpoint.watch_loop())
            await stop.wait()
    finally:
        if endpoint is not None:
            watch.cancel()
            endpoint.shutdown()
        shutdown_tracing()
        await store.close()
    log.info("worker_stopped")


if __name__ == "__main__":
    asyncio.run(main())
