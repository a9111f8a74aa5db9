"""period_measures (SQL over case_measure_facts) equals compute_measures (folding every event)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from domain import apply_in_place, initial_state
from domain.commands import (
    Actor,
    CloseCase,
    CorrectSickPeriodStart,
    GiveConsent,
    OpenCase,
    PerformCoordination,
    ReceiveFkMessage,
    RecordCertificate,
    RecordMappingConversation,
    RecordReconciliationMeeting,
    ReferToCoordinator,
    RevokeCertificate,
)
from domain.decider import fold
from domain.measures import case_facts, compute_measures, kva_counts
from store.eventstore import EventStore
from store.kva import period_kva_counts
from store.projections import FACT_NEUTRAL_TYPES, CaseMeasureFactsProjection
from store.queries import InvalidQuery, period_measures
from store.sample_cases import CaseDriver, certificate, make_pnr, sample_cases, to_new_events
from store.subscription import rebuild, run_once

FK = Actor(id="fk-gateway", role="fk_gateway")


def rich_cases() -> list[tuple[str, list[Any]]]:
    """Completion requests closed by a completing certificate (answer times), a revoked
    extension, a corrected start, a case closed as opened in error."""
    out = []
    for n, start in enumerate((date(2024, 2, 5), date(2024, 6, 20), date(2024, 11, 3))):
        unit = ("vc-syd", "vc-norr", "psyk-2")[n]
        dr = Actor(id="dr-1", role="physician", unit_id=unit)
        d = CaseDriver(f"rich-{n}", start)
        pnr = make_pnr(date(1970 + n, 3, 4), 100 + n)
        d.do(
            OpenCase(
                actor=dr,
                case_id=d.state.case_id,
                patient_id=pnr,
                unit_id=unit,
                sick_period_start=start,
                certificate=certificate(d, "c1", 1, 40, 100, "F32.1", 1, dr),
            ),
            day=1,
        )
        for i in range(2):
            sent = d.at(5 + 7 * i)
            d.do(
                ReceiveFkMessage(
                    actor=FK,
                    message={
                        "message_id": f"{d.state.case_id}-k{i}",
                        "sent_at": sent,
                        "certificate_id": "c1",
                        "patient_id": pnr,
                        "topic": "KOMPLT",
                        "heading": "Komplettering",
                        "text": "Komplettera.",
                        "sender": "FK",
                        "completion_items": [
                            {"question_id": "35", "text": "Funktionsnedsättning?"}
                        ],
                        "last_answer_date": (sent + timedelta(days=10)).date(),
                    },
                ),
                day=5 + 7 * i,
            )
        d.do(
            RecordCertificate(
                actor=dr,
                certificate=certificate(
                    d,
                    "c2",
                    1,
                    40,
                    50,
                    "M54.5",
                    20,
                    dr,
                    relation={"kind": "KOMPLT", "certificate_id": "c1"},
                ),
            ),
            day=20,
        )
        d.do(
            RecordCertificate(
                actor=dr,
                certificate=certificate(
                    d,
                    "c3",
                    41,
                    90,
                    75,
                    "M54.5",
                    38,
                    dr,
                    relation={"kind": "FRLANG", "certificate_id": "c2"},
                ),
            ),
            day=38,
        )
        d.do(
            RecordCertificate(
                actor=dr,
                certificate=certificate(
                    d,
                    "c4",
                    91,
                    130,
                    25,
                    "F43.8",
                    88,
                    dr,
                    relation={"kind": "FRLANG", "certificate_id": "c3"},
                ),
            ),
            day=88,
        )
        d.do(RevokeCertificate(actor=dr, certificate_id="c4", reason="fel patient"), day=100)
        d.do(ReferToCoordinator(actor=dr), day=45)
        # GC001 at each coordination occasion (KVÅ counts)
        rk = Actor(id="rk-1", role="coordinator", unit_id=unit)
        d.do(GiveConsent(actor=rk, recipient="coordinator", purpose="coordination"))
        d.do(GiveConsent(actor=rk, recipient="fk", purpose="coordination"))
        d.do(PerformCoordination(actor=rk, kind="internal", performed_on=start + timedelta(46)))
        d.do(RecordMappingConversation(actor=rk, held_on=start + timedelta(days=50)))
        d.do(
            RecordReconciliationMeeting(
                actor=rk, held_on=start + timedelta(days=60), participants=["FK", "rk-1"]
            )
        )
        if n == 1:
            d.do(
                CorrectSickPeriodStart(
                    actor=dr, sick_period_start=start - timedelta(days=3), reason="x"
                ),
                day=50,
            )
        if n == 2:
            d.do(CloseCase(actor=dr, reason="opened_in_error"), day=60)
        else:
            d.advance(d.at(140))
        out.append((d.state.case_id, d.events))
    return out


CASES = list(sample_cases(90, seed=11)) + rich_cases()
EVENTS = [e for _, evs in CASES for e in evs]

PERIODS = [
    (date(2024, 1, 1), date(2024, 12, 31)),  # a whole year
    (date(2024, 3, 1), date(2024, 3, 31)),  # a month
    (date(2024, 5, 17), date(2024, 5, 17)),  # one day, mid-case for many
    (date(2024, 2, 10), date(2024, 7, 23)),  # ends mid-case
    (date(2025, 1, 1), date(2025, 6, 30)),  # the tail: cases ending, few starting
    (date(2023, 1, 1), date(2023, 12, 31)),  # before any case
    (date(2024, 2, 20), date(2024, 4, 15)),  # rich-0 before its revocation, after its KOMPLT
    (date(2024, 11, 1), date(2024, 12, 20)),  # rich-2 before it was closed as opened in error
]


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    """The sample cases appended a few events at a time, interleaved, and projected in small
    batches with a small cache, so that a case's facts are continued across batches."""
    s = await EventStore.connect(database_url, max_size=6)
    rng = random.Random(2)
    pending = {cid: to_new_events(evs) for cid, evs in CASES}
    versions = dict.fromkeys(pending, 0)
    projection = CaseMeasureFactsProjection(cache_size=7)
    while pending:
        cid = rng.choice(list(pending))
        take = rng.randint(1, 5)
        chunk, pending[cid] = pending[cid][:take], pending[cid][take:]
        versions[cid] = await s.append(cid, versions[cid], chunk)
        if not pending[cid]:
            del pending[cid]
        if rng.random() < 0.05:
            await run_once(s, projection, batch_size=11)
    await run_once(s, projection, batch_size=11)
    yield s
    await s.close()


