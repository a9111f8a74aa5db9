"""Whole case lifecycles on the time-skipping server, checked in the event record."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.calendar import STOCKHOLM

from tests.workflows.conftest import Harness
from tests.workflows.support import certificate, event_types, open_new_case, outcome, today


async def test_ten_day_case_reminds_nothing_and_closes_when_the_gap_passes(harness: Harness) -> None:
    start = await today(harness)
    case_id, opened = await open_new_case(harness, start, certificate(start, 1, 10))
    assert opened.version >= 2

    result = await outcome(harness, case_id)  # time skips to the automatic closure

    assert result.closed_reason == "sick_period_ended"
    types = await event_types(harness, case_id)
    assert types[0] == "CaseOpened"
    assert types[-1] == "CaseClosed"
    reached = [e.data["day"] for e in await harness.store.read_stream(case_id)
               if e.type == "MilestoneReached"]
    assert reached == [8, 14]  # day 8 covered: no reminder; day 14: leave ended, nothing to do
    assert "NotificationRequested" not in types
    closed_at = datetime.fromisoformat((await harness.store.read_stream(case_id))[-1].data["occurred_at"])
    # last day 10, five gap days (11-15) may still bring a certificate; closes as day 16 begins
    assert closed_at.astimezone(STOCKHOLM).date() == start + timedelta(days=15)
