"""The certificate -> case table (migration 0120): FK routing by certificate id and identity
number together, kept in the append's transaction, and an index scan at production size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest

from domain import decide, fold, initial_state
from domain.commands import Actor, OpenCase, RecordCertificate
from domain.events import CertificateRecorded
from fk.lookup import case_for_certificate, case_holding_certificate
from store import certificates
from store.eventstore import EventStore
from store.migrate import _CREATE_TABLE, available_migrations
from store.sample_cases import sample_cases, to_new_events
from tests.workflows.support import PHYSICIAN, certificate

CASES = list(sample_cases(40, seed=17))
START = date(2024, 3, 4)
NOW = datetime(2024, 3, 5, 9, tzinfo=UTC)
ANNA, BERTIL = "194107086995", "198112189876"


def recorded(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.certificate.certificate_id for e in events if isinstance(e, CertificateRecorded)]


def physician(unit: str) -> Actor:
    return PHYSICIAN.model_copy(update={"unit_id": unit})


async def open_case(store: EventStore, case_id: str, patient: str, unit: str,
                    cid: str | None = None) -> None:
    """A case opened for `patient`, then (a later append) recording certificate `cid`."""
    state = initial_state(case_id)
    opened = decide(OpenCase(actor=physician(unit), case_id=case_id, patient_id=patient,
                             unit_id=unit, sick_period_start=START), state, NOW)
    await store.append(case_id, 0, to_new_events(opened))
    if cid is not None:
        more = decide(RecordCertificate(actor=physician(unit),
                                        certificate=certificate(START, 1, 10, cid=cid)),
                      fold(opened), NOW)
        await store.append(case_id, len(opened), to_new_events(more))


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=4)
    for case_id, events in CASES:
        await s.append(case_id, 0, to_new_events(events))
    yield s
    await s.close()


async def test_every_recorded_certificate_routes_to_its_patients_case(store: EventStore) -> None:
    """The sample cases all number their certificates c1, c2, ...: only the identity number
    tells the cases apart."""
    routed = 0
    for case_id, events in CASES:
        patient = events[0].patient_id  # CaseOpened
        for cid in recorded(events):
            assert await case_for_certificate(store.pool, cid, patient) == case_id
            routed += 1
    assert routed > 40


async def test_routing_needs_certificate_id_and_identity_number_together(
        store: EventStore) -> None:
    await open_case(store, "route-anna", ANNA, "vc-norr", cid="intyg-shared")
    # Another patient's case at another unit with the same id (written before the API refused
    # that, or by a certificate system that reuses ids).
    await open_case(store, "route-bertil", BERTIL, "vc-syd", cid="intyg-shared")

    assert await case_for_certificate(store.pool, "intyg-shared", ANNA) == "route-anna"
    assert await case_for_certificate(store.pool, "intyg-shared", BERTIL) == "route-bertil"
    assert await case_for_certificate(store.pool, "intyg-shared", "191212121212") is None
    assert await case_for_certificate(store.pool, "intyg-unknown", ANNA) is None
    assert await case_for_certificate(store.pool, "intyg-shared", "") is None
    # The API's check names another case holding the id, whoever the patient.
    assert await case_holding_certificate(store.pool, "intyg-shared", "route-anna") \
        == "route-bertil"
    assert await case_holding_certificate(store.pool, "intyg-shared", "route-x") is not None


async def test_a_case_opened_without_a_certificate_is_not_routed_to(store: EventStore) -> None:
    await open_case(store, "route-empty", ANNA, "vc-ost")
    row = await store.pool.fetchval(
        "SELECT count(*) FROM certificate_cases WHERE case_id = 'route-empty'")
    assert row == 0


async def test_the_lookups_are_index_scans_at_production_size(store: EventStore) -> None:
    """1M events hold about 100k certificates (sample cases: ~10% of events record one): the
    table gets that many rows, in a transaction rolled back, and the planner (no settings
    forced) reads it by its primary key."""
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("""
                INSERT INTO certificate_cases (certificate_id, case_id, patient_id, position)
                SELECT 'bulk-' || i, 'bulk-case-' || (i / 3), lpad((i / 3)::text, 12, '0'), i
                FROM generate_series(1, 100000) AS i""")
            await conn.execute("ANALYZE certificate_cases")
            for sql, args in ((certificates.CASE_BY_CERTIFICATE, ("bulk-500", "000000000166")),
                              (certificates.CASES_HOLDING_CERTIFICATE, ("bulk-500", "x"))):
                plan = "\n".join(r[0] for r in await conn.fetch(
                    "EXPLAIN " + sql.replace("$1", f"'{args[0]}'").replace("$2", f"'{args[1]}'")))
                assert "Index Scan using certificate_cases_pkey" in plan, plan
                assert "Seq Scan" not in plan, plan
        finally:
            await tx.rollback()


async def test_the_migration_fills_the_table_from_events_already_recorded(
        empty_database_url: str) -> None:
    earlier = [m for m in available_migrations() if m.version < "0120"]
    (this,) = [m for m in available_migrations() if m.version == "0120"]
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute(_CREATE_TABLE)  # some migrations read schema_migrations
        for m in earlier:
            await conn.execute(m.sql)
        s = await EventStore.connect(empty_database_url, max_size=2)
        try:
            for case_id, events in CASES[:10]:
                await s.append(case_id, 0, to_new_events(events))
        finally:
            await s.close()
        await conn.execute(this.sql)
        rows = {(r["certificate_id"], r["case_id"], r["patient_id"])
                for r in await conn.fetch("SELECT * FROM certificate_cases")}
    finally:
        await conn.close()
    assert rows == {(cid, case_id, events[0].patient_id)
                    for case_id, events in CASES[:10] for cid in recorded(events)}
