"""`sjukfall run`: the whole stack on loopback in one process tree.

Embedded PostgreSQL and the Temporal dev server run as child processes (unless
SJUKFALL_DATABASE_URL / SJUKFALL_TEMPORAL_ADDRESS point elsewhere); migrations, the worker,
the projection runner and the API run in this process. SIGINT/SIGTERM stop everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import get_args

import uvicorn

from api.auth import issue_token
from domain.consent import Recipient
from fk.simulator import Simulator
from infra.embedded import (
    EmbeddedPostgres,
    PortInUse,
    TemporalDevServer,
    ensure_port_free,
    wait_for_temporal,
)
from infra.inbox import WebhookReceiver
from infra.logs import configure, get_logger
from infra.settings import Settings

log = get_logger(__name__)

SHUTDOWN_GRACE = 3  # seconds for in-flight requests, activities and connections at Ctrl-C


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the stack owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def check_ports(settings: Settings) -> None:
    ensure_port_free(settings.api_port, "API", settings.api_host)
    if not settings.fk_url:
        ensure_port_free(settings.fk_simulator_port, "FK simulator")
    if not settings.webhook_urls:
        ensure_port_free(settings.inbox_port, "development inbox")
    if not settings.database_url:
        ensure_port_free(settings.postgres_port, "PostgreSQL")
    if not settings.temporal_address:
        ensure_port_free(settings.temporal_port, "Temporal frontend")
        ensure_port_free(settings.temporal_ui_port, "Temporal UI")


def run(settings: Settings) -> int:
    configure(settings.resolved_log_format, settings.log_level)
    try:
        check_ports(settings)
    except PortInUse as err:
        print(f"sjukfall: {err}; set the matching SJUKFALL_*_PORT variable", file=sys.stderr)
        return 2
    postgres = temporal = None
    try:
        if not settings.database_url:
            postgres = EmbeddedPostgres(settings.data_dir / "postgres", settings.postgres_port)
            postgres.start()
        if not settings.temporal_address:
            temporal = TemporalDevServer(settings.data_dir / "temporal", settings.temporal_port,
                                         settings.temporal_ui_port, settings.temporal_namespace,
                                         codec_endpoint=f"http://{settings.api_host}:"
                                                        f"{settings.api_port}/codec")
            temporal.start()
        database_url = settings.database_url or (postgres.url if postgres else "")
        address = settings.temporal_address or (temporal.address if temporal else "")
        asyncio.run(_serve(settings, database_url, address, temporal))
        return 0
    except PortInUse as err:
        print(f"sjukfall: {err}", file=sys.stderr)
        return 2
    finally:
        if temporal is not None:
            temporal.stop()
        if postgres is not None:
            postgres.stop()
        print("sjukfall: stopped", file=sys.stderr)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve_until(stop: asyncio.Event, settings: Settings, database_url: str, address: str,
                       *, with_worker: bool, on_started: Callable[[], None] = lambda: None) -> None:
    """The API (and, with `with_worker`, a worker) until `stop` is set or the API fails.

    The API process also keeps the projections caught up, since timers change cases without
    any API request; several API processes share the work safely (checkpoint locks).
    """
    from api.app import create_app
    from store.eventstore import EventStore
    from store.projections import all_projections
    from store.subscription import run_forever
    from worker import case_worker, connect_client

    await wait_for_temporal(address, settings.temporal_namespace)
    client = await connect_client(settings, address,
                                  "sjukfall" if with_worker else "sjukfall-api")
    store = await EventStore.connect(database_url)
    app = create_app(settings, client=client, store=store)
    # Requests still open at Ctrl-C get SHUTDOWN_GRACE to finish; a command cut short is
    # retried by its client with the same Idempotency-Key, and the case resumes it.
    server = _QuietServer(uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                         log_config=None, access_log=False,
                                         timeout_graceful_shutdown=SHUTDOWN_GRACE))
    worker = case_worker(client, store, settings) if with_worker else contextlib.nullcontext()
    try:
        async with worker:
            projections = asyncio.create_task(run_forever(store, all_projections(), stop=stop))
            api = asyncio.create_task(server.serve())
            while not server.started and not api.done():
                await asyncio.sleep(0.05)
            if api.done():
                api.result()  # re-raise why the API could not start
            on_started()
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({api, projections, waiter}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            server.should_exit = True
            await asyncio.gather(api, projections, return_exceptions=True)
    finally:
        await store.close()


async def _serve(settings: Settings, database_url: str, address: str,
                 temporal: TemporalDevServer | None) -> None:
    """Everything in one process: the outside parties too, unless configured (dev only)."""
    from store.migrate import migrate

    stop = _stop_on_signals()
    applied = await migrate(database_url)
    log.info("migrations_applied", count=len(applied))
    async with contextlib.AsyncExitStack() as outside:
        extra = []
        if not settings.webhook_urls:
            inbox = await outside.enter_async_context(
                WebhookReceiver(settings.webhook_secret, port=settings.inbox_port))
            settings = settings.model_copy(update={
                "webhook_urls": {r: inbox.url for r in get_args(Recipient)}})
            extra.append(f"Inbox     http://127.0.0.1:{inbox.port}/  (webhooks, all recipients)")
        if not settings.fk_url:
            fk = await outside.enter_async_context(Simulator(
                settings.fk_secret, f"http://127.0.0.1:{settings.api_port}",
                issue_token(settings.jwt_secret, "fk-simulator", "fk_gateway", [],
                            ttl_seconds=settings.jwt_max_age_seconds),
                port=settings.fk_simulator_port, protocol=settings.fk_transport,
                care_address=settings.rivta_logical_address,
                fk_address=settings.rivta_fk_logical_address,
                platform_dn=settings.rivta_platform_dn))
            extra.append(f"FK        {fk.url}  (simulator; control: /control/state)")
        extra.append(f"FK wire   {fk_wire(settings)}")
        await _serve_until(stop, settings, database_url, address, with_worker=True,
                           on_started=lambda: _print_endpoints(settings, database_url, temporal,
                                                               extra))


def fk_wire(settings: Settings) -> str:
    """How care talks to FK, for the banner (SJUKFALL_FK_TRANSPORT)."""
    if settings.fk_transport == "rivta":
        from fk.rivta.soap import SEND_MESSAGE_TO_CARE

        return (f"RIV-TA SOAP (national contracts), as {settings.rivta_logical_address}; "
                f"FK posts to http://{settings.api_host}:{settings.api_port}"
                f"{SEND_MESSAGE_TO_CARE.path}")
    return "signed JSON (SJUKFALL_FK_TRANSPORT=rivta for the national contracts)"


async def serve_api(settings: Settings) -> None:
    """`sjukfall api`: the API alone, against configured Temporal and PostgreSQL."""
    configure(settings.resolved_log_format, settings.log_level)
    if not settings.database_url or not settings.temporal_address:
        raise SystemExit("sjukfall api needs SJUKFALL_DATABASE_URL and SJUKFALL_TEMPORAL_ADDRESS")
    await _serve_until(_stop_on_signals(), settings, settings.database_url,
                       settings.temporal_address, with_worker=False)


def _print_endpoints(settings: Settings, database_url: str, temporal: TemporalDevServer | None,
                     extra: list[str]) -> None:
    base = f"http://{settings.api_host}:{settings.api_port}"
    lines = [f"API       {base}  (docs: /docs, health: /healthz)",
             f"Console   {base}/console  (web console; dev sign-in at /console/sign-in)"]
    if temporal is not None:
        lines.append(f"Temporal  {temporal.address}  (UI: http://127.0.0.1:{temporal.ui_port})")
    else:
        lines.append(f"Temporal  {settings.temporal_address}  (namespace {settings.temporal_namespace})")
    lines.append(f"Database  {database_url}")
    lines.extend(extra)
    lines.append("Ctrl-C stops everything.")
    print("\n".join(lines), flush=True)
