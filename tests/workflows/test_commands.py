"""Commands through updates: duplicates, rejections, long cases, retries and consent at send time."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from api.commands import open_case, workflow_id
from api.problems import Problem
from domain.commands import GiveConsent, OpenCase, RecordCertificate, WithdrawConsent
from tests.workflows.conftest import Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    PNR,
    advance_to_day,
    certificate,
    do,
    event_types,
    morning,
    open_new_case,
    outcome,
    records,
)
from workflows.case import CaseInput, CaseWorkflow


async def history_types(h: Harness, case_id: str) -> list[str]:
    """The workflow's history without workflow-task bookkeeping (a rejected update may cost a
    workflow task on the test server; on a real server it runs speculatively and leaves none)."""
    handle = h.client.get_workflow_handle(workflow_id(case_id))
    kinds = [e.WhichOneof("attributes") or "" async for e in handle.fetch_history_events()]
    return [k for k in kinds if not k.startswith("workflow_task_")]


async def test_same_update_id_twice_records_once(harness: Harness) -> None:
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 20))
    consent = GiveConsent(actor=PATIENT, recipient="employer", purpose="contact")
    first = await do(harness, case_id, consent, key="req-1")
    again = await do(harness, case_id, consent, key="req-1")
    assert again == first
    assert (await event_types(harness, case_id)).count("ConsentGiven") == 1


async def test_opening_the_same_case_twice_makes_one_workflow_and_one_case_opened(
    harness: Harness,
) -> None:
    start = await morning(harness)
    case_id, first = await open_new_case(harness, start, certificate(start, 1, 20))
    command = OpenCase(actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
                       sick_period_start=start, certificate=certificate(start, 1, 20))
    again = await open_case(harness.client, harness.task_queue, command, f"open-{case_id}")
    assert again == first
    with pytest.raises(Problem) as refused:  # a different request to open it again
        await open_case(harness.client, harness.task_queue, command, "another-key")
    assert refused.value.status == 409
    assert (await event_types(harness, case_id)).count("CaseOpened") == 1


async def test_invalid_command_leaves_no_history_entry_and_no_event(harness: Harness) -> None:
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 20))
    events_before = await event_types(harness, case_id)
    history_before = await history_types(harness, case_id)

    too_far = certificate(start, 40, 60, cid="c9")  # 19-day gap: a new sick period, not this case
    with pytest.raises(Problem) as refused:
        await do(harness, case_id, RecordCertificate(actor=PHYSICIAN, certificate=too_far))

    assert refused.value.status == 422
    assert refused.value.errors[0]["field"].startswith("certificate")
    assert await event_types(harness, case_id) == events_before
    assert await history_types(harness, case_id) == history_before


async def test_400_day_case_reaches_the_rehab_chain_across_continue_as_new(
    time_skipping_env, store, receiver, fk  # type: ignore[no-untyped-def]
) -> None:
    from infra.settings import Settings
    from tests.workflows.conftest import RECIPIENTS, SECRET
    from worker import case_worker

    settings = Settings(webhook_urls={r: receiver.url for r in RECIPIENTS}, webhook_secret=SECRET,
                        fk_url=fk.url, fk_secret=SECRET)
    queue = f"long-{uuid.uuid4().hex[:6]}"
    client = time_skipping_env.client
    start = (await time_skipping_env.get_current_time()).date()
    case_id = uuid.uuid4().hex[:12]
    async with case_worker(client, store, settings, task_queue=queue):
        handle = await client.start_workflow(
            CaseWorkflow.run, CaseInput(case_id=case_id, max_history_events=40),
            id=workflow_id(case_id), task_queue=queue,
        )
        await handle.execute_update(CaseWorkflow.execute, OpenCase(
            actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
            sick_period_start=start, employer_name="Verkstaden AB",
            certificate=certificate(start, 1, 400)))
        for recipient, purpose in [("employer", "share_information"), ("af", "coordination"),
                                   ("fk", "coordination"), ("fk", "share_information")]:
            await handle.execute_update(CaseWorkflow.execute, GiveConsent(
                actor=PATIENT, recipient=recipient, purpose=purpose, valid_until=None))
        result = await asyncio.wait_for(handle.result(), timeout=180)  # time skips through it

    assert result.closed_reason == "sick_period_ended"
    stream = await store.read_stream(case_id)
    assert [e.version for e in stream] == list(range(1, len(stream) + 1))  # no gap, no double
    reached = [e.data["day"] for e in stream if e.type == "MilestoneReached"]
    assert reached == [8, 14, 30, 60, 90, 180, 365]
    runs = {e.metadata.get("workflow_run_id") for e in stream}
    assert len(runs) > 1  # it continued as new at least once, carrying the state
    assert {"rehab_chain_day_91", "rehab_chain_day_181", "consider_af", "rehab_chain_day_366",
            "coordinate_with_fk"} <= set(receiver.kinds())
    assert all(n == 1 for n in receiver.delivered.values())
    assert list(fk.certificates) == ["c1"]  # the FK7804 went to FK once, at day 14


async def test_failing_receiver_is_retried_until_delivered_once(harness: Harness) -> None:
    harness.receiver.fail_ratio = 0.5
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 30),
                                     employer_name="Verkstaden AB")
    await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="employer",
                                           purpose="share_information"))
    await advance_to_day(harness, start, 16)
    requested = await records(harness, case_id, "NotificationRequested")
    sent = await records(harness, case_id, "NotificationSent")
    assert len(requested) == 2 and len(sent) == 2
    assert sorted(harness.receiver.delivered.values()) == [1, 1]
    assert harness.receiver.attempts > 2  # some attempts were refused and retried


async def test_consent_withdrawn_while_delivery_retries_stops_it(harness: Harness) -> None:
    harness.receiver.fail_ratio = 1.0  # the employer's endpoint is down
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 30),
                                     employer_name="Verkstaden AB")
    await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="employer",
                                           purpose="share_information"))
    await advance_to_day(harness, start, 14, hour=3)  # day 14 came at midnight: 3 hours of retries
    assert await records(harness, case_id, "NotificationSent") == []
    assert harness.receiver.attempts >= 4

    await do(harness, case_id, WithdrawConsent(actor=PATIENT, recipient="employer",
                                               purpose="share_information"))
    harness.receiver.fail_ratio = 0.0  # the endpoint is back: nothing may reach it now
    await advance_to_day(harness, start, 17)

    employer = [s for s in await records(harness, case_id, "NotificationSuppressed")
                if s["recipient"] == "employer"]
    assert len(employer) == 1 and "withdrew" in employer[0]["reason"]
    assert not any(b["recipient"] == "employer" for b in harness.receiver.bodies.values())


async def test_case_closed_by_hand_completes_the_workflow_and_refuses_more(harness: Harness) -> None:
    from domain.commands import CloseCase

    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 60))
    await do(harness, case_id, CloseCase(actor=PHYSICIAN, reason="return_to_work_full"))
    result = await outcome(harness, case_id)
    assert result.closed_reason == "return_to_work_full"
    with pytest.raises(Problem) as refused:
        await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="fk", purpose="contact"))
    assert refused.value.status == 409
    assert (await event_types(harness, case_id))[-1] == "CaseClosed"


async def test_case_is_indexed_by_phase_unit_and_next_milestone(harness: Harness) -> None:
    from domain.calendar import day_start
    from workflows.case import CASE_PHASE, CASE_UNIT, NEXT_MILESTONE_AT

    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 20))
    await advance_to_day(harness, start, 2)
    raw = await harness.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=harness.client.namespace,
                                         execution=WorkflowExecution(workflow_id=workflow_id(case_id))))
    fields = raw.workflow_execution_info.search_attributes.indexed_fields
    attributes = {name: json.loads(payload.data) for name, payload in fields.items()}
    assert attributes[CASE_PHASE.name] == "assessment"
    assert attributes[CASE_UNIT.name] == "vc-norr"
    assert datetime.fromisoformat(attributes[NEXT_MILESTONE_AT.name]) == day_start(start, 8)

    handle = harness.client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))
    state = await handle.query(CaseWorkflow.current_state)
    assert state.version == 2 and state.unit_id == "vc-norr"
    ahead = await handle.query(CaseWorkflow.upcoming)
    assert [t.command.type for t in ahead][:3] == ["ReachMilestone", "ReachMilestone", "CloseCase"]
    assert ahead[0].at == day_start(start, 8)


async def test_a_delivery_that_fails_for_three_days_is_recorded_as_failed(harness: Harness) -> None:
    """The alert on failed notifications depends on this: after three days of retries the
    workflow stops trying and records NotificationFailed, so that a person follows it up."""
    from prometheus_client import REGISTRY

    def failed_count() -> float:
        return sum(REGISTRY.get_sample_value("sjukfall_notifications_total",
                                             {"recipient": r, "outcome": "failed"}) or 0.0
                   for r in ("employer", "patient"))

    harness.receiver.fail_ratio = 1.0  # every endpoint is down, and stays down
    before = failed_count()
    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 30),
                                     employer_name="Verkstaden AB")
    await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="employer",
                                           purpose="share_information"))
    await advance_to_day(harness, start, 16, hour=22)  # day 14 began 70 hours ago: still trying
    requested = await records(harness, case_id, "NotificationRequested")
    assert {r["recipient"] for r in requested} == {"employer", "patient"}
    assert await records(harness, case_id, "NotificationFailed") == []
    attempts = harness.receiver.attempts
    assert attempts >= 2 * 60  # about hourly for three days, for each of the two

    await advance_to_day(harness, start, 17, hour=6)  # the three days are over
    failed = await records(harness, case_id, "NotificationFailed")
    assert sorted(f["notification_id"] for f in failed) == sorted(
        r["notification_id"] for r in requested)
    assert await records(harness, case_id, "NotificationSent") == []
    assert failed_count() - before == 2
    await advance_to_day(harness, start, 18)
    assert harness.receiver.attempts <= attempts + 2 * 8  # and then it stops trying
