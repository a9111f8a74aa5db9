"""case_summary's list-filter columns (migration 0130): physicians, consents, grades by day.

The projection writes them from the folded state; on a database migrated from before 0130
the migration fills `physicians` from the events at once and rewinds the case_summary
checkpoint, so that the projector's next pass fills the others from the stored states. The
list's values and filters at an instant of reading (SQL over these columns) agree with the
domain's summary of the state at that instant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain import fold, initial_state
from domain.calendar import local_date
from domain.summary import as_read_at, consents_at, list_filter_columns
from store.eventstore import EventStore
from store.migrate import available_migrations
from store.projections import CaseSummaryProjection
from store.queries import list_cases
from store.sample_cases import sample_cases, to_new_events
from store.subscription import get_checkpoint, run_once

COLUMNS = ("physicians", "consent_windows", "consent_ends", "consent_until")
GRADE_COLUMNS = ("grade_25", "grade_50", "grade_75", "grade_100")
CASES = list(sample_cases(30, seed=11, prefix="filters"))
STATES = {case_id: fold(events, initial_state(case_id)) for case_id, events in CASES}
EXPECTED = {case_id: {c: v for c, v in list_filter_columns(state).items() if c in COLUMNS}
            for case_id, state in STATES.items()}


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
            "ALTER TABLE case_summary "
            + ", ".join(f"DROP COLUMN {c}" for c in COLUMNS + GRADE_COLUMNS) + ";"
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
    graded = await store.pool.fetchval(
        "SELECT count(*) FROM case_summary WHERE grade_100 IS NOT NULL OR grade_50 IS NOT NULL")
    assert graded == 0

    await run_once(store, CaseSummaryProjection())
    assert await stored(store) == EXPECTED


async def test_physician_filter_reads_the_column(store: EventStore) -> None:
    doctor = next(p for e in EXPECTED.values() for p in e["physicians"])
    rows, total = await list_cases(store.pool, physician=doctor, limit=1000,
                                   read_at=datetime.now(UTC))
    assert {r["case_id"] for r in rows if r["case_id"].startswith("filters-")} == {
        c for c, e in EXPECTED.items() if doctor in e["physicians"]}


INSTANTS = [datetime(2024, 1, 20, 12, tzinfo=UTC) + timedelta(days=d) for d in range(0, 600, 45)]


async def test_values_and_filters_at_any_instant_are_the_domains(store: EventStore) -> None:
    """At each instant, the page's grade and consents (from the columns, the grade in SQL)
    are `as_read_at(state, at)`; the grade filter finds exactly the cases at that grade then,
    and the consent filters the cases holding such a consent then (among cases whose consents
    were all given by then: an instant of reading always comes after them)."""
    def ours(rows: list[dict[str, object]]) -> set[str]:
        return {str(r["case_id"]) for r in rows if str(r["case_id"]).startswith("filters-")}

    for at in INSTANTS:
        expected = {c: as_read_at(s, at) for c, s in STATES.items()}
        rows, _ = await list_cases(store.pool, limit=1000, read_at=at)
        for row in rows:
            if row["case_id"] in expected:
                assert {k: row[k] for k in ("current_grade", "consents")} == expected[
                    row["case_id"]], (row["case_id"], at)
        for grade in (25, 50, 75, 100):
            rows, _ = await list_cases(store.pool, grade=grade, limit=1000, read_at=at)
            assert ours(rows) == {c for c, e in expected.items() if e["current_grade"] == grade}
        given = {c for c, s in STATES.items() if all(r.given_at <= at for r in s.consents)}
        for key in ("employer", "employer:contact", "fk:share_information", "fk:contact"):
            recipient, _, purpose = key.partition(":")
            holding = {c for c, e in expected.items() if recipient in e["consents"]
                       and (not purpose or purpose in e["consents"][recipient])}
            held, _ = await list_cases(store.pool, consent_held=key, limit=1000, read_at=at)
            not_held, _ = await list_cases(store.pool, consent_not_held=key, limit=1000,
                                           read_at=at)
            assert ours(held) & given == holding & given, (key, at)
            assert ours(not_held) & given == given - holding, (key, at)


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
                "current_grade": state.grade_on(local_date(at)),
                "consents": consents_at(columns["consent_windows"], at)}, (case_id, at)
