"""The event store: streams with optimistic concurrency over one PostgreSQL table, `events`.

Appends
-------
`append(stream_id, expected_version, events)` is ONE statement, so one implicit transaction and
one round trip on the happy path: an `INSERT ... SELECT FROM unnest(...)` that writes versions
`expected+1 .. expected+n`, guarded by `WHERE expected = 0 OR <version expected exists>`.

- A stale `expected_version` collides with UNIQUE (stream_id, version), or (stream behind the
  expectation) inserts nothing; either way the whole statement writes nothing and we raise
  `WrongExpectedVersion(stream_id, expected, actual)`. Of N concurrent writers expecting the
  same version exactly one wins.
- Idempotent retries: when the insert collides and the events already stored at versions
  `expected+1 .. expected+n` carry exactly the ids being appended, it was our own earlier
  append (an activity retried after a lost reply): nothing is written, no error, and the
  version after those events (`expected + n`, what the first call returned) is returned.
- An event id stored anywhere else raises `DuplicateEventId`.
- Versions are dense (1, 2, 3, ...) by construction.

Global order, and why a catch-up reader never skips an event (gap safety)
-------------------------------------------------------------------------
The classic hazard: positions come from a sequence, transaction A takes position 11, B takes 12,
B commits first; a reader sees 12, stores checkpoint 12, and never sees 11 when A commits.
eventsourcing avoids it with `LOCK TABLE ... IN EXCLUSIVE MODE` for the whole append, which
serialises every commit (including its WAL flush) and so gives up group commit.

We take neither a lock nor a sequence. The position of an event is

    position = (transaction id of its append << 20) + index within the append   (index >= 1)

(`pg_current_xact_id()`, the 64-bit, never-wrapping xid8), so positions are ordered by the
transaction that wrote them, and `read_all` only returns rows below the horizon

    position < pg_snapshot_xmin(pg_current_snapshot()) << 20

taken from the same snapshot that the read uses. `pg_snapshot_xmin` is the oldest transaction
id still in progress. Every transaction with a smaller id has finished (committed, and hence
visible to the read, or aborted, and hence will never appear), and every transaction that is
running now or starts later has an id >= xmin, so its events land above the horizon. The set of
events below the horizon can therefore never grow again: a reader that has read everything up
to position p will find every event it has not yet seen above p. Within one stream the order of
positions agrees with the order of versions, because version n+1 can only be inserted after the
transaction that wrote version n has committed, and ids are handed out in increasing order.

Costs, documented:
- positions are not dense (they jump by ~2^20 per transaction); treat them as opaque, ordered
  cursors (like EventStoreDB's commit positions). An append holds at most 2^20 - 1 events.
- a reader only sees an event once every writing transaction that started before it ended (in
  the whole cluster, since xids are cluster-wide). Keep write transactions short, and set
  `idle_in_transaction_session_timeout` so that a forgotten open transaction cannot stall the
  projections. Appends themselves are single statements.
- no NOTIFY on append: NOTIFY serialises committing transactions on a global lock, which would
  cost the same as the table lock. Subscriptions poll (store/subscription.py).

Append-only
-----------
Triggers reject UPDATE, DELETE and TRUNCATE on `events` for every role (see
migrations/0001_events.sql): the tests and the embedded stack connect as the owner/superuser,
whom a REVOKE would not bind.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import decimal
import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg
import pydantic_core

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


POSITION_SHIFT = 20
MAX_EVENTS_PER_APPEND = (1 << POSITION_SHIFT) - 1


@dataclass(frozen=True)
class NewEvent:
    event_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


class RecordedEvent(NamedTuple):
    """A stored event (a tuple: rebuilds make millions of them, and a frozen dataclass costs
    several times more to construct)."""

    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: _dt.datetime


# SQLSTATE classes that say "not now" rather than "never": connection exceptions,
# transaction rollbacks (serialization failures, deadlocks), insufficient resources, operator
# intervention (shutdown, starting up) and system errors (I/O).
TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")


def is_transient(err: BaseException) -> bool:
    """Whether trying the same write again later can succeed. PostgreSQL's verdict on the data
    (a value it cannot hold, a constraint) and data our side cannot encode fail the same way
    every time: never retried. Anything else on the way (connections, the pool, timeouts) is."""
    if isinstance(err, asyncpg.PostgresError):
        return str(err.sqlstate or "")[:2] in TRANSIENT_SQLSTATE_CLASSES
    return not isinstance(err, (ValueError, TypeError))


class WrongExpectedVersion(Exception):
    """The stream is not at the version the writer expected (a concurrent write won)."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, the append expected {expected}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.stream_id, self.expected, self.actual))


