"""The API's dependencies in one place: typed `Annotated` aliases a route declares for what it
needs (the store, Temporal, settings, the caller in a role, path and header parameters), so
no route reaches into `request.app.state` itself. `create_app` puts the parts on the app."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Path, Request
from temporalio.client import Client

from api.auth import CARE, PEOPLE, Principal, require
from infra.payload_codec import EncryptionCodec
from infra.settings import Settings
from store.eventstore import EventStore
from store.projections import CaseMeasureFactsProjection, CaseSummaryProjection

INT32 = 2**31 - 1  # versions and day counts are PostgreSQL integers
CASE_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


def store_of(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def pool_of(request: Request) -> asyncpg.Pool:
    return store_of(request).pool


def temporal_of(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def codec_of(request: Request) -> EncryptionCodec:
    """The payload codec the Temporal UI's codec server decrypts with (infra/payload_codec.py)."""
    codec: EncryptionCodec = request.app.state.codec
    return codec


def summary_of(request: Request) -> CaseSummaryProjection:
    """The case list projection the API brings up to date after a command (read-your-writes)."""
    projection: CaseSummaryProjection = request.app.state.summary
    return projection


def measure_facts_of(request: Request) -> CaseMeasureFactsProjection:
    projection: CaseMeasureFactsProjection = request.app.state.measure_facts
    return projection


Store = Annotated[EventStore, Depends(store_of)]
Pool = Annotated[asyncpg.Pool, Depends(pool_of)]
Temporal = Annotated[Client, Depends(temporal_of)]
AppSettings = Annotated[Settings, Depends(settings_of)]
MeasureFacts = Annotated[CaseMeasureFactsProjection, Depends(measure_facts_of)]

CaseId = Annotated[str, CASE_ID]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

#: The caller, in one of the roles a route allows (403 `role_not_allowed` otherwise).
Care = Annotated[Principal, Depends(require(*CARE))]
People = Annotated[Principal, Depends(require(*PEOPLE))]
Ops = Annotated[Principal, Depends(require("ops"))]
Physician = Annotated[Principal, Depends(require("physician"))]
