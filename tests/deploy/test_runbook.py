"""docs/operations.md: its commands exist and run, and it documents what the deployment runs."""

from __future__ import annotations

import asyncio
import re
import shlex
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from domain import decide, event_to_record, initial_state
from domain.calendar import day_start
from domain.commands import Actor, OpenCase
from infra.settings import get_settings
from store.eventstore import EventStore, NewEvent
from tests.deploy.support import (
    OPERATIONS,
    ROOT,
    as_list,
    compose,
    image_command,
    k8s_workloads,
    require_command,
    settings_env_names,
    sjukfall_services,
)
from tests.workflows.support import PNR, certificate


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.DOTALL)


def sjukfall_commands(text: str) -> list[list[str]]:
    """Every `sjukfall ...` line of the shell blocks, comments and continuations handled."""
    out = []
    for block in code_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("sjukfall "):
                out.append(shlex.split(line.replace("[", "").replace("]", ""))[1:])
    return out


RUNBOOK = OPERATIONS.read_text()


@pytest.mark.parametrize("args", sjukfall_commands(RUNBOOK), ids=" ".join)
def test_every_runbook_command_exists_with_its_options(args: list[str]) -> None:
    require_command(args, "docs/operations.md")


@pytest.mark.parametrize("args", sjukfall_commands((ROOT / "README.md").read_text()), ids=" ".join)
def test_every_readme_command_exists_with_its_options(args: list[str]) -> None:
    require_command(args, "README.md")


def deployed_commands() -> set[tuple[str, ...]]:
    commands = {tuple(image_command()[1])}
    commands |= {tuple(as_list(s["command"])) for s in sjukfall_services(compose()).values()}
    for _name, spec in k8s_workloads():
        commands |= {tuple(c["args"]) for c in spec["containers"]}
    return commands


@pytest.mark.parametrize("command", sorted(deployed_commands()), ids=" ".join)
def test_what_the_deployment_runs_is_documented(command: tuple[str, ...]) -> None:
    assert f"sjukfall {' '.join(command)}" in RUNBOOK


def test_every_variable_the_runbook_names_is_a_setting() -> None:
    named = set(re.findall(r"\bSJUKFALL_[A-Z0-9_]+\b", RUNBOOK)) - {
        "SJUKFALL_OPERATOR", "SJUKFALL_WORKERS", "SJUKFALL_DEBUG"}  # read by the CLI / compose
    assert named - settings_env_names() == set()


def test_the_new_settings_are_documented() -> None:
    for name in ("SJUKFALL_TEMPORAL_TLS_CERT", "SJUKFALL_TEMPORAL_TLS_KEY", "SJUKFALL_TEMPORAL_TLS_CA",
                 "SJUKFALL_TEMPORAL_API_KEY", "SJUKFALL_TEMPORAL_INSECURE",
                 "SJUKFALL_WORKER_METRICS_PORT", "SJUKFALL_TEMPORAL_METRICS_PORT",
                 "SJUKFALL_OTLP_ENDPOINT", "SJUKFALL_TRACE_SAMPLE_RATIO"):
        assert f"`{name}`" in RUNBOOK, name


def test_the_runbook_names_the_metrics_that_exist() -> None:
    from prometheus_client import REGISTRY

    import api.observability  # noqa: F401  (registers the HTTP series)
    import infra.metrics  # noqa: F401  (registers the series)

    ours = {m.name for m in REGISTRY.collect() if m.name.startswith("sjukfall_")}
    for name in set(re.findall(r"`(sjukfall_[a-z_]+)", RUNBOOK)):
        base = re.sub(r"_total$", "", name)
        assert base in ours, f"docs/operations.md names {name}, which is not a metric"


# --- and they run -------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"SJUKFALL_DATABASE_URL": database_url, "SJUKFALL_ENV": "dev"}
    get_settings.cache_clear()


def run(args: list[str], env: dict[str, str]) -> str:
    from sjukfall.cli import app

    get_settings.cache_clear()
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, f"sjukfall {' '.join(args)}: {result.output}"
    return result.output


async def seeded_case(database_url: str) -> str:
    case_id = uuid.uuid4().hex[:12]
    start = date(2026, 3, 2)
    command = OpenCase(actor=Actor(id="dr-anna", role="physician", unit_id="vc-norr"),
                       case_id=case_id, patient_id=PNR, unit_id="vc-norr",
                       sick_period_start=start, certificate=certificate(start, 1, 20))
    events = decide(command, initial_state(case_id), day_start(start, 1) + timedelta(hours=9))
    async with await EventStore.connect(database_url) as store:
        await store.append(case_id, 0, [NewEvent(e.event_id, *event_to_record(e)) for e in events])
    return case_id


async def access_log(database_url: str, case_id: str) -> list[dict[str, Any]]:
    from store.access_log import accesses_for_case

    async with await EventStore.connect(database_url) as store:
        return await accesses_for_case(store.pool, case_id)


def test_the_runbook_commands_run(cli_env: dict[str, str], database_url: str) -> None:
    """Sync on purpose: the CLI runs its own event loop, as it does in a shell."""
    case_id = asyncio.run(seeded_case(database_url))

    assert "applied 0 migration(s)" in run(["db", "migrate"], cli_env)
    assert "case_summary:" in run(["projections", "rebuild", "--yes"], cli_env)
    assert "0 pending" in run(["db", "status"], cli_env)
    assert "dry run: nothing purged" in run(["retention", "--dry-run"], cli_env)
    shown = run(["case", "show", case_id, "--as", "ops-anna", "--purpose", "PDL request 2026-117"],
                cli_env)
    assert case_id in shown and "CaseOpened" in shown
    assert "CaseOpened" in run(["case", "events", case_id, "--as", "ops-anna", "--json"], cli_env)

    # the read is in the access log a patient's request is answered from
    log = asyncio.run(access_log(database_url, case_id))
    assert any(r["actor_id"] == "ops-anna" and r["purpose"] == "PDL request 2026-117" for r in log)
