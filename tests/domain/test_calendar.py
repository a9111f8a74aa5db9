import random
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import (
    STOCKHOLM,
    covered_days,
    day_number,
    day_start,
    merge_ranges,
    same_sick_period,
    subtract_working_days,
)


def test_day_one_begins_at_midnight_stockholm() -> None:
    assert day_start(date(2024, 1, 10), 1) == datetime(2024, 1, 10, tzinfo=STOCKHOLM)
    assert day_start(date(2024, 1, 10), 1).utcoffset() == timedelta(hours=1)


def test_day_n_counts_calendar_days_across_daylight_saving() -> None:
    start = date(2024, 3, 25)  # DST began 31 March
    day_8 = day_start(start, 8)
    assert day_8 == datetime(2024, 4, 1, tzinfo=STOCKHOLM)
    assert day_8.utcoffset() == timedelta(hours=2)
    assert day_8.astimezone(UTC) == datetime(2024, 3, 31, 22, tzinfo=UTC)


def test_day_number_uses_the_stockholm_date_of_an_instant() -> None:
    start = date(2024, 6, 1)
    # 23:30 UTC on 1 June is already 2 June in Stockholm (UTC+2): day 2
    assert day_number(start, datetime(2024, 6, 1, 23, 30, tzinfo=UTC)) == 2
    assert day_number(start, datetime(2024, 6, 1, 21, 59, tzinfo=UTC)) == 1
    assert day_number(start, day_start(start, 30)) == 30


def test_four_day_gap_is_the_same_sick_period_six_days_is_not() -> None:
    end = date(2024, 3, 10)
    assert same_sick_period(end, date(2024, 3, 15))  # 11-14: 4 days between
    assert same_sick_period(end, date(2024, 3, 16))  # 5 days: still the same
    assert not same_sick_period(end, date(2024, 3, 17))  # 6 days: a new sick period


def test_merge_gap_is_configurable_between_0_and_90_days() -> None:
    end = date(2024, 3, 10)
    assert not same_sick_period(end, date(2024, 3, 12), gap_days=0)
    assert same_sick_period(end, date(2024, 3, 11), gap_days=0)
    assert same_sick_period(end, date(2024, 6, 8), gap_days=90)
    with pytest.raises(ValueError, match="between 0 and 90"):
        same_sick_period(end, date(2024, 3, 12), gap_days=91)


def test_covered_days_count_each_day_once() -> None:
    ranges = [
        (date(2024, 1, 1), date(2024, 1, 10)),
        (date(2024, 1, 5), date(2024, 1, 14)),  # overlaps
        (date(2024, 1, 20), date(2024, 1, 20)),
    ]
    assert covered_days(ranges) == 15


def test_working_days_skip_weekends() -> None:
    assert subtract_working_days(date(2024, 3, 13), 3) == date(2024, 3, 8)  # Wed -> Fri
    assert subtract_working_days(date(2024, 3, 11), 1) == date(2024, 3, 8)  # Mon -> Fri


ranges = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 40)).map(
        lambda t: (
            date(2024, 1, 1) + timedelta(days=t[0]),
            date(2024, 1, 1) + timedelta(days=t[0] + t[1]),
        )
    ),
    max_size=8,
)


@given(ranges, st.randoms(), st.integers(0, 90))
def test_merge_rule_is_order_independent(
    items: list[tuple[date, date]], rnd: random.Random, gap: int
) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert merge_ranges(items, gap) == merge_ranges(shuffled, gap)
    assert covered_days(items) == covered_days(shuffled)


@given(ranges, st.integers(0, 90))
def test_merged_sick_periods_are_separated_by_more_than_the_gap(
    items: list[tuple[date, date]], gap: int
) -> None:
    periods = merge_ranges(items, gap)
    for (_, end), (start, _) in pairwise(periods):
        assert not same_sick_period(end, start, gap)
    for start, end in items:
        assert any(s <= start and end <= e for s, e in periods)
