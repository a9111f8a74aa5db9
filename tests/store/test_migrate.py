"""Migrations on an empty database: applied in order, recorded, idempotent, race-safe."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store.migrate import applied_migrations, available_migrations, migrate


async def test_migrations_apply_in_order_on_an_empty_database_and_only_once(
    empty_database_url: str,
) -> None:
    expected = [m.id for m in available_migrations()]
    assert expected[0] == "0001_events"

    first = await migrate(empty_database_url)
    assert first == expected
    assert await applied_migrations(empty_database_url) == expected

    conn = await asyncpg.connect(empty_database_url)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {"events", "checkpoints", "schema_migrations"} <= tables
    finally:
        await conn.close()

    assert await migrate(empty_database_url) == []
    assert await applied_migrations(empty_database_url) == expected


async def test_two_concurrent_callers_apply_each_migration_once(pg_admin_url: str) -> None:
    from tests.conftest import create_database, drop_database

    url = await create_database(pg_admin_url)
    try:
        results = await asyncio.gather(*(migrate(url) for _ in range(4)))
        applied = [m for r in results for m in r]
        assert sorted(applied) == [m.id for m in available_migrations()]
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(applied)
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_url, url)


async def test_an_applied_migration_that_was_edited_is_refused(pg_admin_url: str) -> None:
    from store.migrate import MigrationError
    from tests.conftest import create_database, drop_database

    url = await create_database(pg_admin_url)
    try:
        await migrate(url)
        conn = await asyncpg.connect(url)
        try:  # as if 0001 had been applied from a different text
            await conn.execute(
                "UPDATE schema_migrations SET checksum = 'old' WHERE version = '0001'"
            )
        finally:
            await conn.close()
        with pytest.raises(MigrationError, match="0001_events was changed"):
            await migrate(url)
    finally:
        await drop_database(pg_admin_url, url)
