"""PDL access log: repeated reads by one person of one case for one purpose within five
minutes are one entry; a read after that is logged again (the patient's log must show it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store.access_log import accesses_for_case, record_access


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as p:
        yield p


async def earlier_read(pool: asyncpg.Pool, case_id: str, minutes_ago: float,
                       purpose: str = "care") -> None:
    """A read recorded `minutes_ago` (the log is append-only: no moving rows back in time)."""
    await pool.execute(
        "INSERT INTO access_log (at, actor_id, role, units, case_id, action, purpose) "
        "VALUES (now() - make_interval(secs => $1), 'dr-anna', 'physician', '{vc-norr}', $2, "
        "'summary', $3)", minutes_ago * 60, case_id, purpose)


async def read(pool: asyncpg.Pool, case_id: str, purpose: str = "care",
               actor_id: str = "dr-anna") -> bool:
    return await record_access(pool, actor_id=actor_id, role="physician", units=["vc-norr"],
                               case_id=case_id, action="summary", purpose=purpose)


async def test_a_read_within_five_minutes_is_the_same_access(pool: asyncpg.Pool) -> None:
    case_id = uuid.uuid4().hex
    assert await read(pool, case_id)
    assert not await read(pool, case_id)
    await earlier_read(pool, case_id := uuid.uuid4().hex, minutes_ago=4.5)
    assert not await read(pool, case_id)
    assert len(await accesses_for_case(pool, case_id)) == 1


async def test_a_read_after_five_minutes_is_logged_again(pool: asyncpg.Pool) -> None:
    case_id = uuid.uuid4().hex
    await earlier_read(pool, case_id, minutes_ago=5.5)
    assert await read(pool, case_id)
    await earlier_read(pool, other := uuid.uuid4().hex, minutes_ago=60 * 24)
    assert await read(pool, other)
    assert [e["action"] for e in await accesses_for_case(pool, case_id)] == ["summary"] * 2


async def test_another_purpose_or_person_is_another_access(pool: asyncpg.Pool) -> None:
    case_id = uuid.uuid4().hex
    assert await read(pool, case_id)
    assert await read(pool, case_id, purpose="samordning")
    assert await read(pool, case_id, actor_id="dr-bertil")
    assert len(await accesses_for_case(pool, case_id)) == 3
