"""Catch-up subscriptions: checkpoints move with the projection's rows, never apart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store.eventstore import EventStore, NewEvent, RecordedEvent
from store.subscription import get_checkpoint, rebuild, run_forever, run_once


def ev(**data: object) -> NewEvent:
    return NewEvent(str(uuid.uuid4()), "Noted", 1, dict(data), {})


class AppliedLog:
    """Writes one row per event applied, with no unique key, so applying twice would show."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.table = f"applied_{name}"
        self.fail_at_call: int | None = None
        self.terminate_at_call: int | None = None
        self.calls = 0

    async def create(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"CREATE TABLE {self.table} (position bigint, stream_id text, version int, n int)"
        )

    async def handle(self, conn: asyncpg.Connection, events: list[RecordedEvent]) -> None:
        self.calls += 1
        half = len(events) // 2
        await conn.executemany(
            f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4)",
            [(e.position, e.stream_id, e.version, e.data["n"]) for e in events[:half]],
        )
        if self.calls == self.fail_at_call:
            raise RuntimeError("handler crashed midway through a batch")
        if self.calls == self.terminate_at_call:  # the process dies: the server drops the session
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await conn.executemany(
            f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4)",
            [(e.position, e.stream_id, e.version, e.data["n"]) for e in events[half:]],
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DELETE FROM {self.table}")


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=10)
    yield s
    await s.close()


async def fill(store: EventStore, streams: int, per_stream: int) -> int:
    for _s in range(streams):
        await store.append(f"fill-{uuid.uuid4()}", 0, [ev(n=i) for i in range(per_stream)])
    return streams * per_stream


async def projection(store: EventStore) -> AppliedLog:
    p = AppliedLog(f"p{uuid.uuid4().hex[:8]}")
    async with store.pool.acquire() as conn:
        await p.create(conn)
    return p


async def rows(store: EventStore, p: AppliedLog) -> list[tuple[int, str, int, int]]:
    return [tuple(r) for r in await store.pool.fetch(f"SELECT * FROM {p.table} ORDER BY position")]


async def all_positions(store: EventStore) -> list[int]:
    return [
        r["position"]
        for r in await store.pool.fetch("SELECT position FROM events ORDER BY position")
    ]


async def test_run_once_applies_everything_once_and_then_nothing(store: EventStore) -> None:
    await fill(store, 7, 9)
    p = await projection(store)
    total = len(await all_positions(store))
    assert await run_once(store, p, batch_size=10) == total
    assert await run_once(store, p, batch_size=10) == 0
    assert [r[0] for r in await rows(store, p)] == await all_positions(store)
    assert await get_checkpoint(store, p.name) == (await all_positions(store))[-1]

    await fill(store, 2, 3)
    assert await run_once(store.pool, p, batch_size=10) == 6  # a bare pool works too
    assert [r[0] for r in await rows(store, p)] == await all_positions(store)


@pytest.mark.parametrize("crash", ["raises", "connection dies"])
async def test_a_crash_midway_through_a_batch_leaves_rows_and_checkpoint_consistent(
    store: EventStore, crash: str
) -> None:
    await fill(store, 5, 10)
    p = await projection(store)
    total = len(await all_positions(store))
    if crash == "raises":
        p.fail_at_call = 3
    else:
        p.terminate_at_call = 3
    with pytest.raises(
        (RuntimeError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)
    ):
        await run_once(store, p, batch_size=8)

    # Two batches committed; the third's half-written rows were rolled back with its checkpoint.
    applied = await rows(store, p)
    checkpoint = await get_checkpoint(store, p.name)
    assert len(applied) == 16
    assert applied[-1][0] == checkpoint
    assert [r[0] for r in applied] == [
        pos for pos in await all_positions(store) if pos <= checkpoint
    ]

    # The rerun resumes after the checkpoint and applies every remaining event exactly once.
    p.fail_at_call = p.terminate_at_call = None
    assert await run_once(store, p, batch_size=8) == total - 16
    assert [r[0] for r in await rows(store, p)] == await all_positions(store)


async def test_two_runners_of_one_projection_never_apply_an_event_twice(store: EventStore) -> None:
    await fill(store, 10, 20)
    p = await projection(store)
    counts = await asyncio.gather(*(run_once(store, p, batch_size=15) for _ in range(4)))
    assert sum(counts) == len(await all_positions(store))
    assert [r[0] for r in await rows(store, p)] == await all_positions(store)


async def test_rebuild_replays_from_zero_to_the_same_rows(store: EventStore) -> None:
    await fill(store, 6, 6)
    p = await projection(store)
    await run_once(store, p, batch_size=50)
    before = await rows(store, p)
    checkpoint = await get_checkpoint(store, p.name)
    async with store.pool.acquire() as conn:  # damage the projection: rebuild must repair it
        await conn.execute(f"UPDATE {p.table} SET n = -1 WHERE version = 2")
    assert await rebuild(store, p, batch_size=7) == len(before)
    assert await rows(store, p) == before
    assert await get_checkpoint(store, p.name) == checkpoint


async def test_run_forever_follows_new_appends_until_stopped(store: EventStore) -> None:
    p = await projection(store)
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(store, [p], poll_interval=0.02, batch_size=5, stop=stop))
    stream = f"live-{uuid.uuid4()}"
    await store.append(stream, 0, [ev(n=1), ev(n=2)])
    await store.append(stream, 2, [ev(n=3)])

    async def caught_up() -> None:
        while (await get_checkpoint(store, p.name)) != (await all_positions(store))[-1]:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(caught_up(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert [r[3] for r in await rows(store, p) if r[1] == stream] == [1, 2, 3]
