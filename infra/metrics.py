"""Prometheus metrics of sjukfall: what the cases do, and how the machinery keeps up.

Where each series comes from
----------------------------
Worker (recorded in the `append_events` activity, `observe_append`, after a successful append;
served on SJUKFALL_WORKER_METRICS_PORT by `start_worker_metrics`):

    sjukfall_events_appended_total{type}                      events written, by type
    sjukfall_event_append_seconds (histogram)                 one EventStore.append call
    sjukfall_milestones_fired_total{day}                      MilestoneReached, by day
    sjukfall_milestone_lateness_seconds{day} (histogram)      fired - due (see below)
    sjukfall_notifications_total{recipient,outcome}           requested|sent|suppressed|failed
    sjukfall_fk_messages_total{direction,topic,status}        FK messages received|sent
    sjukfall_fk_answers_overdue_total                         FK questions left unanswered past
                                                              their last answer date
    sjukfall_cases_opened_total / sjukfall_cases_closed_total{reason}

Every event of a case passes through that one activity, so counting there is exact without
touching the workflow. Retries: the store answers a re-append of the same event ids with the
same version as the first call, so a retry cannot be told from a first write by its result;
instead event ids (deterministic) are remembered in a bounded in-process set and an event is
counted once per process. A retry that lands on another worker after a lost reply can still be
counted twice (rare; Prometheus counters are per process anyway).

API (computed from the database when /metrics is scraped, at most every `REFRESH_SECONDS`;
`metrics_response(pool)`):

    sjukfall_cases{phase}                                     open and closed cases, by phase
    sjukfall_projection_lag_events{projection}                events after its checkpoint
    sjukfall_projection_lag_seconds{projection}               age of the oldest of those

Several API replicas report the same gauges: aggregate them with max(), not sum().

Temporal SDK metrics (task queue latency, slots, sticky cache, activity failures) come from
the SDK's own Prometheus endpoint: `temporal_runtime(settings)`, SJUKFALL_TEMPORAL_METRICS_PORT.

Milestone lateness
------------------
A milestone of day N is due when day N begins (00:00 Europe/Stockholm from the sick-period
start); a chain milestone (90/180/365) of a case linked to an earlier period is due on its own
day N - chain_days_before. A case opened on day 20, a start corrected backwards or a chain
linked late fires past milestones at once, which is not a delay of the system: lateness is
measured from max(due, when the start and the link that made it due were recorded), so it
shows how long the timer took to fire and be recorded (worker down, task queue backlog,
append retries).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from domain.calendar import CHAIN_MILESTONE_DAYS
from infra.logs import get_logger
from store.metrics_queries import (
    cases_by_phase,
    latest_chain_link,
    latest_sick_period_start,
    notification_recipients,
    projection_lag,
)

if TYPE_CHECKING:
    import asyncpg
    from temporalio.runtime import Runtime

    from domain import Event
    from infra.settings import Settings

log = get_logger(__name__)

REFRESH_SECONDS = 5.0  # database-derived gauges are recomputed at most this often

EVENTS_APPENDED = Counter(
    "sjukfall_events_appended", "Events written to the event store, by event type", ["type"]
)
APPEND_SECONDS = Histogram(
    "sjukfall_event_append_seconds",
    "Duration of one event-store append (one statement, one round trip on the happy path)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MILESTONES = Counter(
    "sjukfall_milestones_fired", "Legal milestones reached (MilestoneReached), by day", ["day"]
)
MILESTONE_LATENESS = Histogram(
    "sjukfall_milestone_lateness_seconds",
    "Seconds between a milestone being due and its MilestoneReached being recorded",
    ["day"],
    buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400),
)
NOTIFICATIONS = Counter(
    "sjukfall_notifications",
    "Notifications by recipient and outcome (requested, sent, suppressed, failed)",
    ["recipient", "outcome"],
)
FK_MESSAGES = Counter(
    "sjukfall_fk_messages",
    "Messages exchanged with Försäkringskassan, by direction, topic and initial status",
    ["direction", "topic", "status"],
)
FK_OVERDUE = Counter(
    "sjukfall_fk_answers_overdue", "FK questions not answered by their last answer date"
)
CASES_OPENED = Counter("sjukfall_cases_opened", "Cases opened")
CASES_CLOSED = Counter("sjukfall_cases_closed", "Cases closed, by reason", ["reason"])
CASES = Gauge("sjukfall_cases", "Cases in the case_summary projection, by phase", ["phase"])
PROJECTION_LAG_EVENTS = Gauge(
    "sjukfall_projection_lag_events",
    "Events recorded but not yet applied by the projection (capped at 1,000,000)",
    ["projection"],
)
PROJECTION_LAG_SECONDS = Gauge(
    "sjukfall_projection_lag_seconds",
    "Age of the oldest event not yet applied by the projection (0 when caught up)",
    ["projection"],
)
CASES_STUCK = Gauge(
    "sjukfall_cases_stuck",
    "Cases whose activity failed STUCK_AFTER_ATTEMPTS times or more in a row on this worker "
    "(`sjukfall cases stuck` lists them)",
    ["activity"],
)
APPENDS_REFUSED = Counter(
    "sjukfall_appends_refused", "Appends the event store refused for good (not retried)"
)
STUCK_AFTER_ATTEMPTS = 3
_failing: dict[str, set[str]] = {}


def observe_attempt(activity_name: str, case_id: str, attempt: int, ok: bool) -> None:
    """Track cases whose activity keeps failing; a success clears the case."""
    failing = _failing.setdefault(activity_name, set())
    if ok:
        failing.discard(case_id)
    elif attempt >= STUCK_AFTER_ATTEMPTS:
        failing.add(case_id)
    CASES_STUCK.labels(activity_name).set(len(failing))


_NOTIFICATION_OUTCOMES = {
    "NotificationRequested": "requested",
    "NotificationSent": "sent",
    "NotificationSuppressed": "suppressed",
    "NotificationFailed": "failed",
}


class _Lru:
    """A bounded map, oldest entries dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> Any:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Any = True) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


