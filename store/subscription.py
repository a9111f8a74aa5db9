"""Catch-up subscriptions that feed projections, with exactly-once effect.

A projection has a `name` and a row in `checkpoints` (the last global position it applied).
Each batch is one transaction:

    lock the projection (transaction advisory lock on its name: one runner at a time)
    read the checkpoint
    read_all(checkpoint, batch_size)        -- gap-safe, see store/eventstore.py
    projection.handle(conn, events)         -- writes its rows on the same connection
    checkpoint := last position of the batch

so the rows and the checkpoint commit together or not at all: a crash (or a handler that raises)
between batches leaves the rows of the committed batches and a checkpoint that matches them, and
a rerun resumes from there without applying anything twice.

`run_forever` polls (no LISTEN/NOTIFY: a NOTIFY in every append would serialise commits on a
global lock). It re-polls at once while batches come back full, so lag under load is one batch.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import asyncpg

from store.eventstore import EventStore, RecordedEvent, head_position, read_all, read_by_stream

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


log = logging.getLogger(__name__)

_LOCK_CLASS = 0x736A  # first key of the two-key advisory lock naming projections
_REPLAY_CLASS = 0x736B  # ... and of the one held while a rebuild replays one case by case


@runtime_checkable
class Projection(Protocol):
    """`name` keys the checkpoint. A projection may also set `raw_json = True` to receive
    `data`/`metadata` as JSON text instead of dicts (see store.eventstore.read_all), and
    `per_stream = True` to be rebuilt stream by stream (see `rebuild`)."""

    name: str

    async def handle(self, conn: Conn, events: list[RecordedEvent]) -> None:
        """Apply a batch of events, writing rows on `conn` (inside the batch transaction)."""

    async def reset(self, conn: Conn) -> None:
        """Delete every row this projection wrote (before a rebuild), on `conn`."""


Source = EventStore | asyncpg.Pool


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector.

    Folding a batch allocates hundreds of thousands of small objects that stay alive until it
    is written; with the collector running, they (and every state a projection keeps cached)
    were traversed again and again: a rebuild spent about a third of its time there. What is
    allocated meanwhile is freed by reference counting as usual; only reference cycles wait
    for the collector, which runs again once it is resumed. A pause that spans awaits delays
    that for the other tasks of the process too, so only rebuilds (a CLI command, a
    benchmark) pause across awaits."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _pool(source: Source) -> asyncpg.Pool:
    return source.pool if isinstance(source, EventStore) else source


async def _lock(conn: Conn, name: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, name)


async def _lock_unless_replayed(conn: Conn, name: str) -> bool:
    """Take the projection's lock (for this transaction), unless a rebuild is replaying the
    projection case by case (it holds the replay lock, see `_replaying`): then return False at
    once, and the caller leaves the projection alone; the rebuild catches up when done."""
    return bool(
        await conn.fetchval(
            "SELECT CASE WHEN pg_try_advisory_xact_lock_shared($2, hashtext($3)) "
            "THEN (SELECT true FROM pg_advisory_xact_lock($1, hashtext($3))) ELSE false END",
            _LOCK_CLASS,
            _REPLAY_CLASS,
            name,
        )
    )


@asynccontextmanager
async def _replaying(conn: Conn, name: str) -> AsyncIterator[None]:
    """Hold the projection's replay lock on `conn`'s session (waiting for batches in flight):
    meanwhile every other runner's batch of it returns at once, applying nothing."""
    await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", _REPLAY_CLASS, name)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", _REPLAY_CLASS, name)


async def _save_checkpoint(conn: Conn, name: str, position: int) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (name, position) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
        name,
        position,
    )


async def get_checkpoint(source: Source | Conn, name: str) -> int:
    conn = source.pool if isinstance(source, EventStore) else source
    value = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1", name)
    return int(value or 0)


async def process_batch(
    conn: Conn,
    projection: Projection,
    batch_size: int,
    *,
    prefetched: tuple[int, list[RecordedEvent]] | None = None,
    reader: Conn | None = None,
) -> tuple[int, asyncio.Task[list[RecordedEvent]] | None, int]:
    """One batch in one transaction.

    Returns (events applied, a read of the following page started on `reader` while the batch
    was being handled or None, the position that read starts from). `prefetched` is such a read
    from the previous call: (its start position, its events); it is used only when it starts
    exactly at the checkpoint found under the lock, else it is read again.
    """
    raw = bool(getattr(projection, "raw_json", False))
    async with conn.transaction():
        # Rows and checkpoint commit together, so losing the last commits in a crash only
        # means re-applying those batches: no need to wait for the WAL flush.
        await conn.execute("SET LOCAL synchronous_commit = off")
        if not await _lock_unless_replayed(conn, projection.name):
            return 0, None, 0
        position = await get_checkpoint(conn, projection.name)
        if prefetched is not None and prefetched[0] == position:
            events = prefetched[1]
        else:
            events = await read_all(conn, position, batch_size, raw_json=raw)
        if not events:
            return 0, None, position
        ahead = None
        if reader is not None and len(events) == batch_size:
            ahead = asyncio.ensure_future(
                read_all(reader, events[-1].position, batch_size, raw_json=raw)
            )
        try:
            await projection.handle(conn, events)
            await _save_checkpoint(conn, projection.name, events[-1].position)
        except BaseException:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            raise
        return len(events), ahead, events[-1].position


