"""A failure never holds a case (issue #13): the store refusing events for good, a delivery
whose outcome cannot be recorded, a timer whose decision cannot be stored, and a case whose
carried state would outgrow Temporal's payload limit.

The store's refusals are real PostgreSQL refusals: a trigger on the events table that raises
for one case and one event type, the way a value the database cannot hold would.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from api.commands import workflow_id
from api.problems import Problem
from domain.bounds import TEXT_MAX
from domain.commands import CloseCase, EstablishPlan, GiveConsent, OpenCase, RevisePlan
from infra.settings import Settings
from store.eventstore import EventStore
from tests.workflows.conftest import RECIPIENTS, SECRET, Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    PNR,
    certificate,
    do,
    event_types,
    open_new_case,
    outcome,
    plan,
    today,
)
from worker import case_worker
from workflows.case import KEY_PREFIX, CaseInput, CaseWorkflow


class Refusals:
    """Triggers that make PostgreSQL refuse one case's events of one type."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.names: list[str] = []

    async def refuse(self, case_id: str, event_type: str, errcode: str = "check_violation") -> str:
        name = f"refuse_{uuid.uuid4().hex[:8]}"
        await self.store.pool.execute(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{errcode}'; END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON events FOR EACH ROW
              WHEN (NEW.stream_id = '{case_id}' AND NEW.type = '{event_type}')
              EXECUTE FUNCTION {name}();""")
        self.names.append(name)
        return name

    async def allow(self, name: str) -> None:
        await self.store.pool.execute(f"DROP TRIGGER {name} ON events; DROP FUNCTION {name}();")
        self.names.remove(name)


@pytest.fixture
async def refusals(store: EventStore) -> AsyncIterator[Refusals]:
    r = Refusals(store)
    yield r
    for name in list(r.names):
        await r.allow(name)


async def problem_of(h: Harness, case_id: str) -> dict[str, object] | None:
    handle = h.client.get_workflow_handle(workflow_id(case_id))
    return await handle.query("problem")  # type: ignore[no-any-return]


async def test_a_command_the_store_refuses_for_good_is_refused_and_the_case_goes_on(
        harness: Harness, refusals: Refusals) -> None:
    start = await today(harness)
    case_id, _ = await open_new_case(harness, start)
    await refusals.refuse(case_id, "ConsentGiven")
    before = await event_types(harness, case_id)
    with pytest.raises(Problem) as refused:  # at once: not retried for ever under the lock
        await asyncio.wait_for(do(harness, case_id, GiveConsent(
            actor=PATIENT, recipient="employer", purpose="share_information")), timeout=15)
    assert refused.value.status == 422
    assert refused.value.errors[0]["rule"] == "not_storable"
    assert await event_types(harness, case_id) == before
    result = await asyncio.wait_for(do(harness, case_id, EstablishPlan(
        actor=PHYSICIAN, plan=plan(start + timedelta(days=20)))), timeout=15)
    assert result.events == ["PlanEstablished"]


async def test_an_outcome_that_cannot_be_recorded_never_holds_the_case_open(
        harness: Harness, refusals: Refusals) -> None:
    start = (await today(harness)) - timedelta(days=9)  # day 8 passed: the patient is reminded
    case_id = uuid.uuid4().hex[:12]
    await refusals.refuse(case_id, "NotificationSent")
    await open_new_case_with_id(harness, case_id, start)

    async def reported() -> dict[str, object] | None:
        while (found := await problem_of(harness, case_id)) is None:
            await asyncio.sleep(0.1)
        return found

    problem = await asyncio.wait_for(reported(), timeout=30)
    assert "notification" in str(problem["what"])
    await do(harness, case_id, CloseCase(actor=PHYSICIAN, reason="return_to_work_full"))
    closed = await outcome(harness, case_id)  # before: waited for the delivery for ever
    assert closed.closed_reason == "return_to_work_full"
    assert harness.receiver.kinds().count("certificate_required_day_8") >= 1


async def test_a_timer_decision_the_store_refuses_is_tried_again_later(
        harness: Harness, refusals: Refusals) -> None:
    start = (await today(harness)) - timedelta(days=9)
    case_id = uuid.uuid4().hex[:12]
    trigger = await refusals.refuse(case_id, "MilestoneReached")
    await open_new_case_with_id(harness, case_id, start)

    async def reported() -> dict[str, object]:
        while (found := await problem_of(harness, case_id)) is None:
            await asyncio.sleep(0.1)
        return found

    problem = await asyncio.wait_for(reported(), timeout=30)
    assert str(problem["what"]).startswith("timer:")
    assert "MilestoneReached" not in await event_types(harness, case_id)
    result = await asyncio.wait_for(do(harness, case_id, GiveConsent(  # still answers
        actor=PATIENT, recipient="employer", purpose="share_information")), timeout=15)
    assert result.events == ["ConsentGiven"]

    await refusals.allow(trigger)
    await harness.env.sleep(timedelta(hours=1, minutes=1))  # the retry is due

    async def recorded() -> None:
        while "MilestoneReached" not in await event_types(harness, case_id):
            await asyncio.sleep(0.1)

    await asyncio.wait_for(recorded(), timeout=30)
    assert await problem_of(harness, case_id) is None


async def open_new_case_with_id(h: Harness, case_id: str, start: object) -> None:
    from api.commands import open_case

    await open_case(h.client, h.task_queue, OpenCase(
        actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
        sick_period_start=start), None)  # type: ignore[arg-type]
    h.cases.append(case_id)


async def test_the_carried_state_is_bounded_and_keys_outlive_continue_as_new(
        time_skipping_env, store, receiver, fk) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(webhook_urls={r: receiver.url for r in RECIPIENTS}, webhook_secret=SECRET,
                        fk_url=fk.url, fk_secret=SECRET)
    queue = f"bounded-{uuid.uuid4().hex[:6]}"
    client = time_skipping_env.client
    start = (await time_skipping_env.get_current_time()).date()
    case_id = uuid.uuid4().hex[:12]
    key = f"{KEY_PREFIX}{'a' * 32}:{'b' * 32}"
    async with case_worker(client, store, settings, task_queue=queue):
        handle = await client.start_workflow(
            CaseWorkflow.run, CaseInput(case_id=case_id, max_history_events=30),
            id=workflow_id(case_id), task_queue=queue)
        await handle.execute_update(CaseWorkflow.execute, OpenCase(
            actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
            sick_period_start=start, certificate=certificate(start, 1, 120)))
        first = await handle.execute_update(CaseWorkflow.execute, GiveConsent(
            actor=PATIENT, recipient="employer", purpose="share_information"), id=key)
        texts = 0
        for n in range(12):  # plans at every text's limit: ~140 kB of text in the record
            long = plan(start + timedelta(days=30)).model_copy(update={
                "assessment": f"{n}" + "a" * (TEXT_MAX - 2), "sick_leave": "s" * TEXT_MAX,
                "return_to_work": "r" * TEXT_MAX})
            command = (EstablishPlan(actor=PHYSICIAN, plan=long) if n == 0
                       else RevisePlan(actor=PHYSICIAN, plan=long, reason="ny bedömning"))
            await handle.execute_update(CaseWorkflow.execute, command)
            texts += 3 * TEXT_MAX

        async def continued() -> str:
            while (run := (await client.get_workflow_handle(workflow_id(case_id)).describe())
                   .run_id) == handle.first_execution_run_id:
                await asyncio.sleep(0.1)
            return str(run)

        new_run = await asyncio.wait_for(continued(), timeout=60)
        history = await client.get_workflow_handle(workflow_id(case_id), run_id=new_run) \
            .fetch_history()
        carried = history.events[0].workflow_execution_started_event_attributes.input
        size = sum(len(p.data) for p in carried.payloads)
        assert texts > 140_000 and size < 25_000, size  # texts stay in the record, not the state
        codec = client.data_converter.payload_codec  # the carried state is sealed: open it
        assert codec is not None
        opened = await codec.decode(list(carried.payloads))
        assert json.loads(opened[0].data)["keys"]  # the answered key came along

        current = client.get_workflow_handle(workflow_id(case_id))
        again = await current.execute_update(CaseWorkflow.execute, GiveConsent(
            actor=PATIENT, recipient="employer", purpose="share_information"), id=key)
        assert again == first  # the first answer, from the earlier run
        with pytest.raises(WorkflowUpdateFailedError):  # same key, another command
            await current.execute_update(CaseWorkflow.execute, GiveConsent(
                actor=PATIENT, recipient="fk", purpose="share_information"),
                id=f"{KEY_PREFIX}{'a' * 32}:{'c' * 32}")
        types = [e.type for e in await store.read_stream(case_id)]
        assert types.count("ConsentGiven") == 1
        assert types.count("PlanRevised") == 11  # every version is in the record, in full
        stored = [e.data["plan"]["assessment"] for e in await store.read_stream(case_id)
                  if e.type == "PlanRevised"]
        assert all(len(a) == TEXT_MAX - 2 + len(str(i + 1)) for i, a in enumerate(stored))
        await current.terminate("test over")


async def test_a_case_whose_append_keeps_failing_shows_as_stuck_then_recovers(
        dev_server_env, store, receiver, fk, refusals) -> None:  # type: ignore[no-untyped-def]
    """A database that says "not now" (a serialization failure) is retried, the case shows up
    in `sjukfall cases stuck` and in the metric meanwhile, and the command lands once it
    clears."""
    from api.commands import open_case, send_command
    from infra.metrics import CASES_STUCK
    from sjukfall.stuck import stuck_cases

    settings = Settings(webhook_urls={r: receiver.url for r in RECIPIENTS}, webhook_secret=SECRET,
                        fk_url=fk.url, fk_secret=SECRET)
    queue = f"stuck-{uuid.uuid4().hex[:6]}"
    client = dev_server_env.client
    case_id = uuid.uuid4().hex[:12]
    stuck_gauge = CASES_STUCK.labels("append_events")
    async with case_worker(client, store, settings, task_queue=queue):
        await open_case(client, queue, OpenCase(
            actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
            sick_period_start=date.today()), None)
        trigger = await refusals.refuse(case_id, "ConsentGiven", errcode="40001")
        pending = asyncio.create_task(send_command(client, case_id, GiveConsent(
            actor=PATIENT, recipient="employer", purpose="share_information"), None))

        async def listed() -> list[object]:
            while not (found := [s for s in await stuck_cases(client) if s.case_id == case_id]):
                await asyncio.sleep(0.5)
            return found  # type: ignore[return-value]

        [stuck] = await asyncio.wait_for(listed(), timeout=60)
        assert "append_events" in stuck.what and stuck.attempts >= 3  # type: ignore[attr-defined]
        assert stuck_gauge._value.get() >= 1
        assert not pending.done()

        await refusals.allow(trigger)
        result = await asyncio.wait_for(pending, timeout=60)
        assert result.events == ["ConsentGiven"]
        assert (await event_types_of(store, case_id)).count("ConsentGiven") == 1
        assert [s for s in await stuck_cases(client) if s.case_id == case_id] == []
        await client.get_workflow_handle(workflow_id(case_id)).terminate("test over")


async def event_types_of(store: EventStore, case_id: str) -> list[str]:
    return [e.type for e in await store.read_stream(case_id)]
