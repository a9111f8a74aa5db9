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
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import asyncpg

from store.eventstore import EventStore, RecordedEvent, read_all

log = logging.getLogger(__name__)

_LOCK_CLASS = 0x736A  # first key of the two-key advisory lock naming projections


@runtime_checkable
class Projection(Protocol):
    name: str

    async def handle(self, conn: asyncpg.Connection, events: list[RecordedEvent]) -> None:
        """Apply a batch of events, writing rows on `conn` (inside the batch transaction)."""

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Delete every row this projection wrote (before a rebuild), on `conn`."""


Source = EventStore | asyncpg.Pool


def _pool(source: Source) -> asyncpg.Pool:
    return source.pool if isinstance(source, EventStore) else source


async def _lock(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, name)


async def _save_checkpoint(conn: asyncpg.Connection, name: str, position: int) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (name, position) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
        name,
        position,
    )


async def get_checkpoint(source: Source | asyncpg.Connection, name: str) -> int:
    conn = source if isinstance(source, asyncpg.Connection) else _pool(source)
    value = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1", name)
    return int(value or 0)


async def process_batch(conn: asyncpg.Connection, projection: Projection, batch_size: int) -> int:
    """One batch in one transaction; returns how many events it applied (0: caught up)."""
    async with conn.transaction():
        await _lock(conn, projection.name)
        position = await get_checkpoint(conn, projection.name)
        events = await read_all(conn, position, batch_size)
        if not events:
            return 0
        await projection.handle(conn, events)
        await _save_checkpoint(conn, projection.name, events[-1].position)
        return len(events)


async def run_once(source: Source, projection: Projection, batch_size: int = 1000) -> int:
    """Apply everything after the checkpoint, batch by batch, until caught up; return the count."""
    total = 0
    async with _pool(source).acquire() as conn:
        while True:
            n = await process_batch(conn, projection, batch_size)
            total += n
            if n < batch_size:
                return total


async def rebuild(source: Source, projection: Projection, batch_size: int = 2000) -> int:
    """Delete the projection's rows, set its checkpoint to 0, and replay every event."""
    async with _pool(source).acquire() as conn:
        async with conn.transaction():
            await _lock(conn, projection.name)
            await projection.reset(conn)
            await _save_checkpoint(conn, projection.name, 0)
    return await run_once(source, projection, batch_size)


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
                    n = await process_batch(conn, projection, batch_size)
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
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            pass
