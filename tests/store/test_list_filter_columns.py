"""case_summary's list-filter columns (migration 0130): physicians and consent validity.

The projection writes them from the folded state; on a database migrated from before 0130
the migration fills `physicians` from the events at once and rewinds the case_summary
checkpoint, so that the projector's next pass fills `consent_windows` from the stored states.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from domain import fold, initial_state
from domain.summary import list_filter_columns
from store.eventstore import EventStore
from store.migrate import available_migrations
from store.projections import CaseSummaryProjection
from store.queries import list_cases
from store.sample_cases import sample_cases, to_new_events
from store.subscription import get_checkpoint, run_once

CASES = list(sample_cases(30, seed=11, prefix="filters"))
EXPECTED = {case_id: list_filter_columns(fold(events, initial_state(case_id)))
            for case_id, events in CASES}


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=4)
    for case_id, events in CASES:
        await s.append(case_id, 0, to_new_events(events))
    await run_once(s, CaseSummaryProjection())
    yield s
    await s.close()


async def stored(store: EventStore) -> dict[str, dict[str, object]]:
    rows = await store.pool.fetch(
        "SELECT case_id, physicians, consent_windows FROM case_summary WHERE case_id LIKE 'filters-%'")
    return {r["case_id"]: {"physicians": list(r["physicians"]),
                           "consent_windows": r["consent_windows"]}
            for r in rows}


async def test_the_projection_writes_physicians_and_consent_windows(store: EventStore) -> None:
    assert await stored(store) == EXPECTED
    assert any(e["consent_windows"] for e in EXPECTED.values())  # the samples give consents


async def test_migration_0130_fills_the_columns_of_rows_projected_before_it(
    store: EventStore,
) -> None:
    (migration,) = [m for m in available_migrations() if m.version == "0130"]
    async with store.pool.acquire() as conn:
        # the database as it was before 0130: no such columns, the events' issuer index
        await conn.execute(
            "DROP INDEX case_summary_physicians, case_summary_consent_recipients;"
            "ALTER TABLE case_summary DROP COLUMN physicians, DROP COLUMN consent_windows;"
            "CREATE INDEX events_certificate_issuer ON events "
            "((data->'certificate'->>'issued_by'), stream_id) WHERE type = 'CertificateRecorded'")
        await conn.execute(migration.sql)
        assert not await conn.fetchval("SELECT to_regclass('events_certificate_issuer')")
        assert await get_checkpoint(conn, "case_summary") == 0

    now = await stored(store)
    assert {c: r["physicians"] for c, r in now.items()} == {
        c: e["physicians"] for c, e in EXPECTED.items()}
    assert all(r["consent_windows"] is None for r in now.values())  # until the projector passes

    await run_once(store, CaseSummaryProjection())
    assert await stored(store) == EXPECTED


async def test_physician_filter_reads_the_column(store: EventStore) -> None:
    doctor = next(p for e in EXPECTED.values() for p in e["physicians"])
    rows, total = await list_cases(store.pool, physician=doctor, limit=1000,
                                   read_at=datetime.now(UTC))
    assert {r["case_id"] for r in rows if r["case_id"].startswith("filters-")} == {
        c for c, e in EXPECTED.items() if doctor in e["physicians"]}
