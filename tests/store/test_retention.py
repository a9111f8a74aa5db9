"""Retention (gallring) against a real PostgreSQL: a dry run lists, an apply removes closed
cases past the policy from the record, the read models and the access log, keeps what was
purged and anonymous counts, and the append-only guards refuse everything else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from infra.settings import Settings
from store.access_log import record_access, verify_chain
from store.databases import create_database, drop_database
from store.eventstore import EventStore
from store.projections import rebuild_all
from store.retention import KEPT_TABLES, PURGED_TABLES, due_cases, purge
from store.sample_cases import sample_cases, to_new_events

SJUKFALL = Path(sys.executable).parent / "sjukfall"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A database of its own for each test: an apply cannot be undone."""
    url = await create_database(pg_admin_url, migrated=True)
    yield url
    await drop_database(pg_admin_url, url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def record(database_url: str) -> dict[str, list[str]]:
    """Cases from 2013 (closed ones are past ten years) and from 2024, with access-log rows."""
    kinds: dict[str, list[str]] = {"old_closed": [], "old_open": [], "recent": []}
    async with await EventStore.connect(database_url) as store:
        for first, prefix in ((date(2013, 1, 1), "old"), (date(2024, 1, 1), "new")):
            for case_id, events in sample_cases(10, seed=5, first_start=first, prefix=prefix):
                await store.append(case_id, 0, to_new_events(events))
                closed = any(e.type == "CaseClosed" for e in events)
                kind = "recent" if prefix == "new" else ("old_closed" if closed else "old_open")
                kinds[kind].append(case_id)
                for actor in ("dr-a", "ops-b"):
                    await record_access(store.pool, actor_id=actor, role="physician",
                                        units=["vc-1"], case_id=case_id, action="read",
                                        purpose="care")
    await rebuild_all(database_url)
    assert kinds["old_closed"] and kinds["old_open"] and kinds["recent"]
    return kinds


async def counts(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    out = {"events": await conn.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = ANY($1)", ids)}
    for table in ("access_log", *PURGED_TABLES):
        out[table] = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE case_id = ANY($1)",
                                         ids)
    return out


def cli(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SJUKFALL), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False, env=dict(os.environ, SJUKFALL_DATABASE_URL=database_url,
                                                SJUKFALL_OPERATOR="ops-anna", **env))


def test_the_policy_is_at_least_ten_years() -> None:
    assert Settings().retention_years == 10
    with pytest.raises(ValueError, match="retention_years"):
        Settings(retention_years=5)


async def test_every_table_keyed_by_case_is_purged_or_kept_on_purpose(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        tables = {r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name IN ('case_id', 'stream_id')")}
    finally:
        await conn.close()
    assert tables == set(PURGED_TABLES) | set(KEPT_TABLES)


async def test_dry_run_lists_the_closed_cases_past_the_policy_and_changes_nothing(
    database_url: str, db: asyncpg.Connection, record: dict[str, list[str]],
) -> None:
    everything = [c for ids in record.values() for c in ids]
    before = await counts(db, everything)
    listed = cli(database_url, "retention", "--dry-run", "--json")
    assert listed.returncode == 0, listed.stderr
    due = json.loads(listed.stdout)
    assert due["policy_years"] == 10
    assert sorted(c["case_id"] for c in due["cases"]) == sorted(record["old_closed"])
    assert all(c["access_entries"] == 2 and c["events"] > 0 for c in due["cases"])
    table = cli(database_url, "retention", "--dry-run")
    assert f"{len(record['old_closed'])} closed case(s) past 10 years" in table.stdout
    # a longer policy: nothing from 2013 is due yet
    longer = cli(database_url, "retention", "--dry-run", "--json", SJUKFALL_RETENTION_YEARS="30")
    assert json.loads(longer.stdout)["cases"] == []
    shorter = cli(database_url, "retention", "--dry-run", SJUKFALL_RETENTION_YEARS="3")
    assert shorter.returncode == 2 and "SJUKFALL_RETENTION_YEARS" in shorter.stderr
    assert cli(database_url, "retention").returncode == 2  # neither --dry-run nor --apply
    assert cli(database_url, "retention", "--apply").returncode == 2  # not confirmed
    assert await counts(db, everything) == before


async def test_the_guards_refuse_everything_but_the_purge_of_a_due_case(
    db: asyncpg.Connection, record: dict[str, list[str]],
) -> None:
    recent, old_open, old_closed = record["recent"][0], record["old_open"][0], record["old_closed"][0]
    for sql, args in [
        ("DELETE FROM events WHERE stream_id = $1", [old_closed]),  # due, but not listed
        ("UPDATE events SET data = '{}' WHERE stream_id = $1", [old_closed]),
        ("TRUNCATE events", []),
        ("DELETE FROM access_log WHERE case_id = $1", [old_closed]),
        ("TRUNCATE access_log", []),
    ]:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(sql, *args)
    run = await db.fetchval("INSERT INTO retention_runs (policy_years, cutoff, operator) "
                            "VALUES (10, now(), 'mallory') RETURNING id")
    for case_id in (recent, old_open, "no-such-case"):  # listing one that is not due: refused
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="not due for retention"):
            await db.execute("INSERT INTO retention_purged_cases VALUES ($1, $2, now(), 1, 1)",
                             case_id, run)
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("INSERT INTO retention_runs (policy_years, cutoff, operator) "
                         "VALUES (5, now(), 'mallory')")
    assert await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", old_closed) > 0


async def test_apply_purges_the_due_cases_and_keeps_what_and_how_many(
    database_url: str, db: asyncpg.Connection, record: dict[str, list[str]],
) -> None:
    kept = record["old_open"] + record["recent"]
    kept_before = await counts(db, kept)
    purged_before = await counts(db, record["old_closed"])
    applied = cli(database_url, "retention", "--apply", "--yes", "--json")
    assert applied.returncode == 0, applied.stderr
    run = json.loads(applied.stdout)
    assert run["cases"] == len(record["old_closed"])
    assert run["events"] == purged_before["events"]
    assert run["access_entries"] == purged_before["access_log"] == 2 * run["cases"]

    assert set((await counts(db, record["old_closed"])).values()) == {0}
    assert await counts(db, kept) == kept_before  # nothing else touched
    async with await EventStore.connect(database_url) as store:
        # the access log's hash chain still holds through the purged entries' places
        checked, broken = await verify_chain(store.pool)
    remaining = await db.fetchval("SELECT count(*) FROM access_log")
    assert broken is None and checked == remaining + run["access_entries"]

    purged = await db.fetch("SELECT case_id, run_id, events, access_entries "
                            "FROM retention_purged_cases WHERE run_id = $1", run["run_id"])
    assert sorted(r["case_id"] for r in purged) == sorted(record["old_closed"])
    row = await db.fetchrow("SELECT * FROM retention_runs WHERE id = $1", run["run_id"])
    assert row["operator"] == "ops-anna" and row["finished_at"] is not None
    stats = await db.fetch("SELECT * FROM retention_statistics WHERE run_id = $1", run["run_id"])
    assert sum(r["cases"] for r in stats) == run["cases"]
    assert {r["start_year"] for r in stats} == {2013}
    assert all(r["sex"] in ("kvinna", "man") and r["closed_reason"] for r in stats)

    # the record of the purge is append-only too
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("DELETE FROM retention_purged_cases")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("DELETE FROM retention_statistics")

    # a rebuild does not bring them back, and a second run finds nothing
    await rebuild_all(database_url)
    assert await db.fetchval("SELECT count(*) FROM case_summary WHERE case_id = ANY($1)",
                             record["old_closed"]) == 0
    async with await EventStore.connect(database_url) as store:
        assert await due_cases(store.pool, 10) == []
        again = await purge(store.pool, 10, "ops-anna")
    assert again.cases == 0
