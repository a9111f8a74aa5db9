"""The operator's command line against a real database with sample cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.eventstore import EventStore
from store.projections import rebuild_all
from store.sample_cases import sample_cases, to_new_events

SJUKFALL = Path(sys.executable).parent / "sjukfall"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def seeded(database_url: str) -> list[str]:
    ids = []
    async with await EventStore.connect(database_url) as store:
        for case_id, events in sample_cases(12, seed=3):
            await store.append(case_id, 0, to_new_events(events))
            ids.append(case_id)
    await rebuild_all(database_url)
    return ids


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SJUKFALL_DATABASE_URL=database_url, SJUKFALL_OPERATOR="ops-anna")
    return subprocess.run([str(SJUKFALL), *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_db_migrate_is_idempotent(database_url: str) -> None:
    result = cli(database_url, "db", "migrate")
    assert result.returncode == 0, result.stderr
    assert "applied 0 migration(s)" in result.stdout


def test_cases_list_as_table_and_json(database_url: str, seeded: list[str]) -> None:
    table = cli(database_url, "cases", "list", "--limit", "5")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["CASE_ID", "PHASE", "UNIT_ID"]
    assert "5 of 12 case(s)" in table.stdout
    data = json.loads(cli(database_url, "cases", "list", "--json", "--phase", "closed").stdout)
    assert data["total"] == len(data["items"]) > 0
    assert {row["phase"] for row in data["items"]} == {"closed"}


async def test_case_show_and_events_log_the_read(database_url: str, seeded: list[str]) -> None:
    case_id = seeded[0]
    shown = cli(database_url, "case", "show", case_id, "--purpose", "incident 42")
    assert shown.returncode == 0, shown.stderr
    assert f"case_id              {case_id}" in shown.stdout
    assert "CaseOpened" in shown.stdout and "VERSION" in shown.stdout
    assert "1912" not in shown.stdout  # no identity numbers in the operator's view

    events = json.loads(cli(database_url, "case", "events", case_id, "--json").stdout)
    assert events[0]["type"] == "CaseOpened"
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))

    async with await EventStore.connect(database_url) as store:
        purposes = [r["purpose"] for r in await store.pool.fetch(
            "SELECT purpose FROM access_log WHERE case_id = $1 AND actor_id = 'ops-anna' "
            "ORDER BY id", case_id)]
    assert purposes == ["incident 42", "operations"]

    missing = cli(database_url, "case", "show", "no-such-case")
    assert missing.returncode == 1 and "no case no-such-case" in missing.stderr


def test_measures_and_rebuild(database_url: str, seeded: list[str]) -> None:
    measures = json.loads(cli(database_url, "measures", "--from", "2024-01-01", "--to",
                              "2024-12-31", "--json").stdout)
    # the 12 sample cases all start in 2024: each counts once as started, split by sex
    assert measures["started"]["total"] == 12
    assert sum(measures["started"]["by_sex"].values()) == 12
    rebuilt = cli(database_url, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "case_summary:" in rebuilt.stdout


def test_replay_of_committed_histories() -> None:
    result = subprocess.run([str(SJUKFALL), "replay", "tests/histories"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(list((ROOT / "tests" / "histories").glob("*.json")))
    assert f"{count} of {count} replayed" in result.stdout


def test_token_refuses_unknown_roles() -> None:
    bad = subprocess.run([str(SJUKFALL), "token", "--role", "king"], capture_output=True, text=True)
    assert bad.returncode != 0 and "role must be one of" in bad.stderr
