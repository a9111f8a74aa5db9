"""The read side answers what the domain's own summaries say, filter by filter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain import fold, summarize
from domain.measures import compute_measures
from domain.summary import as_read_at
from store.eventstore import EventStore
from store.projections import CaseMeasureFactsProjection, CaseSummaryProjection
from store.queries import (
    InvalidQuery,
    case_events,
    get_case_summary,
    list_cases,
    period_measures,
    total_is_lower_bound,
)
from store.sample_cases import sample_cases, to_new_events
from store.subscription import run_once

CASES = list(sample_cases(80, seed=5))
SUMMARIES = {cid: summarize(fold(evs)) for cid, evs in CASES}
TODAY = date(2024, 9, 1)
READ_AT = datetime(2024, 9, 1, 12, tzinfo=UTC)
#: the grade on the day of reading, as the list shows and filters on it (revised rules)
GRADE_READ = {cid: summarize(fold(evs), READ_AT).current_grade for cid, evs in CASES}


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, max_size=6)
    for case_id, events in CASES:
        await s.append(case_id, 0, to_new_events(events))
    await run_once(s, CaseSummaryProjection())
    await run_once(s, CaseMeasureFactsProjection())
    yield s
    await s.close()


def ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["case_id"] for r in rows}


def expected(predicate: Any) -> set[str]:
    return {cid for cid, s in SUMMARIES.items() if predicate(s)}


def is_overdue(s: Any) -> bool:
    return bool(
        (s.follow_up_due and s.follow_up_due < TODAY)
        or (s.fk_answer_due and s.fk_answer_due < TODAY)
        or s.overdue
    )


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({}, lambda s: True),
        ({"phase": "closed"}, lambda s: s.phase == "closed"),
        ({"phase": ["plan", "follow_up"]}, lambda s: s.phase in ("plan", "follow_up")),
        ({"unit_ids": ["vc-norr", "psyk-2"]}, lambda s: s.unit_id in ("vc-norr", "psyk-2")),
        ({"unit_ids": []}, lambda s: False),
        ({"unit_ids": ["psyk-2"]}, lambda s: s.unit_id == "psyk-2"),  # one unit: `=`
        ({"unit_ids": ["psyk-2"], "text": "M"},  # a text search keeps the units a filter
         lambda s: s.unit_id == "psyk-2" and "M" in (s.diagnosis_code or "")),
        ({"unit_ids": ["psyk-2", "vc-norr"], "text": "norr"}, lambda s: s.unit_id == "vc-norr"),
        ({"min_days": 30, "max_days": 90}, lambda s: 30 <= s.days <= 90),
        ({"grade": 50, "read_at": READ_AT}, lambda s: GRADE_READ[s.case_id] == 50),
        ({"grade": 100, "read_at": READ_AT}, lambda s: GRADE_READ[s.case_id] == 100),
        ({"diagnosis_chapter": "F00-F99"}, lambda s: s.diagnosis_chapter == "F00-F99"),
        ({"sex": "kvinna"}, lambda s: s.sex == "kvinna"),
        ({"overdue": True}, is_overdue),
        ({"overdue": False}, lambda s: not is_overdue(s)),
        ({"unanswered_fk": True}, lambda s: s.unanswered_fk > 0),
        (
            {"unanswered_fk": False, "phase": "closed"},
            lambda s: s.unanswered_fk == 0 and s.phase == "closed",
        ),
        ({"text": "M54"}, lambda s: s.diagnosis_code and "M54" in s.diagnosis_code),
        ({"text": "0000_1"}, lambda s: False),  # _ is a literal, not a wildcard
    ],
)
async def test_each_filter_selects_exactly_the_matching_cases(
    store: EventStore, filters: dict[str, Any], predicate: Any
) -> None:
    rows, total = await list_cases(store.pool, limit=1000, today=TODAY, **filters)
    want = expected(predicate)
    assert ids(rows) == want
    assert total == len(want)


def test_the_sample_makes_the_filters_meaningful() -> None:
    for predicate in (
        is_overdue,
        lambda s: s.unanswered_fk > 0,
        lambda s: s.phase == "closed",
        lambda s: GRADE_READ[s.case_id] == 50,
        lambda s: 30 <= s.days <= 90,
    ):
        assert 0 < len(expected(predicate)) < len(CASES)


async def test_sorting_and_paging_walk_every_row_once_in_order(store: EventStore) -> None:
    seen: list[dict[str, Any]] = []
    offset = 0
    while True:
        rows, total = await list_cases(
            store.pool, sort="days", descending=True, limit=7, offset=offset
        )
        assert total == len(CASES)
        if not rows:
            break
        seen += rows
        offset += 7
    assert len(seen) == len(CASES) and len(ids(seen)) == len(CASES)
    keys = [(-r["days"], r["case_id"]) for r in seen]
    assert keys == sorted(keys)


async def test_a_grade_page_is_sorted_and_paged_like_any_other(store: EventStore) -> None:
    want = expected(lambda s: GRADE_READ[s.case_id] == 100)
    first, total = await list_cases(store.pool, grade=100, read_at=READ_AT, limit=3)
    rest, _ = await list_cases(store.pool, grade=100, read_at=READ_AT, limit=1000, offset=3)
    assert total == len(want) > 3
    assert ids(first + rest) == want and len(first + rest) == len(want)
    starts = [(r["sick_period_start"], r["case_id"]) for r in first + rest]
    assert starts == sorted(starts)


@pytest.mark.parametrize("held", [True, False])
async def test_a_consent_page_is_sorted_and_paged_like_any_other(
    store: EventStore, held: bool
) -> None:
    """The consent filters read the page's ids by an index first (0150), then the rows.
    Read as the API reads: at an instant after every consent was given."""
    at = max(e.occurred_at for _, evs in CASES for e in evs) + timedelta(seconds=1)
    holds = {cid: "employer" in as_read_at(fold(evs), at).get("consents", {})
             for cid, evs in CASES}
    want = {cid for cid, h in holds.items() if h == held}
    field = "consent_held" if held else "consent_not_held"
    pages: list[dict[str, Any]] = []
    for offset in range(0, len(CASES), 7):
        rows, total = await list_cases(store.pool, read_at=at, limit=7, offset=offset,
                                       **{field: "employer"})
        assert total == len(want)
        pages += rows
    assert 0 < len(want) < len(CASES)
    assert ids(pages) == want and len(pages) == len(want)
    starts = [(r["sick_period_start"], r["case_id"]) for r in pages]
    assert starts == sorted(starts)


async def test_a_text_search_page_is_sorted_and_paged_like_any_other(store: EventStore) -> None:
    want = expected(lambda s: "M" in (s.diagnosis_code or ""))
    pages: list[dict[str, Any]] = []
    for offset in range(0, len(CASES), 7):
        rows, total = await list_cases(store.pool, text="m", unit_ids=["vc-norr", "psyk-2",
                                       "vc-syd", "ortoped-1", "vc-ost"], limit=7, offset=offset)
        assert total == len(want)
        pages += rows
    assert 0 < len(want) < len(CASES) and ids(pages) == want and len(pages) == len(want)
    starts = [(r["sick_period_start"], r["case_id"]) for r in pages]
    assert starts == sorted(starts)


async def test_a_capped_count_stops_one_past_the_cap(store: EventStore) -> None:
    """What "Fler än N" rests on: the count stops at cap + 1, the page is whole."""
    rows, total = await list_cases(store.pool, limit=5, count_limit=4)
    assert total == 5 and total_is_lower_bound(total, 4) and len(rows) == 5
    rows, total = await list_cases(store.pool, limit=5, count_limit=len(CASES))
    assert total == len(CASES) and not total_is_lower_bound(total, len(CASES))


async def test_unknown_sort_columns_are_refused_not_interpolated(store: EventStore) -> None:
    with pytest.raises(InvalidQuery) as err:
        await list_cases(store.pool, sort="days; DROP TABLE events")
    assert err.value.field == "sort"
    assert await store.pool.fetchval("SELECT count(*) FROM events") > 0


async def test_case_summary_and_history(store: EventStore) -> None:
    case_id, events = CASES[3]
    row = await get_case_summary(store.pool, case_id, with_state=True)
    assert row is not None
    assert {k: row[k] for k in SUMMARIES[case_id].model_dump()} == SUMMARIES[case_id].model_dump()
    assert row["state"]["case_id"] == case_id
    assert await get_case_summary(store.pool, "no-such-case") is None
    history = await case_events(store.pool, case_id)
    assert [e.event_id for e in history] == [e.event_id for e in events]


@pytest.mark.parametrize("unit", [None, "vc-syd"])
async def test_period_measures_equal_the_domain_over_the_whole_record(
    store: EventStore, unit: str | None
) -> None:
    everything = [e for _, evs in CASES for e in evs]
    for period in ((date(2024, 3, 1), date(2024, 3, 31)), (date(2024, 1, 1), date(2024, 12, 31))):
        got = await period_measures(store.pool, *period, unit_id=unit)
        assert got == compute_measures(everything, *period, unit_id=unit)
    assert got.ongoing.total > 0  # the whole year has cases in every unit


async def test_list_read_at_an_instant_shows_only_consents_valid_then(store: EventStore) -> None:
    """Revised rule: consent validity and the current grade are evaluated as the list is read."""
    from datetime import datetime, timedelta

    from domain.calendar import STOCKHOLM
    from domain.summary import as_read_at

    with_consent = next(cid for cid, s in SUMMARIES.items() if s.consents)
    state = fold(dict(CASES)[with_consent])
    long_after = datetime.now(STOCKHOLM) + timedelta(days=3 * 365)  # every consent lapsed by then
    rows, _ = await list_cases(store.pool, text=with_consent, read_at=long_after)
    assert [r["consents"] for r in rows] == [{}]
    stored, _ = await list_cases(store.pool, text=with_consent)
    assert stored[0]["consents"] == SUMMARIES[with_consent].consents  # as folded, without a time
    assert rows[0]["current_grade"] == as_read_at(state, long_after)["current_grade"] is None
