"""The delivery activity on its own, against a real event store and a real webhook receiver:
consent is checked against every event recorded before the moment of sending, also when the
worker folds only the events after the state it folded last (activities/case_record.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.case_activities import CaseActivities
from activities.case_record import CaseRecord
from activities.models import AppendEvents, Delivery, DeliveryOutcome
from domain import CaseState, decide, fold, initial_state
from domain.calendar import day_start
from domain.commands import SYSTEM, GiveConsent, OpenCase, ReachMilestone, WithdrawConsent
from domain.events import Event, NotificationRequested
from store.databases import create_database, drop_database
from store.eventstore import EventStore
from tests.support.receiver import Receiver
from tests.workflows.support import PATIENT, PHYSICIAN, PNR, certificate

SECRET = "test-webhook-secret"
START = date(2025, 3, 3)


@pytest.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with await EventStore.connect(database_url) as s:
        yield s


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver(SECRET) as r:
        yield r


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def worker(store: EventStore, http: httpx.AsyncClient, receiver: Receiver) -> CaseActivities:
    """The activities as a worker process has them (each process folds on its own)."""
    return CaseActivities(store, http, {"employer": receiver.url}, {"employer": [SECRET]})


class Case:
    """A case decided with the pure domain and appended through the real activity. The
    activity environment's clock is at 1970, so the moment of sending is the newest event."""

    def __init__(self, activities: CaseActivities) -> None:
        self.activities = activities
        self.state: CaseState = initial_state(uuid.uuid4().hex[:12])
        self.env = ActivityEnvironment()

    async def run(self, command: Any, now: datetime) -> list[Event]:
        events = decide(command, self.state, now)
        await self.env.run(self.activities.append_events, AppendEvents(
            case_id=self.state.case_id, expected_version=self.state.version, events=events))
        self.state = fold(events, self.state)
        return events

    async def deliver(self, note: NotificationRequested,
                      activities: CaseActivities | None = None) -> DeliveryOutcome:
        result: DeliveryOutcome = await self.env.run(
            (activities or self.activities).deliver_notification,
            Delivery(case_id=self.state.case_id, notification=note))
        return result


async def employer_notified_on_day_14(case: Case) -> NotificationRequested:
    await case.run(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                            unit_id="vc-norr", sick_period_start=START, employer_name="AB",
                            certificate=certificate(START, 1, 30)),
                   day_start(START, 1) + timedelta(hours=9))
    await case.run(GiveConsent(actor=PATIENT, recipient="employer", purpose="share_information"),
                   day_start(START, 1) + timedelta(hours=10))
    await case.run(ReachMilestone(actor=SYSTEM, day=8), day_start(START, 8))
    fired = await case.run(ReachMilestone(actor=SYSTEM, day=14), day_start(START, 14))
    notes = [e for e in fired if isinstance(e, NotificationRequested) and e.recipient == "employer"]
    assert notes
    return notes[0]


async def test_a_withdrawal_recorded_just_before_a_retried_send_suppresses_it(
    store: EventStore, http: httpx.AsyncClient, receiver: Receiver,
) -> None:
    activities = worker(store, http, receiver)
    case = Case(activities)
    note = await employer_notified_on_day_14(case)
    first = await case.deliver(note)  # this worker has now folded the case up to here
    assert first.outcome == "sent"
    assert receiver.delivered[note.notification_id] == 1

    # the answer was lost; before Temporal retries, the patient withdraws consent
    await case.run(WithdrawConsent(actor=PATIENT, recipient="employer",
                                   purpose="share_information"),
                   day_start(START, 14) + timedelta(minutes=1))
    again = await case.deliver(note)

    assert again.outcome == "suppressed" and again.reason and "withdrew" in again.reason
    assert receiver.delivered[note.notification_id] == 1  # nothing more reached the employer
    # a worker that folds the whole stream decides the same
    assert await case.deliver(note, worker(store, http, receiver)) == again


async def test_the_fold_from_the_last_folded_state_equals_the_whole_stream_folded(
    store: EventStore,
) -> None:
    warm = CaseRecord(store)
    case = Case(CaseActivities(store, httpx.AsyncClient(), {}, {}))
    steps = [
        (OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR, unit_id="vc-norr",
                  sick_period_start=START, employer_name="AB",
                  certificate=certificate(START, 1, 30)), day_start(START, 1)),
        (GiveConsent(actor=PATIENT, recipient="employer", purpose="share_information"),
         day_start(START, 2)),
        (ReachMilestone(actor=SYSTEM, day=8), day_start(START, 8)),
        (WithdrawConsent(actor=PATIENT, recipient="employer", purpose="share_information"),
         day_start(START, 9)),
        (ReachMilestone(actor=SYSTEM, day=14), day_start(START, 14)),
    ]
    for command, at in steps:
        await case.run(command, at)
        folded, whole = await warm.current(case.state.case_id), await CaseRecord(store).current(
            case.state.case_id)
        assert folded.state == whole.state == case.state
        assert (folded.last_recorded, folded.last_occurred_at) == (
            whole.last_recorded, whole.last_occurred_at)
    again = await warm.current(case.state.case_id)  # nothing new: the same state, not a copy
    assert again.state is folded.state


async def test_a_record_that_no_longer_holds_the_folded_event_is_read_whole_again(
    store: EventStore, pg_admin_url: str,
) -> None:
    """The database restored from a backup taken before the case went on differently: the
    event this worker folded last is not in the record, so its fold is not built upon."""
    record = CaseRecord(store)
    case = Case(CaseActivities(store, httpx.AsyncClient(), {}, {}))
    note = await employer_notified_on_day_14(case)
    given = (await record.current(case.state.case_id)).state
    assert given.consents and note.recipient == "employer"

    restored_url = await create_database(pg_admin_url, migrated=True)
    try:
        async with await EventStore.connect(restored_url) as restored:
            other = Case(CaseActivities(restored, httpx.AsyncClient(), {}, {}))
            other.state = initial_state(case.state.case_id)  # the same case, as restored
            opened = day_start(START, 1) + timedelta(hours=9)
            for command, at in [
                (OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                          unit_id="vc-norr", sick_period_start=START, employer_name="AB",
                          certificate=certificate(START, 1, 30)), opened),
                (ReachMilestone(actor=SYSTEM, day=8), day_start(START, 8)),
                (ReachMilestone(actor=SYSTEM, day=14), day_start(START, 14)),
                (ReachMilestone(actor=SYSTEM, day=30), day_start(START, 30)),
                (GiveConsent(actor=PATIENT, recipient="fk", purpose="contact"),
                 day_start(START, 30) + timedelta(hours=1)),
            ]:
                await other.run(command, at)
            assert other.state.version > given.version  # there is a tail to build upon
            record.store = restored

            assert (await record.current(case.state.case_id)).state == other.state
    finally:
        await drop_database(pg_admin_url, restored_url)


async def test_a_case_with_no_events_is_still_an_error(store: EventStore) -> None:
    with pytest.raises(ValueError, match="at least one event"):
        await CaseRecord(store).current("no-such-case")
