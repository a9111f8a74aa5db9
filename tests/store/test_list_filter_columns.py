"""case_summary's list-filter columns (migration 0130): physicians and consent validity.

The projection writes them from the folded state; on a database migrated from before 0130
the migration fills `physicians` from the events at once and rewinds the case_summary
checkpoint, so that the projector's next pass fills `consent_windows` from the stored states.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain import fold, initial_state
from domain.summary import as_read_at, consents_at, grade_at, list_filter_columns
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


COLUMNS = ("physicians", "consent_windows", "consent_until", "grade_periods")


async def stored(store: EventStore) -> dict[str, dict[str, object]]:
    rows = await store.pool.fetch(
        f"SELECT case_id, {', '.join(COLUMNS)} FROM case_summary WHERE case_id LIKE 'filters-%'")
    return {r["case_id"]: {c: list(r[c]) if c == "physicians" else r[c] for c in COLUMNS}
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
            "DROP INDEX case_summary_physicians, case_summary_consent_until, case_summary_end;"
            "ALTER TABLE case_summary DROP COLUMN physicians, DROP COLUMN consent_windows, "
            "DROP COLUMN consent_until, DROP COLUMN grade_periods;"
            "CREATE INDEX events_certificate_issuer ON events "
            "((data->'certificate'->>'issued_by'), stream_id) WHERE type = 'CertificateRecorded'")
        await conn.execute(migration.sql)
        assert not await conn.fetchval("SELECT to_regclass('events_certificate_issuer')")
        assert await get_checkpoint(conn, "case_summary") == 0

    now = await stored(store)
    assert {c: r["physicians"] for c, r in now.items()} == {
        c: e["physicians"] for c, e in EXPECTED.items()}
    # until the projector passes
    assert all(r[c] is None for r in now.values() for c in COLUMNS[1:])

    await run_once(store, CaseSummaryProjection())
    assert await stored(store) == EXPECTED


async def test_physician_filter_reads_the_column(store: EventStore) -> None:
    doctor = next(p for e in EXPECTED.values() for p in e["physicians"])
    rows, total = await list_cases(store.pool, physician=doctor, limit=1000,
                                   read_at=datetime.now(UTC))
    assert {r["case_id"] for r in rows if r["case_id"].startswith("filters-")} == {
        c for c, e in EXPECTED.items() if doctor in e["physicians"]}


def test_the_columns_give_the_grade_and_consents_of_any_instant_as_the_state_does() -> None:
    """The page's values at the instant of reading come from these columns (no state is
    decoded): the same as `as_read_at(state, at)`, every day across the sample cases' year
    and at the instants consents begin and end."""
    for case_id, events in CASES:
        state = fold(events, initial_state(case_id))
        columns = list_filter_columns(state)
        instants = [datetime(2024, 1, 1, 12, tzinfo=UTC) + timedelta(days=d) for d in range(0, 800, 3)]
        for windows in columns["consent_windows"].values():
            for given, ends in windows.values():
                for edge in (given, ends):
                    at = datetime.fromisoformat(edge)
                    instants += [at - timedelta(microseconds=1), at]
        for at in instants:
            assert as_read_at(state, at) == {
                "current_grade": grade_at(columns["grade_periods"], at),
                "consents": consents_at(columns["consent_windows"], at)}, (case_id, at)