class DuplicateEventId(Exception):
    """An event id being appended is already stored, but not at the versions being written."""

    def __init__(self, stream_id: str, event_ids: list[str]) -> None:
        self.stream_id = stream_id
        self.event_ids = event_ids
        super().__init__(
            f"event ids already recorded elsewhere (append to {stream_id!r}): {event_ids}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.stream_id, self.event_ids))


# --- JSON codec ---------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def loads(text: str | bytes) -> Any:
    """JSON text to Python, with pydantic-core's parser (~3x json.loads; rebuilds are bound by it)."""
    return pydantic_core.from_json(text)


async def init_connection(conn: Conn) -> None:
    """asyncpg `init` hook: jsonb and json come and go as Python dicts/lists."""
    for name in ("jsonb", "json"):
        await conn.set_type_codec(name, encoder=dumps, decoder=loads, schema="pg_catalog")


async def _keep_session(conn: Conn) -> None:
    """Pool `reset` hook that sends nothing.

    asyncpg's default reset runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release: one extra round trip per append, ~25% of the single-append throughput.
    Open transactions are still rolled back by asyncpg before this hook runs. Code using this
    pool must not leave session state behind: use SET LOCAL and transaction advisory locks.
    """


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        reset=_keep_session,
        # Every statement is planned for its own values. The case list's filters meet skewed
        # data (a text search, one unit of many, cases clustered in time): after five runs of
        # a prepared statement PostgreSQL may keep a generic plan that ignores the values and
        # was three times slower at 100,000 cases (BENCHMARKS.md); planning costs ~0.1 ms.
        server_settings={"plan_cache_mode": "force_custom_plan"},
    )
    assert pool is not None
    return pool


# --- SQL ----------------------------------------------------------------------------------

_COLUMNS = (
    "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"
)

_APPEND_ONE = """
INSERT INTO events (position, stream_id, version, event_id, type, schema_version, data, metadata)
SELECT (pg_current_xact_id()::text::bigint << 20) + 1, $1, $2 + 1, $3, $4, $5, $6::text::jsonb,
       $7::text::jsonb
WHERE $2 = 0 OR EXISTS (SELECT FROM events WHERE stream_id = $1 AND version = $2)
"""

_APPEND_MANY = """
INSERT INTO events (position, stream_id, version, event_id, type, schema_version, data, metadata)
SELECT (pg_current_xact_id()::text::bigint << 20) + e.i, $1, $2 + e.i::int, e.event_id, e.type,
       e.schema_version, e.data::jsonb, e.metadata::jsonb
FROM unnest($3::text[], $4::text[], $5::int[], $6::text[], $7::text[])
     WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, i)
WHERE $2 = 0 OR EXISTS (SELECT FROM events WHERE stream_id = $1 AND version = $2)
"""

_HORIZON = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)"

_READ_ALL = f"""
SELECT {_COLUMNS} FROM events
WHERE position > $1 AND position < {_HORIZON}
ORDER BY position
LIMIT $2
"""


def _raw(sql: str) -> str:
    """The query with `data` and `metadata` as JSON text (see read_all's `raw_json`)."""
    return sql.replace("data, metadata", "data::text, metadata::text")


_READ_ALL_RAW = _raw(_READ_ALL)

_READ_BY_STREAM = f"""
SELECT {_COLUMNS} FROM events
WHERE (stream_id, version) > ($1, $2) AND position <= $3
ORDER BY stream_id, version
LIMIT $4
"""

