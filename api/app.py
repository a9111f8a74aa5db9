"""The HTTP API: commands become Temporal updates on the case workflow; reads come from the
projections (case list, summary, measures) and the event store (history).

Read-your-writes: a command returns after its events are appended, and the API then brings
the case_summary projection up to date before answering, so the next read shows the change.

Layout: `create_app` puts the parts on the app and includes the routers by area
(api/routes/: operations, cases, commands, measures; the FK routes, RIV-TA, the console and
the codec server). Routes declare what they need through api/deps.py; the rules for reaching
a case live in api/case_access.py.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from temporalio.client import Client

from api import codec, console, fk_routes, rivta_routes
from api.auth import TokenVerifier
from api.limits import BodyLimit, clean_query
from api.observability import observe_requests
from api.operations import operation_id, readable_operations
from api.problems import install, problem_responses
from api.routes import cases, commands, measures, operations
from infra.payload_codec import codec_for
from infra.settings import Settings
from infra.tracing import instrument_app
from store.eventstore import EventStore
from store.projections import CaseMeasureFactsProjection, CaseSummaryProjection

ERRORS = problem_responses([
    (400, "Body is not JSON"), (401, "No or bad token"), (403, "Role or unit not allowed"),
    (404, "No such case"), (409, "Conflicts with the case's state"), (422, "Invalid input"),
    (503, "Temporal or PostgreSQL unavailable")])


def create_app(settings: Settings, *, client: Client, store: EventStore) -> FastAPI:
    app = FastAPI(
        title="sjukfall",
        version="0.1.0",
        description="Sick-leave cases (sjukfall): commands, projections, event history.",
        responses=ERRORS,
        generate_unique_id_function=operation_id,
        dependencies=[Depends(clean_query)],
        # The interactive docs (and the schema they read) are off in production unless enabled.
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.temporal = client
    app.state.store = store
    app.state.verifier = TokenVerifier.from_settings(settings)
    app.state.summary = CaseSummaryProjection()
    app.state.measure_facts = CaseMeasureFactsProjection()
    install(app)
    readable_operations(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for area in (operations.router, cases.router, commands.router, measures.router):
        app.include_router(area)
    app.include_router(fk_routes.router)
    app.include_router(rivta_routes.router)  # FK over RIV-TA SOAP (SJUKFALL_FK_TRANSPORT=rivta)
    app.include_router(console.router)  # the web console, /console (api/console/README.md)
    observe_requests(app)  # access log + request metrics (api/observability.py)
    app.state.codec = codec_for(settings)
    app.include_router(codec.router)  # the Temporal UI's codec server (ops, PDL-logged)
    if origins := settings.resolved_codec_cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True,
                           allow_methods=["POST"],
                           allow_headers=["authorization", "content-type", "x-namespace",
                                          "x-purpose"])
    instrument_app(app)  # server spans, when tracing is on

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    return app