async def run_once(source: Source, projection: Projection, batch_size: int = 1000) -> int:
    """Apply everything after the checkpoint, batch by batch, until caught up; return the count.

    Caught up: a batch came back short, so every event readable when the call started (and
    any that became readable since) has been applied. Under a steady stream of appends it
    still returns, at the first short batch.

    Once a batch comes back full, the next page is read on a second connection while the
    current one is folded (if the pool has one to spare within 50 ms), so PostgreSQL reads
    while Python folds: about 1.3x on a rebuild. A short catch-up (the API's read-your-writes)
    uses one connection.
    """
    pool = _pool(source)
    total = 0
    reader: Any = None
    tried_reader = False
    async with pool.acquire() as conn:
        try:
            prefetched: tuple[int, list[RecordedEvent]] | None = None
            while True:
                n, ahead, end = await process_batch(
                    conn, projection, batch_size, prefetched=prefetched, reader=reader
                )
                total += n
                if n < batch_size:
                    return total
                prefetched = (end, await ahead) if ahead is not None else None
                if not tried_reader and pool.get_max_size() >= 2:
                    tried_reader = True
                    try:
                        reader = await pool.acquire(timeout=0.05)
                    except TimeoutError:
                        reader = None  # the pool is busy: go on without prefetching
        finally:
            if reader is not None:
                await pool.release(reader)


async def _process_one(conn: Conn, projection: Projection, batch_size: int) -> int:
    n, _, _ = await process_batch(conn, projection, batch_size)
    return n


async def rebuild(source: Source, projection: Projection, batch_size: int = 25_000) -> int:
    """Delete the projection's rows, set its checkpoint to 0, and replay every event; returns
    the events applied.

    A projection that declares `per_stream = True` (its rows depend on each stream's own
    events alone, and its `handle` skips versions it has already folded) is replayed in two
    steps. First every event up to the head position in (stream, version) order, so that a
    case is folded and written once rather than once per batch its events fall in. Then the
    checkpoint moves to that head and the usual catch-up in global order applies whatever came
    later. During the first step the rebuild holds the projection's replay lock, so the other
    runners (the API's catch-up, `run_forever`) leave it alone instead of folding from 0 in
    parallel; reads see the cases replayed so far. The checkpoint stays at 0 until the step
    ends: a crash there leaves whole cases (and perhaps a prefix of one) that a later run,
    rebuild or catch-up from 0, completes without applying anything twice. Other projections
    are replayed in global order.

    The garbage collector is paused throughout (see `gc_paused`): rebuilds run in a command
    of their own.
    """
    pool = _pool(source)
    with gc_paused():
        async with pool.acquire() as conn, _replaying(conn, projection.name):
            async with conn.transaction():
                await _lock(conn, projection.name)
                await projection.reset(conn)
                await _save_checkpoint(conn, projection.name, 0)
            applied = 0
            if getattr(projection, "per_stream", False):
                applied = await _replay_by_stream(conn, pool, projection, batch_size)
        return applied + await run_once(source, projection, batch_size)


async def _replay_by_stream(
    conn: Conn, pool: asyncpg.Pool, projection: Projection, batch_size: int
) -> int:
    """The first step of a per-stream `rebuild`, on `conn`; returns the events applied."""
    raw = bool(getattr(projection, "raw_json", False))
    total = 0
    async with pool.acquire() as reader:
        head = await head_position(conn)

        def read_after(after: tuple[str, int]) -> asyncio.Future[list[RecordedEvent]]:
            return asyncio.ensure_future(
                read_by_stream(reader, after, head, batch_size, raw_json=raw)
            )

        page = await read_after(("", 0))
        while page:
            ahead = read_after((page[-1].stream_id, page[-1].version))  # read while we fold
            try:
                async with conn.transaction():
                    await conn.execute("SET LOCAL synchronous_commit = off")  # as process_batch
                    await _lock(conn, projection.name)
                    await projection.handle(conn, page)
            except BaseException:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
                raise
            total += len(page)
            page = await ahead
        async with conn.transaction():  # no other runner moved it: they wait for the replay
            await _lock(conn, projection.name)
            await _save_checkpoint(conn, projection.name, head)
    return total


async def run_forever(
    source: Source,
    projections: Projection | Sequence[Projection],
    *,
    poll_interval: float = 0.5,
    batch_size: int = 1000,
    stop: asyncio.Event | None = None,
    max_backoff: float = 30.0,
) -> None:
    """Keep every projection caught up until `stop` is set (or the task is cancelled).

    A failing handler is logged and retried with exponential backoff; its checkpoint does not
    move past the failing batch, so nothing is skipped.
    """
    if isinstance(projections, Projection):
        projections = [projections]
    stop = stop or asyncio.Event()
    backoff = poll_interval
    while not stop.is_set():
        busy = False
        failed = False
        for projection in projections:
            try:
                async with _pool(source).acquire() as conn:
                    n = await _process_one(conn, projection, batch_size)
                busy = busy or n == batch_size
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception:
                failed = True
                log.exception("projection %s failed; retrying in %.1fs", projection.name, backoff)
        if busy and not failed:
            continue
        delay = backoff if failed else poll_interval
        backoff = min(backoff * 2, max_backoff) if failed else poll_interval
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
