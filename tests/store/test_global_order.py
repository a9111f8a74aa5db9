"""Gap safety: a reader catching up by global position never skips an event, even one whose
transaction started earlier (lower position) but commits later than events it has already read."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from store.eventstore import EventStore, NewEvent, RecordedEvent, append_on


def ev(**data: object) -> NewEvent:
    return NewEvent(str(uuid.uuid4()), "Noted", 1, dict(data), {})


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, min_size=2, max_size=30)
    yield s
    await s.close()


async def test_an_event_committed_later_with_a_lower_position_is_not_skipped(
    store: EventStore,
) -> None:
    start = await store.head_position()
    slow_stream, fast_stream = f"slow-{uuid.uuid4()}", f"fast-{uuid.uuid4()}"
    async with store.pool.acquire() as slow:
        tx = slow.transaction()
        await tx.start()
        await append_on(slow, slow_stream, 0, [ev(who="slow")])  # lower position, not committed
        await store.append(fast_stream, 0, [ev(who="fast")])  # higher position, committed

        # The hazard is real: a naive "position > checkpoint" read sees the later event now ...
        naive = await store.pool.fetch(
            "SELECT stream_id FROM events WHERE position > $1 ORDER BY position", start
        )
        assert [r["stream_id"] for r in naive] == [fast_stream]
        # ... and a reader that checkpointed it would never see the slow one. read_all holds it back.
        assert await store.read_all(start) == []

        await tx.commit()
    got = await store.read_all(start)
    assert [e.stream_id for e in got] == [slow_stream, fast_stream]


async def test_concurrent_writers_to_many_streams_and_a_reader_that_never_misses_an_event(
    store: EventStore,
) -> None:
    start = await store.head_position()
    streams = [f"case-{uuid.uuid4()}" for _ in range(40)]
    versions = {s: 0 for s in streams}
    locks = {
        s: asyncio.Lock() for s in streams
    }  # one writer per stream at a time, like the workflow
    committed: set[str] = set()
    rolled_back: set[str] = set()
    stop = asyncio.Event()
    writers_done = asyncio.Event()
    rng = random.Random(4)

    async def writer() -> None:
        while not stop.is_set():
            stream = rng.choice(streams)
            async with locks[stream]:
                batch = [ev(n=i) for i in range(rng.choice([1, 1, 1, 2, 5]))]
                mode = rng.random()
                if mode < 0.6:  # a plain append
                    versions[stream] = await store.append(stream, versions[stream], batch)
                    committed.update(e.event_id for e in batch)
                    continue
                # an append whose transaction stays open a while (slow commit), or rolls back
                async with store.pool.acquire() as conn:
                    tx = conn.transaction()
                    await tx.start()
                    new_version = await append_on(conn, stream, versions[stream], batch)
                    await asyncio.sleep(rng.uniform(0, 0.02))
                    if mode < 0.9:
                        await tx.commit()
                        versions[stream] = new_version
                        committed.update(e.event_id for e in batch)
                    else:
                        await tx.rollback()
                        rolled_back.update(e.event_id for e in batch)

    seen: list[RecordedEvent] = []

    async def reader() -> None:
        position = start
        while True:
            done = (
                writers_done.is_set()
            )  # checked before reading: the last read follows every commit
            page = await store.read_all(position, limit=rng.choice([1, 7, 100]))
            if page:
                seen.extend(page)
                position = page[-1].position
            elif done:
                return
            else:
                await asyncio.sleep(0.001)

    # Run for 2.5 s and 2,000 committed events, whichever is later (a loaded CI machine), but
    # never longer than 8 s.
    started = time.monotonic()
    writers = [asyncio.create_task(writer()) for _ in range(16)]
    reading = asyncio.create_task(reader())
    while True:
        await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        if (elapsed >= 2.5 and len(committed) >= 2000) or elapsed >= 8:
            break
    stop.set()
    await asyncio.gather(*writers)
    writers_done.set()
    await reading

    assert len(committed) > 300, "the writers did not write enough to make the test meaningful"
    assert rolled_back, "no transaction rolled back"
    seen_ids = [e.event_id for e in seen]
    assert len(seen_ids) == len(set(seen_ids)), "an event was delivered twice"
    assert set(seen_ids) == committed, (
        f"missed {len(committed - set(seen_ids))}, phantom {len(set(seen_ids) - committed)}"
    )
    positions = [e.position for e in seen]
    assert positions == sorted(positions)
    # and within every stream the reader saw versions 1, 2, 3, ... in order
    per_stream: dict[str, list[int]] = {}
    for e in seen:
        per_stream.setdefault(e.stream_id, []).append(e.version)
    for stream, vs in per_stream.items():
        assert vs == list(range(1, len(vs) + 1)), stream
