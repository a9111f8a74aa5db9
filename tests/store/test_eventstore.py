"""The event store against a real PostgreSQL: appends, conflicts, retries, reads, append-only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store.eventstore import DuplicateEventId, EventStore, NewEvent, WrongExpectedVersion


def ev(type_: str = "Noted", **data: object) -> NewEvent:
    return NewEvent(
        event_id=str(uuid.uuid4()),
        type=type_,
        schema_version=1,
        data=dict(data),
        metadata={"recorded_by": "tester", "correlation_id": "c-1"},
    )


def new_stream() -> str:
    return f"case-{uuid.uuid4()}"


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=20)
    yield s
    await s.close()


async def test_append_then_read_stream_round_trips_every_field(store: EventStore) -> None:
    stream = new_stream()
    events = [
        ev("CaseOpened", unit="U1", nested={"a": [1, 2]}),
        ev("CertificateRecorded", grade=100),
    ]
    assert await store.append(stream, 0, events) == 2
    assert await store.append(stream, 2, [ev("CaseClosed", reason="recovered")]) == 3

    read = await store.read_stream(stream)
    assert [r.version for r in read] == [1, 2, 3]
    assert [r.type for r in read] == ["CaseOpened", "CertificateRecorded", "CaseClosed"]
    assert read[0].event_id == events[0].event_id
    assert read[0].data == {"unit": "U1", "nested": {"a": [1, 2]}}
    assert read[0].metadata == {"recorded_by": "tester", "correlation_id": "c-1"}
    assert read[0].stream_id == stream and read[0].schema_version == 1
    assert read[0].recorded_at.tzinfo is not None
    assert read[0].position < read[1].position < read[2].position
    assert [r.version for r in await store.read_stream(stream, from_version=1)] == [2, 3]
    assert await store.stream_version(stream) == 3
    assert await store.stream_exists(stream)
    assert not await store.stream_exists(new_stream())
    assert await store.stream_version(new_stream()) == 0


async def test_stale_expected_version_raises_a_typed_conflict_and_writes_nothing(
    store: EventStore,
) -> None:
    stream = new_stream()
    await store.append(stream, 0, [ev(), ev()])

    with pytest.raises(WrongExpectedVersion) as behind:
        await store.append(stream, 1, [ev(), ev()])  # someone else already wrote version 2
    assert (behind.value.stream_id, behind.value.expected, behind.value.actual) == (stream, 1, 2)

    with pytest.raises(WrongExpectedVersion) as ahead:
        await store.append(stream, 5, [ev()])  # the stream is not that far yet
    assert (ahead.value.expected, ahead.value.actual) == (5, 2)

    with pytest.raises(WrongExpectedVersion) as exists:
        await store.append(stream, 0, [ev()])  # "new stream" but it exists
    assert exists.value.actual == 2

    assert [r.version for r in await store.read_stream(stream)] == [1, 2]


async def test_reappending_the_same_event_ids_is_a_no_op_returning_the_same_version(
    store: EventStore,
) -> None:
    stream = new_stream()
    first = [ev("A"), ev("B")]
    assert await store.append(stream, 0, first) == 2
    second = [ev("C")]
    assert await store.append(stream, 2, second) == 3
    before = await store.read_stream(stream)

    # A retried activity re-sends its append after the reply was lost: same ids, same versions.
    assert await store.append(stream, 0, first) == 2
    assert await store.append(stream, 2, second) == 3
    assert await store.append(stream, 2, [second[0]]) == 3
    assert await store.read_stream(stream) == before

    # The same expected version with different ids is a real conflict.
    with pytest.raises(WrongExpectedVersion):
        await store.append(stream, 2, [ev("D")])
    # Half the same ids is a conflict too, and writes nothing.
    with pytest.raises(WrongExpectedVersion):
        await store.append(stream, 0, [first[0], ev("E")])
    assert await store.read_stream(stream) == before


async def test_an_event_id_recorded_elsewhere_is_refused(store: EventStore) -> None:
    a, b = new_stream(), new_stream()
    taken = ev()
    await store.append(a, 0, [taken])
    with pytest.raises(DuplicateEventId) as err:
        await store.append(b, 0, [ev(), taken])
    assert err.value.event_ids == [taken.event_id]
    assert not await store.stream_exists(b)
    twice = ev()
    with pytest.raises(DuplicateEventId):
        await store.append(b, 0, [twice, twice])
    assert not await store.stream_exists(b)


async def test_empty_append_checks_the_version_and_writes_nothing(store: EventStore) -> None:
    stream = new_stream()
    assert await store.append(stream, 0, []) == 0
    await store.append(stream, 0, [ev()])
    assert await store.append(stream, 1, []) == 1
    with pytest.raises(WrongExpectedVersion):
        await store.append(stream, 0, [])


async def test_concurrent_writers_to_one_stream_exactly_one_wins_each_version(
    store: EventStore,
) -> None:
    stream = new_stream()
    await store.append(stream, 0, [ev("Opened")])
    writers = 12
    rounds = 15
    wins: list[tuple[int, str]] = []

    async def writer(name: str) -> None:
        for _ in range(rounds):
            version = await store.stream_version(stream)
            event = ev("Wrote", writer=name)
            try:
                new_version = await store.append(stream, version, [event])
            except WrongExpectedVersion as conflict:
                assert conflict.actual > version
                continue
            wins.append((new_version, event.event_id))

    await asyncio.gather(*(writer(f"w{i}") for i in range(writers)))
    stored = await store.read_stream(stream)
    assert [r.version for r in stored] == list(range(1, len(stored) + 1))
    # every reported win is stored at exactly the version reported, and nothing else is stored
    assert sorted(wins) == sorted((r.version, r.event_id) for r in stored[1:])
    assert len({v for v, _ in wins}) == len(wins)
    assert len(wins) >= rounds  # progress was made


async def test_events_are_append_only_even_for_the_owner(
    store: EventStore, db: asyncpg.Connection
) -> None:
    stream = new_stream()
    await store.append(stream, 0, [ev(note="original")])
    for statement in (
        'UPDATE events SET data = \'{"note": "forged"}\' WHERE stream_id = $1',
        "DELETE FROM events WHERE stream_id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(statement, stream)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("TRUNCATE events")
    [only] = await store.read_stream(stream)
    assert only.data == {"note": "original"}


async def test_read_all_pages_in_position_order_from_an_exclusive_position(
    store: EventStore,
) -> None:
    start = await store.head_position()
    streams = [new_stream() for _ in range(3)]
    for i in range(4):
        for s in streams:
            await store.append(s, i, [ev(i=i)])
    got = []
    position = start
    while page := await store.read_all(position, limit=5):
        assert len(page) <= 5
        got.extend(page)
        position = page[-1].position
    assert len(got) == 12
    assert [g.position for g in got] == sorted(g.position for g in got)
    assert [(g.stream_id, g.version) for g in got] == [
        (s, i + 1) for i in range(4) for s in streams
    ]
    assert await store.read_all(position) == []


async def test_the_same_append_racing_itself_is_stored_once_and_every_caller_gets_the_version(
    store: EventStore,
) -> None:
    stream = new_stream()
    await store.append(stream, 0, [ev()])
    batch = [ev("Retried"), ev("Retried")]
    results = await asyncio.gather(*(store.append(stream, 1, batch) for _ in range(6)))
    assert results == [3] * 6
    assert [r.event_id for r in await store.read_stream(stream, from_version=1)] == [
        e.event_id for e in batch
    ]
