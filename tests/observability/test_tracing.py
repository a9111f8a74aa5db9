"""One trace from the HTTP request through the Temporal update and the workflow to the activity
that records the event, and the trace id in that activity's log line."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import issue_token
from api.commands import open_case
from domain.calendar import STOCKHOLM
from domain.commands import OpenCase
from infra import tracing
from infra.settings import Settings
from store.eventstore import EventStore
from tests.workflows.support import PHYSICIAN, PNR, certificate
from worker import case_worker


@pytest.fixture
async def traced(
    time_skipping_env: WorkflowEnvironment, store: EventStore
) -> AsyncIterator[tuple[Client, InMemorySpanExporter, str, list[str], WorkflowEnvironment]]:
    exporter = InMemorySpanExporter()
    plugins = tracing.setup_tracing(Settings(), "sjukfall-test", exporter=exporter)
    assert plugins
    client = Client(**{**time_skipping_env.client.config(), "plugins": plugins})
    queue = f"traced-{uuid.uuid4().hex[:8]}"
    cases: list[str] = []
    async with case_worker(client, store, Settings(), task_queue=queue):
        yield client, exporter, queue, cases, time_skipping_env
        for case_id in cases:  # time skips only while every workflow is idle: leave none open
            await client.get_workflow_handle(f"case-{case_id}").terminate("test finished")
    tracing.shutdown_tracing()
    exporter.shutdown()


def test_tracing_is_off_without_an_endpoint_and_logs_carry_no_trace_ids() -> None:
    assert tracing.setup_tracing(Settings(), "sjukfall-api") == []
    assert tracing.add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}


async def test_one_trace_spans_request_update_workflow_and_activity(
    traced: tuple[Client, InMemorySpanExporter, str, list[str], WorkflowEnvironment],
    store: EventStore,
) -> None:
    client, exporter, queue, cases, env = traced
    case_id = uuid.uuid4().hex[:12]
    cases.append(case_id)
    opened_on = (await env.get_current_time()).astimezone(STOCKHOLM).date()
    await open_case(client, queue, OpenCase(
        actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
        sick_period_start=opened_on, certificate=certificate(opened_on, 1, 10)), f"open-{case_id}")

    secret = "tracing-test-secret-at-least-32-bytes"
    app = create_app(Settings(jwt_secret=secret), client=client, store=store)
    token = issue_token(secret, "dr-anna", "physician", ["vc-norr"])
    exporter.clear()
    captured = structlog.testing.LogCapture()
    saved = structlog.get_config()
    structlog.configure(processors=[tracing.add_trace_ids, captured])
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.post(f"/cases/{case_id}/consents",
                                       headers={"Authorization": f"Bearer {token}",
                                                "Idempotency-Key": "consent-1"},
                                       json={"recipient": "employer", "purpose": "share_information"})
    finally:
        structlog.configure(**saved)
    assert response.status_code == 200, response.text

    finished = exporter.get_finished_spans()
    request = next(s for s in finished if s.name.startswith("POST /cases/{case_id}/consents")
                   and s.parent is None)
    trace_id = request.context.trace_id
    spans = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name: s for s in spans}
    chain = ["StartWorkflowUpdate:execute", "ValidateUpdate:execute", "HandleUpdate:execute",
             "StartActivity:append_events", "RunActivity:append_events"]
    for name in chain:
        assert name in names, f"no {name} span in the request's trace: {sorted(names)}"
    # parent links: request -> update -> handler -> activity start -> activity run
    by_id = {s.context.span_id: s for s in spans}

    def ancestors(span: Any) -> list[str]:
        out = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            out.append(span.name)
        return out

    run_activity = ancestors(names["RunActivity:append_events"])
    assert run_activity[:3] == ["StartActivity:append_events", "HandleUpdate:execute",
                                "StartWorkflowUpdate:execute"]
    assert run_activity[-1] == request.name

    # the activity's log line names the same trace, as the JSON logs will
    appended = [e for e in captured.entries
                if e["event"] == "events_appended" and e["types"] == ["ConsentGiven"]]
    assert appended and appended[0]["trace_id"] == format(trace_id, "032x")
    assert appended[0]["span_id"] == format(names["RunActivity:append_events"].context.span_id,
                                            "016x")


def test_an_otlp_endpoint_turns_tracing_on_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sjukfall run` sets up tracing for the API and the worker in one process: spans must
    not be exported twice."""
    from temporalio.contrib.opentelemetry import create_tracer_provider

    provider = create_tracer_provider()  # Temporal's real provider, not the process's global
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "_otlp_added", False)
    settings = Settings(otlp_endpoint="http://collector.invalid:4318/")
    try:
        assert tracing.setup_tracing(settings, "sjukfall-api")
        assert tracing.setup_tracing(settings, "sjukfall-worker")
        added = provider._tracer_provider._active_span_processor._span_processors
        assert len(added) == 1
        assert added[0].span_exporter._endpoint == "http://collector.invalid:4318/v1/traces"
    finally:
        provider._tracer_provider.shutdown()


async def test_database_and_outbound_calls_are_spans_of_the_trace_that_made_them(
    database_url: str,
) -> None:
    """asyncpg statements and httpx requests become client spans under the current span; with
    no span around them (a projection poll) they start no trace of their own."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import asyncpg
    from opentelemetry import trace

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    exporter = InMemorySpanExporter()
    assert tracing.setup_tracing(Settings(), "sjukfall-test", exporter=exporter)
    server = HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = await asyncpg.connect(database_url)
    try:
        exporter.clear()
        await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", "secret-arg")
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{server.server_port}/untraced")
        assert exporter.get_finished_spans() == ()  # no trace of their own

        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("RunActivity:append_events") as parent:
            await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", "secret-arg")
            async with httpx.AsyncClient() as http:
                response = await http.get(f"http://127.0.0.1:{server.server_port}/hook")
        assert response.status_code == 204
    finally:
        await conn.close()
        server.shutdown()
    spans = exporter.get_finished_spans()
    children = [s for s in spans if s.parent is not None
                and s.parent.span_id == parent.get_span_context().span_id]
    kinds = {s.kind for s in children}
    assert kinds == {trace.SpanKind.CLIENT}
    database = [s for s in children if s.attributes.get("db.system") == "postgresql"]
    outbound = [s for s in children if s not in database]
    assert len(database) == 1 and "SELECT count(*) FROM events" in str(database[0].attributes)
    assert "secret-arg" not in str(database[0].attributes)  # statements without parameters
    assert len(outbound) == 1 and outbound[0].name == "GET"
    tracing.shutdown_tracing()
    exporter.shutdown()
