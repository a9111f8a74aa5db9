"""Per-request observability of the HTTP API: one access log line and the request metrics.

A pure ASGI middleware (no body buffering), registered by `observe_requests(app)` before the
OpenTelemetry instrumentation, so its log line is written inside the request's server span
and carries the trace id.

The access log line (`http_request`) names the route *template* (`/cases/{case_id}`), never
the raw path or the query string: a query such as `?q=...` may hold anything a user typed,
identity numbers included. It carries the case id (a pseudonymous key, as every log line),
method, status and duration. Probes and scrapes (/healthz, /readyz, /metrics) are logged at
debug level only: every few seconds they would drown the requests of people.

Prometheus, on the API's existing /metrics:

    sjukfall_http_requests_total{method,route,status}              requests answered
    sjukfall_http_request_duration_seconds{method,route} (histogram)  until the response ended

`route` is the template, or `unmatched` for a path no route serves (a 404 or a scan), so the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram

from infra.logs import get_logger

log = get_logger("sjukfall.http")

REQUESTS = Counter("sjukfall_http_requests", "HTTP requests answered by the API",
                   ["method", "route", "status"])
DURATION = Histogram("sjukfall_http_request_duration_seconds",
                     "HTTP request duration until the response ended", ["method", "route"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"


def route_template(scope: dict[str, Any]) -> str:
    """The path template of the route that served the request (set by routing in `scope`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObservability:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the application answers: an exception escaped
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            seconds = time.perf_counter() - started
            method, route = scope["method"], route_template(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            DURATION.labels(method, route).observe(seconds)
            case_id = (scope.get("path_params") or {}).get("case_id")
            write = log.debug if route in QUIET_ROUTES else log.info
            write("http_request", method=method, route=route, status=status,
                  duration_ms=round(seconds * 1000, 1),
                  **({"case_id": case_id} if case_id else {}))

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record()  # before the last byte leaves: a client that saw it finds the line
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not recorded:
                record()


def observe_requests(app: Any) -> None:
    """Register the access log and request metrics on a FastAPI/Starlette app."""
    app.add_middleware(RequestObservability)
