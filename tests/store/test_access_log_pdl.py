"""The PDL access log holds (issue #15, finding 4): the application's role can only add to the
records, the log is a hash chain that `sjukfall audit verify` checks, reads are told apart by
kind, and a purpose must say something. Real PostgreSQL; tampering runs as the owner would."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from store.access_log import InvalidPurpose, record_access, record_accesses, verify_chain
from store.databases import create_database, drop_database
from store.eventstore import EventStore, NewEvent
from tests.foundation.test_cli import cli


@pytest.fixture
async def fresh_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A database of its own: these tests tamper with it."""
    url = await create_database(pg_admin_url, migrated=True)
    yield url
    await drop_database(pg_admin_url, url)


async def reads(url: str, count: int) -> None:
    async with await EventStore.connect(url) as store:
        for n in range(count):
            await record_access(store.pool, actor_id=f"dr-{n}", role="physician", units=["vc"],
                                case_id=f"case-{n}", action="summary", purpose="care")


async def as_owner(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ALTER TABLE access_log DISABLE TRIGGER access_log_no_update_delete")
        await conn.execute(sql)
        await conn.execute("ALTER TABLE access_log ENABLE TRIGGER access_log_no_update_delete")
    finally:
        await conn.close()


async def test_audit_verify_finds_an_altered_entry(fresh_url: str) -> None:
    await reads(fresh_url, 5)
    intact = cli(fresh_url, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert "access log intact: 5 entries" in intact.stdout
    await as_owner(fresh_url, "UPDATE access_log SET actor_id = 'someone-else' WHERE seq = 3")
    broken = cli(fresh_url, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 3" in broken.stderr and "altered" in broken.stderr


async def test_audit_verify_finds_an_entry_altered_with_a_recomputed_hash(fresh_url: str) -> None:
    await reads(fresh_url, 4)
    await as_owner(fresh_url, """
        UPDATE access_log SET purpose = 'x', hash = access_log_entry_hash(
            prev_hash, seq, at, actor_id, role, units, case_id, action, 'x') WHERE seq = 2""")
    broken = cli(fresh_url, "audit", "verify")
    assert broken.returncode == 1 and "entry 2" in broken.stderr, broken.stderr


async def test_audit_verify_finds_a_removed_entry(fresh_url: str) -> None:
    await reads(fresh_url, 5)
    head = cli(fresh_url, "audit", "verify").stdout.split("head ")[1].strip()
    await as_owner(fresh_url, "DELETE FROM access_log WHERE seq = 2")
    broken = cli(fresh_url, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 2 of the chain was removed" in broken.stderr
    # The last entry removed: only the head recorded earlier tells.
    await as_owner(fresh_url, "DELETE FROM access_log")
    await reads(fresh_url, 0)
    async with await EventStore.connect(fresh_url) as store:
        checked, _ = await verify_chain(store.pool)
        assert checked == 0
        _, gone = await verify_chain(store.pool, bytes.fromhex(head))
    assert gone is not None and gone.problem == "removed"


async def test_the_applications_role_can_only_add_to_the_records(
        pg_admin_url: str, database_url: str) -> None:
    name = f"app_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin_url)
    # the login the deploy files give the API and workers: made by the migrate step
    migrated = subprocess.run(
        [str(Path(sys.executable).parent / "sjukfall"), "db", "migrate", "--app-login", name],
        env={**os.environ, "SJUKFALL_DATABASE_URL": database_url,
             "SJUKFALL_APP_DB_PASSWORD": "s3cret-enough"},
        capture_output=True, text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    assert await admin.fetchval("SELECT rolcanlogin AND NOT rolsuper FROM pg_roles "
                                "WHERE rolname = $1", name)
    parts = urlsplit(database_url)
    app_url = urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port}"))
    try:
        async with await EventStore.connect(app_url) as store:
            await store.append(f"role-{name}", 0, [NewEvent(f"role-{name}/1", "Note", 1, {"n": 1})])
            assert await record_access(store.pool, actor_id="dr", role="physician", units=[],
                                       case_id=f"role-{name}", action="summary", purpose="care")
            await store.pool.execute("DELETE FROM case_summary WHERE case_id = 'none'")  # projections: yes
            for sql in ("UPDATE events SET type = 'x'", "DELETE FROM events",
                        "TRUNCATE events", "UPDATE access_log SET purpose = 'x'",
                        "DELETE FROM access_log", "TRUNCATE access_log",
                        "SET session_replication_role = replica",
                        "ALTER TABLE access_log DISABLE TRIGGER access_log_no_update_delete"):
                with pytest.raises((asyncpg.InsufficientPrivilegeError,
                                    asyncpg.exceptions.InsufficientPrivilegeError)):
                    await store.pool.execute(sql)
    finally:
        await admin.execute(f"DROP OWNED BY {name}; DROP ROLE {name}")
        await admin.close()


async def test_reads_are_told_apart_by_kind_and_a_list_is_one_entry_per_case(
        database_url: str) -> None:
    async with await EventStore.connect(database_url) as store:
        who = {"actor_id": f"rk-{uuid.uuid4().hex[:6]}", "role": "coordinator", "units": ["vc"]}
        assert await record_access(store.pool, **who, case_id="k1", action="summary", purpose="care")
        assert await record_access(store.pool, **who, case_id="k1", action="events", purpose="care")
        assert not await record_access(store.pool, **who, case_id="k1", action="events",
                                       purpose="care")
        assert await record_accesses(store.pool, **who, case_ids=["k1", "k2", "k3", "k2"],
                                     action="list", purpose="care") == 3
        for blank in ("", "   ", "ca\x00re"):
            with pytest.raises(InvalidPurpose):
                await record_access(store.pool, **who, case_id="k1", action="summary",
                                    purpose=blank)
        count = await store.pool.fetchval("SELECT count(*) FROM access_log WHERE actor_id = $1",
                                          who["actor_id"])
    assert count == 5