_READ_BY_STREAM_RAW = _raw(_READ_BY_STREAM)

_READ_STREAM = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = $1 AND version > $2
ORDER BY version
"""

_STREAM_VERSION = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1"


def _json_field(value: Any) -> dict[str, Any]:
    # Connections without init_connection return jsonb as text.
    if isinstance(value, str):
        return loads(value)  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def to_recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        _json_field(row[6]),
        _json_field(row[7]),
        row[8],
    )


async def read_all(
    conn: Conn | asyncpg.Pool,
    from_position: int = 0,
    limit: int = 1000,
    *,
    raw_json: bool = False,
) -> list[RecordedEvent]:
    """Events with position > from_position, in position order, at most `limit`.

    Gap-safe: only events below the in-flight horizon are returned (see module docstring), so
    resuming from the last position returned never skips an event.

    `raw_json=True` leaves `data` and `metadata` as JSON text (str), for consumers that parse
    and validate in one step (pydantic's validate_json), e.g. projection rebuilds.
    """
    if raw_json:
        rows = await conn.fetch(_READ_ALL_RAW, from_position, limit)
        return [RecordedEvent(*r) for r in rows]
    rows = await conn.fetch(_READ_ALL, from_position, limit)
    return [to_recorded(r) for r in rows]


async def read_by_stream(
    conn: Conn | asyncpg.Pool,
    after: tuple[str, int],
    up_to_position: int,
    limit: int,
    *,
    raw_json: bool = False,
) -> list[RecordedEvent]:
    """Events at positions <= `up_to_position` ordered by (stream, version), starting after
    the (stream_id, version) `after` (`("", 0)` for the first page), at most `limit`.

    For rebuilds of projections whose rows depend on each stream alone: a stream's events
    come together (split over two pages at most where a page ends), so a case is folded once
    instead of once per batch it has events in. `up_to_position` should come from
    `head_position`, below which nothing new can ever appear.
    """
    sql = _READ_BY_STREAM_RAW if raw_json else _READ_BY_STREAM
    rows = await conn.fetch(sql, after[0], after[1], up_to_position, limit)
    return [RecordedEvent(*r) for r in rows] if raw_json else [to_recorded(r) for r in rows]


async def head_position(conn: Conn | asyncpg.Pool) -> int:
    """The highest position that read_all can return now (0 when there is none)."""
    value = await conn.fetchval(
        f"SELECT coalesce(max(position), 0) FROM events WHERE position < {_HORIZON}"
    )
    return int(value)


async def append_on(
    conn: Conn,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    *,
    _attempt: int = 0,
) -> int:
    """`EventStore.append` on a given connection (not inside a caller's transaction)."""
    if expected_version < 0:
        raise ValueError("expected_version must be >= 0 (0 means a new stream)")
    n = len(events)
    if n == 0:
        actual = await conn.fetchval(_STREAM_VERSION, stream_id)
        if actual != expected_version:
            raise WrongExpectedVersion(stream_id, expected_version, actual)
        return expected_version
    if n > MAX_EVENTS_PER_APPEND:
        raise ValueError(f"at most {MAX_EVENTS_PER_APPEND} events per append")
    try:
        if n == 1:
            e = events[0]
            status = await conn.execute(
                _APPEND_ONE,
                stream_id,
                expected_version,
                e.event_id,
                e.type,
                e.schema_version,
                dumps(e.data),
                dumps(e.metadata),
            )
        else:
            status = await conn.execute(
                _APPEND_MANY,
                stream_id,
                expected_version,
                [e.event_id for e in events],
                [e.type for e in events],
                [e.schema_version for e in events],
                [dumps(e.data) for e in events],
                [dumps(e.metadata) for e in events],
            )
    except asyncpg.UniqueViolationError:
        return await _resolve_collision(conn, stream_id, expected_version, events, _attempt)
    if int(status.rsplit(" ", 1)[1]) == n:
        return expected_version + n
    # Nothing inserted: the stream does not have version `expected_version` (it is behind).
    return await _resolve_collision(conn, stream_id, expected_version, events, _attempt)


async def _resolve_collision(
    conn: Conn,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    attempt: int,
) -> int:
    ids = [e.event_id for e in events]
    stored = await conn.fetch(
        "SELECT version, event_id FROM events WHERE stream_id = $1 AND version > $2 "
        "AND version <= $3 ORDER BY version",
        stream_id,
        expected_version,
        expected_version + len(ids),
    )
    if [r["event_id"] for r in stored] == ids:
        return expected_version + len(ids)  # our own earlier append: a retry, write nothing
    actual = await conn.fetchval(_STREAM_VERSION, stream_id)
    if actual != expected_version:
        raise WrongExpectedVersion(stream_id, expected_version, actual)
    # The stream is where we expected, so the collision was on event ids stored elsewhere.
    clashing = await conn.fetch("SELECT event_id FROM events WHERE event_id = ANY($1::text[])", ids)
    if clashing:
        raise DuplicateEventId(stream_id, [r["event_id"] for r in clashing])
    # A concurrent writer's transaction rolled back between our insert and our check, or the
    # same event id appears twice in this batch.
    if len(set(ids)) != len(ids):
        raise DuplicateEventId(stream_id, sorted({i for i in ids if ids.count(i) > 1}))
    if attempt >= 3:
        raise WrongExpectedVersion(stream_id, expected_version, actual)
    return await append_on(conn, stream_id, expected_version, events, _attempt=attempt + 1)


class EventStore:
    """Streams of events in PostgreSQL, on an asyncpg pool with jsonb decoded to dicts.

    Appends keep up to `append_connections` pool connections checked out between calls (a
    list pop instead of a pool acquire/release, which costs ~20 us of client CPU per append,
    a quarter of the single-append budget on 2 cores). The rest of the pool stays free for
    reads; a connection that saw any error goes back to the pool, which resets or replaces it.
    """

    def __init__(self, pool: asyncpg.Pool, *, append_connections: int | None = None) -> None:
        self.pool = pool
        if append_connections is None:
            append_connections = max(1, pool.get_max_size() // 2)
        self._keep = append_connections
        self._idle: list[PoolConnectionProxy[Any]] = []
        self._closing = False

    @classmethod
    async def connect(
        cls,
        database_url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        append_connections: int | None = None,
    ) -> EventStore:
        pool = await create_pool(database_url, min_size=min_size, max_size=max_size)
        return cls(pool, append_connections=append_connections)

    async def close(self) -> None:
        self._closing = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self.pool.release(conn)
        try:  # a connection held by work that never returns must not keep the process alive
            await asyncio.wait_for(self.pool.close(), timeout=5)
        except TimeoutError:
            self.pool.terminate()

    async def __aenter__(self) -> EventStore:  # noqa: PYI034
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> int:
        """Append `events` after `expected_version` (0: a new stream); return the new version.

        Raises WrongExpectedVersion when the stream is elsewhere; re-appending the same event
        ids at the same versions is a no-op that returns the same version as the first time.
        """
        conn = self._idle.pop() if self._idle else await self.pool.acquire()
        try:
            version = await append_on(conn, stream_id, expected_version, events)
        except BaseException:
            await self.pool.release(conn)
            raise
        if len(self._idle) < self._keep and not self._closing and not conn.is_closed():
            self._idle.append(conn)
        else:
            await self.pool.release(conn)
        return version

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        rows = await self.pool.fetch(_READ_STREAM, stream_id, from_version)
        return [to_recorded(r) for r in rows]

    async def stream_version(self, stream_id: str) -> int:
        return int(await self.pool.fetchval(_STREAM_VERSION, stream_id))

    async def stream_exists(self, stream_id: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT FROM events WHERE stream_id = $1)", stream_id
            )
        )

    async def read_all(self, from_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return await read_all(self.pool, from_position, limit)

    async def head_position(self) -> int:
        return await head_position(self.pool)
