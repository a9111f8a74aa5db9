"""Old schema versions in the record come back in the current shape, in reads and projections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain import event_from_record, event_to_record, fold, summarize
from domain.calendar import local_date
from store.eventstore import EventStore, NewEvent, dumps
from store.projections import CaseSummaryProjection, decode_event
from store.queries import get_case_summary
from store.sample_cases import sample_cases, to_new_events
from store.subscription import run_once


def case_with_a_consent() -> tuple[str, list]:  # type: ignore[type-arg]
    for case_id, events in sample_cases(40, seed=21):
        if any(e.type == "ConsentGiven" and e.recipient == "fk" for e in events):  # type: ignore[union-attr]
            return case_id, events
    raise AssertionError("no sample case with an FK consent")


def as_schema_1(events: list) -> list[NewEvent]:  # type: ignore[type-arg]
    """The record as the first release wrote it: ConsentGiven schema 1 had no valid_until."""
    out = []
    for record, _event in zip(to_new_events(events), events, strict=True):
        if record.type == "ConsentGiven":
            data = {k: v for k, v in record.data.items() if k != "valid_until"} | {
                "schema_version": 1
            }
            record = NewEvent(record.event_id, record.type, 1, data, record.metadata)
        out.append(record)
    return out


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=4)
    yield s
    await s.close()


async def test_an_old_consent_reads_back_in_the_current_shape(store: EventStore) -> None:
    case_id, events = case_with_a_consent()
    await store.append(case_id, 0, as_schema_1(events))

    stored = [r for r in await store.read_stream(case_id) if r.type == "ConsentGiven"]
    assert stored and all(r.schema_version == 1 and "valid_until" not in r.data for r in stored)

    current = [event_from_record(r.type, r.schema_version, r.data) for r in stored]
    for event in current:
        assert event.schema_version == 2
        # schema 1 consent was open-ended: Rehabstöd's cap makes it 365 days from the day given
        assert event.valid_until == local_date(event.occurred_at) + timedelta(days=365)  # type: ignore[union-attr]
        assert event_from_record(*event_to_record(event)) == event  # and it stores as schema 2

    # the projection upcasts too: its row is the summary of the upcast history
    await run_once(store, CaseSummaryProjection())
    upcast = [
        event_from_record(r.type, r.schema_version, r.data)
        for r in await store.read_stream(case_id)
    ]
    row = await get_case_summary(store.pool, case_id)
    assert row is not None
    want = summarize(fold(upcast)).model_dump()
    assert {k: row[k] for k in want} == want
    assert "fk" in row["consents"]


def test_one_pass_decoding_equals_event_from_record() -> None:
    for _, events in sample_cases(15, seed=8):
        for event in events:
            type_, version, data = event_to_record(event)
            assert decode_event(type_, version, dumps(data)) == event_from_record(
                type_, version, data
            )
    _, events = case_with_a_consent()
    for record in as_schema_1(events):
        assert decode_event(
            record.type, record.schema_version, dumps(record.data)
        ) == event_from_record(record.type, record.schema_version, record.data)
