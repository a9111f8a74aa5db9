"""The operator's command line masks a protected patient's identity (issue #15): the operator
reads as ops, and ops are not the patient's physician."""

from __future__ import annotations

import json

from store.eventstore import EventStore, NewEvent
from store.projections import rebuild_all
from store.sample_cases import sample_cases, to_new_events
from tests.foundation.test_cli import cli


async def test_case_show_and_events_hide_a_protected_identity(database_url: str) -> None:
    [(case_id, events)] = list(sample_cases(1, seed=15, prefix="protected"))
    records = to_new_events(events)
    opened = records[0]
    assert opened.type == "CaseOpened"
    pnr = opened.data["patient_id"]
    records[0] = NewEvent(opened.event_id, opened.type, opened.schema_version,
                          {**opened.data, "protected_identity": True}, opened.metadata)
    async with await EventStore.connect(database_url) as store:
        await store.append(case_id, 0, records)
    await rebuild_all(database_url)
    digits = pnr.replace("-", "")
    for command in ("show", "events"):
        for extra in ((), ("--json",)):
            shown = cli(database_url, "case", command, case_id, *extra)
            assert shown.returncode == 0, shown.stderr
            assert digits not in shown.stdout and digits[2:] not in shown.stdout.replace("-", "")
    data = json.loads(cli(database_url, "case", "events", case_id, "--json").stdout)
    assert data[0]["data"]["patient_id"] is None


async def test_case_find_by_identity_number_is_logged(database_url: str) -> None:
    [(case_id, events)] = list(sample_cases(1, seed=16, prefix="find"))
    records = to_new_events(events)
    pnr = records[0].data["patient_id"]
    async with await EventStore.connect(database_url) as store:
        await store.append(case_id, 0, records)
    await rebuild_all(database_url)
    found = cli(database_url, "case", "find", pnr, "--purpose", "patient request 9", "--json")
    assert found.returncode == 0, found.stderr
    assert case_id in [r["case_id"] for r in json.loads(found.stdout)]
    async with await EventStore.connect(database_url) as store:
        logged = await store.pool.fetch(
            "SELECT action, purpose FROM access_log WHERE case_id = $1", case_id)
    assert [tuple(r) for r in logged] == [("cli:find", "patient request 9")]
    blank = cli(database_url, "case", "find", pnr, "--purpose", " ")
    assert blank.returncode != 0 and "purpose" in blank.stderr