_counted = _Lru(200_000)  # event ids already counted in this process
_recipients = _Lru(50_000)  # notification id -> recipient (NotificationSent/Failed carry no recipient)
_starts = _Lru(50_000)  # case id -> (sick-period start, instant that start was recorded)
_chains = _Lru(50_000)  # case id -> (chain days carried over, instant that link was recorded)


def _phases() -> tuple[str, ...]:
    from domain.vocabulary import Phase

    return get_args(Phase)


# --- worker: events -------------------------------------------------------------------------


def observe_events(events: Sequence[Event], appended_in_seconds: float | None = None) -> int:
    """Count what an append recorded; returns how many events were counted (new to this process).

    Recipients of NotificationSent/Failed and the sick-period start needed for lateness are
    taken from events seen earlier in this process; `observe_append` looks up the rest in the
    store first. Never raises: metrics must not fail an append.
    """
    try:
        if appended_in_seconds is not None:
            APPEND_SECONDS.observe(appended_in_seconds)
        counted = 0
        for event in events:
            _remember(event)
            if event.event_id in _counted:
                continue
            _counted.put(event.event_id)
            counted += 1
            _count(event)
        return counted
    except Exception:  # pragma: no cover - defensive: a metrics bug must not fail the activity
        log.exception("metrics_observe_failed")
        return 0


async def observe_append(
    store: Any, events: Sequence[Event], appended_in_seconds: float | None = None
) -> int:
    """`observe_events` for the append activity: first resolves from the store (`store.pool`)
    what the batch needs and this process has not seen (one indexed query each, only for
    batches with a milestone or a notification outcome after a worker restart)."""
    try:
        fresh = [e for e in events if e.event_id not in _counted]
        await _resolve(store.pool, fresh)
    except Exception:  # the counts still go in, without the lookups
        log.warning("metrics_lookup_failed", exc_info=True)
    return observe_events(events, appended_in_seconds)


def _remember(event: Event) -> None:
    from domain.events import (
        CaseOpened,
        NotificationRequested,
        RehabChainLinked,
        RehabChainUnlinked,
        SickPeriodStartCorrected,
    )

    if isinstance(event, (CaseOpened, SickPeriodStartCorrected)):  # store.metrics_queries.START_EVENTS
        _starts.put(event.case_id, (event.sick_period_start, event.occurred_at))
    elif isinstance(event, RehabChainLinked):  # and Unlinked: store.metrics_queries.CHAIN_EVENTS
        _chains.put(event.case_id, (event.chain_days_before, event.occurred_at))
    elif isinstance(event, RehabChainUnlinked):
        _chains.put(event.case_id, (0, event.occurred_at))
    elif isinstance(event, NotificationRequested):
        _recipients.put(event.notification_id, event.recipient)