@pytest.mark.parametrize("unit", [None, "vc-syd", "no-such-unit"])
@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p}")
async def test_period_measures_equal_the_domain(
    store: EventStore, period: tuple[date, date], unit: str | None
) -> None:
    got = await period_measures(store.pool, *period, unit_id=unit)
    assert got == compute_measures(EVENTS, *period, unit_id=unit)


@pytest.mark.parametrize("unit", [None, "vc-syd", "no-such-unit"])
@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p}")
async def test_kva_counts_equal_the_domain(
    store: EventStore, period: tuple[date, date], unit: str | None
) -> None:
    got = await period_kva_counts(store.pool, *period, unit_id=unit)
    assert got == kva_counts(EVENTS, *period, unit_id=unit)


async def test_the_sample_exercises_the_measures(store: EventStore) -> None:
    year = compute_measures(EVENTS, date(2024, 1, 1), date(2024, 12, 31))
    assert year.started.total > 0 and year.ended.total > 0 and year.ongoing.total > 0
    assert len(year.ongoing.by_length) >= 4 and len(year.ongoing.by_grade) >= 2
    assert year.with_plan.numerator > 0 and year.over_30_days_to_coordinator.numerator > 0
    assert year.employer_plan_by_day_30.denominator > 0
    assert year.fk_answer_days.count > 0 and year.komplt_per_certificate.numerator > 0
    assert set(year.with_plan.by_unit) == set(year.ongoing.by_unit)
    assert all(year.with_plan.by_sex[s].denominator for s in ("kvinna", "man"))
    kva = kva_counts(EVENTS, date(2024, 1, 1), date(2024, 12, 31)).codes
    assert all(kva[code].total for code in ("DV077", "AW026", "GC001"))
    assert len(kva["DV077"].by_unit) >= 2
    mid = compute_measures(EVENTS, date(2024, 2, 10), date(2024, 7, 23))
    assert mid.ongoing.by_length != year.ongoing.by_length  # the end of the period matters


async def test_rebuild_in_one_batch_gives_the_same_rows(store: EventStore) -> None:
    async def table() -> list[dict[str, Any]]:
        rows = await store.pool.fetch("SELECT * FROM case_measure_facts ORDER BY case_id, as_of")
        registrations = await store.pool.fetch("SELECT * FROM kva_registrations ORDER BY event_id")
        return [dict(r) for r in rows] + [dict(r) for r in registrations]

    before = await table()
    total = await store.pool.fetchval("SELECT count(*) FROM events")
    assert await rebuild(store, CaseMeasureFactsProjection(), batch_size=100_000) == total
    assert await table() == before
    # one row per case valid on any day, and rows of a case tile time
    assert not await store.pool.fetchval(
        "SELECT count(*) FROM case_measure_facts a JOIN case_measure_facts b USING (case_id) "
        "WHERE a.as_of < b.as_of AND (a.until IS NULL OR a.until > b.as_of)"
    )


def test_fact_neutral_event_types_do_not_change_the_facts() -> None:
    seen = set()
    for case_id, events in CASES:
        state = initial_state(case_id)
        for event in events:
            before = case_facts(state) if state.is_opened else None
            apply_in_place(state, event)
            if event.type in FACT_NEUTRAL_TYPES:
                seen.add(event.type)
                assert case_facts(state) == before, event.type
        assert state == fold(events)
    assert len(seen) >= 5


async def test_a_period_that_ends_before_it_starts_is_refused(store: EventStore) -> None:
    with pytest.raises(InvalidQuery):
        await period_measures(store.pool, date(2024, 2, 1), date(2024, 1, 31))
