"""OpenTelemetry traces: HTTP request -> Temporal update -> workflow -> activity, one trace.

Off unless SJUKFALL_OTLP_ENDPOINT is set (then spans go to `<endpoint>/v1/traces` over
OTLP/HTTP, batched). Sampling: SJUKFALL_TRACE_SAMPLE_RATIO of new traces (parent-based, so a
trace started upstream keeps its decision).

Wiring (one call per process, before the Temporal client connects):

    plugins = setup_tracing(settings, "sjukfall-worker")   # [] when tracing is off
    client = await Client.connect(..., plugins=plugins)     # workers made from it inherit it
    instrument_app(app)                                     # FastAPI server spans
    (asyncpg and httpx client spans: set up with the provider, children of those spans only)
    structlog processor `add_trace_ids`                     # trace_id/span_id in the logs

Why the SDK's `OpenTelemetryPlugin` (its v2 `OpenTelemetryInterceptor`) and not the older
`TracingInterceptor`: the older one parents an update handler on the *workflow start's* trace
and only links the caller, so an API request and the activity it caused end up in two traces.
The plugin parents `HandleUpdate` on the update's own headers (one trace per request), adds
`opentelemetry` to the sandbox's pass-through modules, and with `create_tracer_provider`
(span ids from the workflow's deterministic random) creates no duplicate spans on replay.
Both are marked experimental in temporalio 1.35; the span names are the same.

One change to the plugin: no `RunWorkflow` span. A case workflow runs for months and leaves
the worker's cache many times; a span around the whole run would be ended (and exported) at
every eviction and log "Failed to detach context" when the evicted coroutine is collected.
Updates, their activities and the activities of timers still get their spans (a timer's
activity starts a trace of its own: no request caused it).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.plugin import SimplePlugin

    from infra.settings import Settings

# Probes and scrapes would be most of the spans and tell nothing.
EXCLUDED_URLS = "healthz,readyz,metrics"

_provider: Any = None  # the ReplaySafeTracerProvider this process exports with
_otlp_added = False


def setup_tracing(
    settings: Settings, service_name: str, *, exporter: SpanExporter | None = None
) -> list[SimplePlugin]:
    """Configure tracing for this process; return the Temporal plugins to connect with.

    Without SJUKFALL_OTLP_ENDPOINT (and no `exporter`) tracing is off and this returns [].
    `exporter` replaces OTLP and exports each span as it ends (tests: InMemorySpanExporter).
    OpenTelemetry's global tracer provider can be set only once per process: a later call
    reuses the provider of the first (adding its `exporter`; the OTLP exporter only once), so
    the API and a worker in one process (`sjukfall run`) may both call this.
    """
    global _provider, _otlp_added
    if exporter is None and not settings.otlp_endpoint:
        return []
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from temporalio.contrib.opentelemetry import create_tracer_provider

    processor: Any = None
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    elif not _otlp_added:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/")  # type: ignore[union-attr]
        processor = BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces"))
        _otlp_added = True
    if _provider is None:
        _provider = create_tracer_provider(
            resource=Resource.create({
                "service.name": service_name,
                "service.namespace": "sjukfall",
                "deployment.environment": settings.env,
            }),
            sampler=ParentBased(_NoTraceOfItsOwn(TraceIdRatioBased(settings.trace_sample_ratio))),
        )
        trace.set_tracer_provider(_provider)
        _instrument_clients(_provider)
    if processor is not None:
        _provider.add_span_processor(processor)
    return [_plugin()]


def _plugin() -> SimplePlugin:
    """The SDK's OpenTelemetryPlugin (with Temporal spans), less the RunWorkflow span."""
    import dataclasses

    import temporalio.worker
    from temporalio.contrib.opentelemetry import OpenTelemetryInterceptor
    from temporalio.plugin import SimplePlugin
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    class Interceptor(OpenTelemetryInterceptor):
        def workflow_interceptor_class(self, input: Any) -> Any:
            base = super().workflow_interceptor_class(input)

            class WithoutRunSpan(base):  # type: ignore[misc, valid-type]
                async def execute_workflow(self, input: Any) -> Any:
                    return await temporalio.worker.WorkflowInboundInterceptor.execute_workflow(
                        self, input)

            return WithoutRunSpan

    def runner(runner: Any) -> Any:
        if isinstance(runner, SandboxedWorkflowRunner):  # as OpenTelemetryPlugin does
            return dataclasses.replace(runner, restrictions=runner.restrictions
                                       .with_passthrough_modules("opentelemetry"))
        return runner

    return SimplePlugin("sjukfall.tracing", interceptors=[Interceptor(add_temporal_spans=True)],
                        workflow_runner=runner)


def _instrument_clients(provider: Any) -> None:
    """Client spans for every PostgreSQL statement (asyncpg) and outbound HTTP call (httpx:
    webhooks, FK's gateway). Statements are recorded without their parameters."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    AsyncPGInstrumentor(  # type: ignore[no-untyped-call]
        capture_parameters=False).instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


class _NoTraceOfItsOwn(Sampler):
    """A sampler for spans without a parent: a client span (a query, an outbound call) is part
    of a request's or an activity's trace or of none. Otherwise the projection runners' polls
    (every half second per process) would be most of the traces."""

    def __init__(self, root: Any) -> None:
        self._root = root

    def should_sample(self, parent_context: Any, trace_id: int, name: str,
                      kind: Any = None, attributes: Any = None, links: Any = None,
                      trace_state: Any = None) -> SamplingResult:
        if kind == trace.SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        result: SamplingResult = self._root.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state)
        return result

    def get_description(self) -> str:
        return f"NoTraceOfItsOwn{{{self._root.get_description()}}}"


def instrument_app(app: Any) -> bool:
    """Server spans for every FastAPI request (but probes and /metrics); False when off."""
    if _provider is None:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=EXCLUDED_URLS)
    return True


def shutdown_tracing() -> None:
    """Flush spans still batched (call on a clean shutdown)."""
    if _provider is not None:
        _provider.force_flush()


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: `trace_id` and `span_id` (hex, as trace backends show them) of the
    current span, when there is one. Put it in the shared processors of infra/logs.py."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict
