"""The case_summary projection: rows equal the domain's summary of the folded events."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain import apply_in_place, evolve, fold, initial_state, summarize
from store.eventstore import EventStore, loads
from store.projections import (
    CaseSummaryProjection,
    rebuild_all,
    summary_columns_missing,
    unpack_state_json,
)
from store.sample_cases import sample_cases, to_new_events
from store.subscription import get_checkpoint, rebuild, run_once

CASES = list(sample_cases(60, seed=3))


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=8)
    yield s
    await s.close()


@pytest.fixture(scope="module")
async def loaded(store: EventStore) -> EventStore:
    """Every sample case appended the way the workflow does it: a few events per decision,
    and cases interleaved, so that batches cut through cases."""
    rng = random.Random(1)
    pending = {cid: to_new_events(evs) for cid, evs in CASES}
    versions = dict.fromkeys(pending, 0)
    while pending:
        cid = rng.choice(list(pending))
        take = rng.randint(1, 4)
        chunk, pending[cid] = pending[cid][:take], pending[cid][take:]
        versions[cid] = await store.append(cid, versions[cid], chunk)
        if not pending[cid]:
            del pending[cid]
    return store


def expected_row(events: list[Any]) -> dict[str, Any]:
    return summarize(fold(events)).model_dump()


async def table(store: EventStore) -> dict[str, dict[str, Any]]:
    rows = await store.pool.fetch(
        "SELECT * FROM case_summary LEFT JOIN case_state USING (case_id) ORDER BY case_id"
    )
    return {r["case_id"]: dict(r) for r in rows}


def test_every_summary_field_has_a_column() -> None:
    assert summary_columns_missing() == []


def test_stored_states_round_trip_compressed_and_in_the_old_plain_form() -> None:
    from domain import CaseState
    from store.projections import pack_state

    state = fold(CASES[0][1])
    assert CaseState.model_validate_json(unpack_state_json(pack_state(state))) == state
    plain = state.model_dump_json().encode()  # rows written before migration 0004
    assert unpack_state_json(plain) == plain
    assert len(pack_state(state)) < len(plain) / 2


def test_folding_in_place_gives_what_evolve_gives() -> None:
    """The three ways to fold (a copy per event, per fold, none) give the same state."""
    for case_id, events in CASES[:10]:
        in_place, evolved = initial_state(case_id), initial_state(case_id)
        for e in events:
            apply_in_place(in_place, e)
            evolved = evolve(evolved, e)
        assert in_place == fold(events) == evolved


async def test_projected_rows_equal_the_domain_summary_of_each_case(loaded: EventStore) -> None:
    projection = CaseSummaryProjection()
    async with loaded.pool.acquire() as conn:  # from scratch, whatever ran before in this module
        await conn.execute("DELETE FROM case_summary")
        await conn.execute("DELETE FROM checkpoints WHERE name = $1", projection.name)
    total = await loaded.pool.fetchval("SELECT count(*) FROM events")
    assert total >= sum(len(evs) for _, evs in CASES)
    assert await run_once(loaded, projection, batch_size=37) == total
    rows = await table(loaded)
    assert {cid for cid, _ in CASES} <= set(rows)
    for case_id, events in CASES:
        row = rows[case_id]
        for field, value in expected_row(events).items():
            assert row[field] == value, (case_id, field)
        assert loads(unpack_state_json(row["state"])) == fold(events).model_dump(mode="json")
    phases = {r["phase"] for r in rows.values()}
    assert {"closed", "plan"} <= phases or len(phases) >= 2  # the sample is varied


async def test_a_cold_projection_continues_from_the_stored_state(loaded: EventStore) -> None:
    """A new process (empty cache) continues each case from the state stored in its row."""
    await run_once(loaded, CaseSummaryProjection(), batch_size=500)
    later = list(sample_cases(8, seed=99, prefix="later"))
    for case_id, events in later:  # the first half now ...
        await loaded.append(case_id, 0, to_new_events(events[: len(events) // 2]))
    await run_once(loaded, CaseSummaryProjection(), batch_size=500)
    for case_id, events in later:  # ... the rest after that process is gone
        half = len(events) // 2
        await loaded.append(case_id, half, to_new_events(events[half:]))
    cold = CaseSummaryProjection(cache_size=0)
    assert await run_once(loaded, cold) == sum(len(e) - len(e) // 2 for _, e in later)
    rows = await table(loaded)
    for case_id, events in later:
        assert {k: rows[case_id][k] for k in expected_row(events)} == expected_row(events)


async def test_rebuild_gives_the_same_rows(loaded: EventStore) -> None:
    projection = CaseSummaryProjection()
    await run_once(loaded, projection, batch_size=500)
    before = await table(loaded)
    checkpoint = await get_checkpoint(loaded, projection.name)
    await loaded.pool.execute("UPDATE case_summary SET days = -1, phase = 'broken'")
    total = await loaded.pool.fetchval("SELECT count(*) FROM events")
    assert await rebuild(loaded, CaseSummaryProjection(cache_size=5), batch_size=23) == total
    assert await table(loaded) == before
    assert await get_checkpoint(loaded, projection.name) == checkpoint


class FailingOnce(CaseSummaryProjection):
    """case_summary whose `handle` raises on its n-th call (a crash between pages)."""

    def __init__(self, fail_at_call: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls, self.fail_at_call = 0, fail_at_call

    async def handle(self, conn: Any, events: list[Any]) -> None:
        self.calls += 1
        if self.calls == self.fail_at_call:
            raise RuntimeError("worker lost")
        await super().handle(conn, events)


async def test_a_rebuild_cut_short_is_completed_by_the_catch_up_without_doubling(
    loaded: EventStore,
) -> None:
    """A rebuild reads case by case; the checkpoint stays at 0 until every case is folded, so
    a crash leaves whole cases behind, and the next catch-up from 0 skips what they hold."""
    await run_once(loaded, CaseSummaryProjection(), batch_size=500)
    before = await table(loaded)
    with pytest.raises(RuntimeError, match="worker lost"):
        await rebuild(loaded, FailingOnce(fail_at_call=3), batch_size=97)
    assert await get_checkpoint(loaded, "case_summary") == 0
    partial = await table(loaded)
    assert 0 < len(partial) < len(before)
    # every case written is whole but the last, which may continue on the next page
    cut = [c for c in partial if partial[c] != before[c]]
    assert len(cut) <= 1 and all(partial[c]["version"] < before[c]["version"] for c in cut)
    await run_once(loaded, CaseSummaryProjection(cache_size=0), batch_size=50)
    assert await table(loaded) == before


class AppendingDuringRebuild(CaseSummaryProjection):
    """case_summary that appends events (a live workflow) while its rebuild reads case by case."""

    def __init__(self, store: EventStore, appends: list[tuple[str, list[Any]]]) -> None:
        super().__init__()
        self.store, self.appends = store, appends

    async def handle(self, conn: Any, events: list[Any]) -> None:
        if self.appends:
            case_id, events_to_add = self.appends.pop()
            version = await self.store.stream_version(case_id)
            await self.store.append(case_id, version, to_new_events(events_to_add))
        await super().handle(conn, events)


async def test_events_appended_during_a_rebuild_are_in_its_rows(loaded: EventStore) -> None:
    late = list(sample_cases(3, seed=71, prefix="during"))
    for case_id, events in late[:2]:  # two cases that exist before the rebuild starts
        await loaded.append(case_id, 0, to_new_events(events[:3]))
    appends = [(late[0][0], late[0][1][3:]), (late[1][0], late[1][1][3:]), late[2]]
    total = await loaded.pool.fetchval("SELECT count(*) FROM events")
    applied = await rebuild(loaded, AppendingDuringRebuild(loaded, appends), batch_size=101)
    assert applied == total + sum(len(e) for _, e in late) - 6
    rows = await table(loaded)
    for case_id, events in late:
        assert {k: rows[case_id][k] for k in expected_row(events)} == expected_row(events)


class CatchingUpDuringRebuild(CaseSummaryProjection):
    """case_summary that lets another runner (an API's catch-up) try its luck on every page
    of its rebuild."""

    def __init__(self, store: EventStore) -> None:
        super().__init__()
        self.store, self.others_applied = store, []

    async def handle(self, conn: Any, events: list[Any]) -> None:
        other = asyncio.wait_for(run_once(self.store, CaseSummaryProjection()), timeout=10)
        self.others_applied.append(await other)
        await super().handle(conn, events)


async def test_other_runners_leave_a_projection_alone_while_its_rebuild_replays_it(
    loaded: EventStore,
) -> None:
    """Instead of folding everything again from position 0 beside the rebuild (a request's
    read-your-writes catch-up would take as long as the rebuild), they return at once."""
    await run_once(loaded, CaseSummaryProjection(), batch_size=500)
    before = await table(loaded)
    projection = CatchingUpDuringRebuild(loaded)
    await rebuild(loaded, projection, batch_size=150)
    assert len(projection.others_applied) > 2 and set(projection.others_applied) == {0}
    assert await table(loaded) == before
    assert await run_once(loaded, CaseSummaryProjection()) == 0  # and afterwards: caught up


async def test_rebuild_all_rebuilds_every_projection(loaded: EventStore, database_url: str) -> None:
    await run_once(loaded, CaseSummaryProjection())  # up to date, whichever test ran before
    before = await table(loaded)
    counts = await rebuild_all(database_url)
    total = await loaded.pool.fetchval("SELECT count(*) FROM events")
    assert counts == {"case_summary": total, "case_measure_facts": total}
    assert await table(loaded) == before


async def test_the_background_runner_keeps_case_summary_current(
    loaded: EventStore, database_url: str
) -> None:
    import asyncio

    from store.projections import run_projections_forever

    stop = asyncio.Event()
    task = asyncio.create_task(run_projections_forever(database_url, poll_interval=0.02, stop=stop))
    case_id, events = next(iter(sample_cases(1, seed=123, prefix="live")))
    await loaded.append(case_id, 0, to_new_events(events))

    async def projected() -> dict[str, Any] | None:
        while (row := (await table(loaded)).get(case_id)) is None or row["version"] < len(events):
            await asyncio.sleep(0.02)
        return row

    row = await asyncio.wait_for(projected(), timeout=15)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert row is not None and {k: row[k] for k in expected_row(events)} == expected_row(events)
