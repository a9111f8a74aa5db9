"""The operator's command line against a real database with sample cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store.databases import create_database, drop_database
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
    rebuilt = cli(database_url, "projections", "rebuild", "--yes")
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


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_an_unreachable_database_is_one_line_and_exit_3(database_url: str) -> None:
    from infra.embedded import free_port

    result = cli(f"postgresql://ops:hunter2secret@127.0.0.1:{free_port()}/sjukfall",
                 "cases", "list")
    assert result.returncode == 3
    line = one_line(result)
    assert line.startswith("sjukfall: database 127.0.0.1:") and "unreachable" in line
    assert "hunter2secret" not in line


def test_a_refused_setting_is_one_line_naming_the_variable_and_exit_2(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJUKFALL_")}
    result = subprocess.run([str(SJUKFALL), "cases", "list"], capture_output=True, text=True,
                            env=dict(env, SJUKFALL_ENV="production",
                                     SJUKFALL_WEBHOOK_SECRET="short-secret-value"),
                            cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("sjukfall: settings: ") and "SJUKFALL_DATABASE_URL" in line
    assert "short-secret-value" not in line
    port = subprocess.run([str(SJUKFALL), "cases", "list"], capture_output=True, text=True,
                          env=dict(env, SJUKFALL_API_PORT="eighty"), cwd=ROOT, timeout=60,
                          check=False)
    assert port.returncode == 2 and "SJUKFALL_API_PORT" in one_line(port)


@pytest.mark.parametrize(("args", "names"), [
    (["measures", "--from", "2024-13-01", "--to", "2024-12-31"], "--from"),
    (["measures", "--to", "2024-12-31"], "--from"),
    (["measures", "--from", "2024-12-31", "--to", "2024-01-01"], "--to"),
    (["cases", "list", "--sort", "patient_id"], "--sort"),
    (["cases", "list", "--grade", "30"], "--grade"),
    (["cases", "list", "--limit", "5000"], "--limit"),
    (["cases", "list", "--no-such-option"], "--no-such-option"),
    (["projections", "rebuild", "--projection", "nope", "--yes"], "--projection"),
    (["projections", "rebuild"], "--yes"),
])
def test_usage_errors_are_one_line_naming_the_option_and_exit_2(
    database_url: str, seeded: list[str], args: list[str], names: str,
) -> None:
    result = cli(database_url, *args)
    assert result.returncode == 2, result.stderr
    assert names in one_line(result)


def test_cases_list_takes_every_filter_of_the_api(database_url: str, seeded: list[str]) -> None:
    def listed(*args: str) -> dict:
        result = cli(database_url, "cases", "list", "--json", "--limit", "100", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    everything = listed()["items"]
    assert len(everything) == 12
    # grade and consents as of today (revised rules): the 2024 sample cases have ended, their
    # consents expired
    assert all(r["current_grade"] is None and r["consents"] == {} for r in everything)
    assert listed("--grade", "100")["items"] == []
    assert listed("--consent-held", "employer")["items"] == []
    assert len(listed("--consent-not-held", "employer")["items"]) == 12
    for option, column, value in [("--sex", "sex", "kvinna"),
                                  ("--diagnosis-chapter", "diagnosis_chapter", None),
                                  ("--age-band", "age_band", None)]:
        value = value or next(r[column] for r in everything if r.get(column) is not None)
        rows = listed(option, str(value))["items"]
        assert rows and all(r[column] == value for r in rows), option
        assert len(rows) == sum(r[column] == value for r in everything), option
    queued = listed("--in-coordinator-queue")["items"]
    assert all(r["in_coordinator_queue"] for r in queued)
    assert len(queued) + len(listed("--not-in-coordinator-queue")["items"]) == 12
    units = sorted({r["unit_id"] for r in everything})
    assert len(listed("--unit", units[0], "--unit", units[-1])["items"]) == sum(
        r["unit_id"] in (units[0], units[-1]) for r in everything)
    by_days = listed("--sort", "days", "--descending")["items"]
    assert [r["days"] for r in by_days] == sorted((r["days"] for r in everything), reverse=True)
    page = listed("--sort", "days", "--descending", "--offset", "10", "--limit", "5")
    assert page["total"] == 12 and page["items"] == by_days[10:]


def test_measures_are_tables(database_url: str, seeded: list[str]) -> None:
    result = cli(database_url, "measures", "--from", "2024-01-01", "--to", "2024-12-31")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2024-01-01 - 2024-12-31, unit all"
    header = next(i for i, line in enumerate(lines) if line.split()[:4] ==
                  ["CASES", "STARTED", "ONGOING", "ENDED"])
    assert lines[header + 1].split()[:2] == ["total", "12"]
    assert any(line.split()[:4] == ["BY_SEX", "STARTED", "ONGOING", "ENDED"] for line in lines)
    assert any(line.split()[:4] == ["MEASURE", "NUMERATOR", "DENOMINATOR", "SHARE"]
               for line in lines)
    # every share also by sex and by unit, numerator and denominator each
    data = json.loads(cli(database_url, "measures", "--from", "2024-01-01", "--to",
                          "2024-12-31", "--json").stdout)
    for split in ("by_sex", "by_unit"):
        assert any(line.split()[:5] == ["MEASURE", split.upper(), "NUMERATOR", "DENOMINATOR",
                                        "SHARE"] for line in lines)
    for sex in ("kvinna", "man"):
        share = data["with_plan"]["by_sex"][sex]
        assert share["denominator"] > 0
        assert ["with_plan", sex, str(share["numerator"]), str(share["denominator"])] in [
            line.split()[:4] for line in lines]
    assert sum(s["denominator"] for s in data["with_plan"]["by_sex"].values()) == 12
    assert sum(s["denominator"] for s in data["with_plan"]["by_unit"].values()) == 12
    assert "{" not in result.stdout  # no raw JSON


def test_kva_counts_are_tables(database_url: str, seeded: list[str]) -> None:
    data = json.loads(cli(database_url, "kva", "--from", "2024-01-01", "--to", "2024-12-31",
                          "--json").stdout)
    assert set(data["codes"]) == {"DV077", "AW026", "GC001"}
    plans = data["codes"]["DV077"]
    assert plans["total"] > 0 and sum(plans["by_sex"].values()) == plans["total"]
    result = cli(database_url, "kva", "--from", "2024-01-01", "--to", "2024-12-31")
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["CODE", "TOTAL", "KVINNA", "MAN"] in lines
    assert ["DV077", str(plans["total"]), str(plans["by_sex"]["kvinna"]),
            str(plans["by_sex"]["man"])] in lines


@pytest.fixture
async def fresh_database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """An empty database of this test's own (the module's empty one is shared)."""
    url = await create_database(pg_admin_url)
    yield url
    await drop_database(pg_admin_url, url)


async def test_db_status_lists_applied_and_pending(database_url: str,
                                                   fresh_database_url: str) -> None:
    from store.migrate import available_migrations

    empty_database_url = fresh_database_url
    known = available_migrations()
    current = cli(database_url, "db", "status", "--json")
    assert current.returncode == 0, current.stderr
    status = json.loads(current.stdout)
    assert status["pending"] == 0
    assert [(m["version"], m["state"]) for m in status["migrations"]] == \
        [(m.version, "applied") for m in known]
    table = cli(database_url, "db", "status")
    assert table.stdout.splitlines()[0].split() == ["VERSION", "NAME", "STATE", "APPLIED_AT"]
    assert f"{len(known)} applied, 0 pending" in table.stdout

    fresh = cli(empty_database_url, "db", "status")
    assert fresh.returncode == 1  # something to do: scripts can wait on it
    assert f"0 applied, {len(known)} pending" in fresh.stdout
    assert cli(empty_database_url, "db", "migrate", "--json").returncode == 0
    assert cli(empty_database_url, "db", "status").returncode == 0


def test_rebuild_one_projection_with_progress(database_url: str, seeded: list[str]) -> None:
    result = cli(database_url, "projections", "rebuild", "--projection", "case_summary", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [line for line in result.stdout.splitlines()
                                          if line.startswith("case_summary:")]
    assert "case_measure_facts" not in result.stdout
    progress = result.stderr.splitlines()[-1]
    assert progress.startswith("case_summary [####################] 12/12")
    as_json = cli(database_url, "projections", "rebuild", "--yes", "--json")
    assert as_json.returncode == 0, as_json.stderr
    counts = json.loads(as_json.stdout)["events"]
    assert set(counts) == {"case_summary", "case_measure_facts"}
    assert counts["case_summary"] == counts["case_measure_facts"] > 0
    listed = json.loads(cli(database_url, "cases", "list", "--json").stdout)
    assert listed["total"] == 12


def test_an_unreachable_temporal_is_one_line_and_exit_4() -> None:
    from infra.embedded import free_port

    env = dict(os.environ, SJUKFALL_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    result = subprocess.run([str(SJUKFALL), "replay", "--workflow-id", "case-x"], env=env,
                            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 4
    assert one_line(result).startswith("sjukfall: Temporal 127.0.0.1:")


def test_db_wait_returns_at_once_on_a_current_schema_and_gives_up_on_a_pending_one(
    database_url: str, fresh_database_url: str,
) -> None:
    empty_database_url = fresh_database_url
    current = cli(database_url, "db", "wait", "--timeout", "5")
    assert current.returncode == 0 and "schema is current" in current.stdout
    fresh = cli(empty_database_url, "db", "wait", "--timeout", "1", "--every", "0.2")
    assert fresh.returncode == 1
    assert "gave up after 1s: waiting for migration(s) 0001_events" in fresh.stderr