async def _resolve(pool: asyncpg.Pool, events: Sequence[Event]) -> None:
    for event in events:  # in order: a start recorded earlier in the batch is already known
        _remember(event)
        if event.type == "MilestoneReached" and _starts.get(event.case_id) is None:
            start = await latest_sick_period_start(pool, event.case_id, event.version)
            if start is not None:
                _starts.put(event.case_id, start)
        if (event.type == "MilestoneReached" and getattr(event, "day", None) in CHAIN_MILESTONE_DAYS
                and _chains.get(event.case_id) is None):
            _chains.put(event.case_id, await latest_chain_link(pool, event.case_id, event.version))
    from domain.events import NotificationFailed, NotificationSent

    missing = [e.notification_id for e in events
               if isinstance(e, (NotificationSent, NotificationFailed))
               and _recipients.get(e.notification_id) is None]
    if missing:
        for notification_id, recipient in (await notification_recipients(pool, missing)).items():
            _recipients.put(notification_id, recipient)


def _count(event: Event) -> None:
    EVENTS_APPENDED.labels(event.type).inc()
    e: Any = event
    match event.type:
        case "MilestoneReached":
            day = str(e.day)
            MILESTONES.labels(day).inc()
            lateness = milestone_lateness(e)
            if lateness is not None:
                MILESTONE_LATENESS.labels(day).observe(lateness)
        case "NotificationRequested" | "NotificationSuppressed":
            NOTIFICATIONS.labels(e.recipient, _NOTIFICATION_OUTCOMES[event.type]).inc()
        case "NotificationSent" | "NotificationFailed":
            recipient = _recipients.get(e.notification_id) or "unknown"
            NOTIFICATIONS.labels(recipient, _NOTIFICATION_OUTCOMES[event.type]).inc()
        case "FkMessageReceived" | "FkMessageSent":
            direction = "received" if event.type == "FkMessageReceived" else "sent"
            FK_MESSAGES.labels(direction, e.message.topic, e.status).inc()
        case "FkAnswerOverdue":
            FK_OVERDUE.inc()
        case "CaseOpened":
            CASES_OPENED.inc()
        case "CaseClosed":
            CASES_CLOSED.labels(e.reason).inc()


def milestone_lateness(event: Any) -> float | None:
    """Seconds from when a MilestoneReached was due to when it occurred (None: start unknown)."""
    from domain.calendar import day_start

    known = _starts.get(event.case_id)
    if known is None:
        return None
    start, start_recorded_at = known
    day, made_due_at = event.day, start_recorded_at
    if day in CHAIN_MILESTONE_DAYS:
        chain_days, linked_at = _chains.get(event.case_id) or (0, None)
        day -= chain_days
        made_due_at = max(made_due_at, linked_at or made_due_at)
    due = max(day_start(start, day), made_due_at)
    seconds: float = max(0.0, (event.occurred_at - due).total_seconds())
    return seconds


def forget() -> None:
    """Drop what this process remembers (tests)."""
    for lru in (_counted, _recipients, _starts, _chains):
        lru.clear()


# --- database-derived gauges (API /metrics) -------------------------------------------------

_last_refresh = 0.0
_refresh_lock = asyncio.Lock()

def _projection_names() -> list[str]:
    from store.projections import all_projections

    return [p.name for p in all_projections()]


async def refresh_database_gauges(pool: Any, *, force: bool = False) -> None:
    """Recompute cases by phase and projection lag from PostgreSQL (throttled)."""
    global _last_refresh
    async with _refresh_lock:
        if not force and time.monotonic() - _last_refresh < REFRESH_SECONDS:
            return
        async with pool.acquire() as conn:
            by_phase = await cases_by_phase(conn)
            lag = await projection_lag(conn, _projection_names())
        for phase in {*_phases(), *by_phase}:
            CASES.labels(phase).set(by_phase.get(phase, 0))
        for name, behind, age in lag:
            observe_projection_lag(name, behind, age)
        _last_refresh = time.monotonic()


def observe_projection_lag(projection: str, events_behind: int, seconds_behind: float = 0.0) -> None:
    """Set the lag gauges of a projection (the projection runner may call this after a batch)."""
    PROJECTION_LAG_EVENTS.labels(projection).set(events_behind)
    PROJECTION_LAG_SECONDS.labels(projection).set(seconds_behind)


async def metrics_response(pool: Any | None = None,
                           registry: CollectorRegistry = REGISTRY) -> Any:
    """The API's /metrics: refreshes the database gauges (when given a pool), then renders.

    A database that does not answer leaves the gauges at their last values; /metrics still
    answers (the scrape must not fail with the thing it is meant to report on).
    """
    from starlette.responses import Response

    if pool is not None:
        try:
            await asyncio.wait_for(refresh_database_gauges(pool), timeout=5.0)
        except Exception:
            log.warning("metrics_refresh_failed", exc_info=True)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# --- endpoints ------------------------------------------------------------------------------


class WorkerEndpoint:
    """The worker's HTTP endpoint: /metrics, /healthz (liveness), /readyz (readiness).

    - /healthz answers 200 while the asyncio loop of the worker keeps turning (`watch_loop`
      beats every few seconds; no beat for `stall_after` seconds = 503: a blocked loop polls no
      tasks, restart it). Before `watch_loop` runs it only says the process is up.
    - /readyz answers 200 when `ready()` is true (set it to `lambda: worker.is_running`).
    """

    def __init__(self, server: Any, thread: Any, stall_after: float = 60.0) -> None:
        self.server = server
        self.thread = thread
        self.stall_after = stall_after
        self.ready: Any = lambda: False
        self._beat: float | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def live(self) -> bool:
        return self._beat is None or time.monotonic() - self._beat < self.stall_after

    async def watch_loop(self, every: float = 5.0) -> None:
        """Run as a task in the worker's loop (cancelled on shutdown)."""
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(every)

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_worker_metrics(port: int, addr: str = "0.0.0.0",
                         registry: CollectorRegistry = REGISTRY) -> WorkerEndpoint | None:
    """Serve /metrics, /healthz and /readyz on http://addr:port (a daemon thread).

    Returns the endpoint (set `.ready`, run `.watch_loop()`, `.shutdown()`), or None when port
    is 0 (off). A taken port raises SystemExit naming the variable.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if not port:
        return None
    endpoint: WorkerEndpoint

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = endpoint.live()
                self._send(200 if ok else 503, b"ok\n" if ok else b"event loop stalled\n")
            elif path == "/readyz":
                try:
                    ok = bool(endpoint.ready())
                except Exception:
                    log.warning("readiness_check_failed", exc_info=True)
                    ok = False
                self._send(200 if ok else 503, b"ready\n" if ok else b"worker not running\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    try:
        server = ThreadingHTTPServer((addr, port), Handler)
    except OSError as err:
        raise SystemExit(
            f"sjukfall: metrics port {port} is not available ({err.strerror}); "
            "set SJUKFALL_WORKER_METRICS_PORT (0 turns the endpoint off)"
        ) from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    endpoint = WorkerEndpoint(server, thread)
    thread.start()
    log.info("metrics_endpoint", port=endpoint.port)
    return endpoint


_runtimes: dict[int, Runtime] = {}


def temporal_runtime(settings: Settings, addr: str = "0.0.0.0") -> Runtime | None:
    """A Temporal runtime whose SDK metrics are served on SJUKFALL_TEMPORAL_METRICS_PORT.

    None when the port is 0 (then pass nothing: the SDK's default runtime). One runtime per
    port per process: a second call returns the first (the port can only be bound once).
    """
    port = settings.temporal_metrics_port
    if not port:
        return None
    if port not in _runtimes:
        from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

        from infra.logs import core_logging

        _runtimes[port] = Runtime(telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{addr}:{port}",
                                     counters_total_suffix=True, durations_as_seconds=True),
            global_tags={"service": "sjukfall"},
            logging=core_logging(),  # core logs through our redaction (infra/logs.py)
        ))
    return _runtimes[port]


def series(registry: CollectorRegistry = REGISTRY) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the registry as {(name, sorted labels): value} (tests, debugging)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out
