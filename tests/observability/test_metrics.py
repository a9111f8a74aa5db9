"""What an operator's Prometheus sees: the worker's port and the API's /metrics after real
case lifecycles, with counts checked against the event record."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import ActivityEnvironment

from activities.case_activities import CaseActivities
from activities.models import AppendEvents
from domain import CaseState, decide, evolve, initial_state
from domain.calendar import day_start
from domain.commands import (
    SYSTEM,
    EstablishPlan,
    GiveConsent,
    OpenCase,
    ReachMilestone,
    RecordNotificationOutcome,
    RecordPlanFollowUp,
)
from domain.events import Event
from domain.rehab_chain import ChainLink
from infra import metrics
from infra.embedded import free_port
from store.eventstore import EventStore
from store.projections import CaseSummaryProjection
from store.subscription import run_once
from tests.workflows.conftest import Harness
from tests.workflows.support import (
    PATIENT,
    PHYSICIAN,
    PNR,
    advance_to_day,
    certificate,
    do,
    morning,
    open_new_case,
    outcome,
    plan,
    records,
)
from workflows.case import CaseWorkflow  # noqa: F401  (the harness's worker runs it)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def by_label(after: Samples, before: Samples, name: str, label: str, **fixed: str) -> dict[str, float]:
    """{label value: delta} over the samples of `name` that carry the `fixed` labels."""
    out: dict[str, float] = {}
    for (n, labels), value in after.items():
        d = dict(labels)
        if n == name and all(d.get(k) == v for k, v in fixed.items()) and label in d:
            change = value - before.get((n, labels), 0.0)
            if change:
                out[d[label]] = change
    return out


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    return parse(response.text)


@pytest.fixture
def worker_endpoint() -> Any:
    endpoint = metrics.start_worker_metrics(free_port(), addr="127.0.0.1")
    assert endpoint is not None
    yield endpoint
    endpoint.shutdown()


async def test_worker_endpoint_answers_probes(worker_endpoint: Any) -> None:
    base = f"http://127.0.0.1:{worker_endpoint.port}"
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503  # no worker running yet
        worker_endpoint.ready = lambda: True
        assert (await http.get("/readyz")).status_code == 200
        watcher = asyncio.create_task(worker_endpoint.watch_loop(every=0.01))
        await asyncio.sleep(0.05)
        worker_endpoint.stall_after = 0.0  # as if the loop had not turned for a minute
        assert (await http.get("/healthz")).status_code == 503
        watcher.cancel()
        assert (await http.get("/nothing")).status_code == 404
    with pytest.raises(SystemExit, match="SJUKFALL_WORKER_METRICS_PORT"):
        metrics.start_worker_metrics(worker_endpoint.port, addr="127.0.0.1")
    assert metrics.start_worker_metrics(0) is None


async def test_worker_port_counts_a_45_day_lifecycle_exactly(
    harness: Harness, worker_endpoint: Any
) -> None:
    worker_metrics_url = f"http://127.0.0.1:{worker_endpoint.port}/metrics"
    before = await scrape(worker_metrics_url)

    start = await morning(harness)
    case_id, _ = await open_new_case(harness, start, certificate(start, 1, 45),
                                     employer_name="Verkstaden AB")
    await do(harness, case_id, GiveConsent(actor=PATIENT, recipient="employer",
                                           purpose="share_information"))
    await advance_to_day(harness, start, 10)
    await do(harness, case_id, EstablishPlan(actor=PHYSICIAN, plan=plan(start + timedelta(days=39))))
    await advance_to_day(harness, start, 40)
    await do(harness, case_id, RecordPlanFollowUp(actor=PHYSICIAN,
                                                  followed_up_on=start + timedelta(days=39)))
    assert (await outcome(harness, case_id)).closed_reason == "sick_period_ended"

    after = await scrape(worker_metrics_url)
    recorded = await harness.store.read_stream(case_id)

    # every event of the record counted once, by type
    assert by_label(after, before, "sjukfall_events_appended_total", "type") == dict(
        Counter(e.type for e in recorded))
    # the milestones that fired, each once, on time (time-skipping fires timers exactly when due)
    assert by_label(after, before, "sjukfall_milestones_fired_total", "day") == {
        "8": 1, "14": 1, "30": 1}
    for day in ("8", "14", "30"):
        assert delta(after, before, "sjukfall_milestone_lateness_seconds_count", day=day) == 1
        assert delta(after, before, "sjukfall_milestone_lateness_seconds_bucket",
                     day=day, le="1.0") == 1
    # notifications: per recipient and outcome, exactly what the record says
    requested = {r["notification_id"]: r["recipient"]
                 for r in await records(harness, case_id, "NotificationRequested")}
    expected: dict[str, Counter[str]] = {}
    for event_type, outcome_label in (("NotificationRequested", "requested"),
                                      ("NotificationSent", "sent"),
                                      ("NotificationSuppressed", "suppressed"),
                                      ("NotificationFailed", "failed")):
        expected[outcome_label] = Counter(
            r.get("recipient") or requested[r["notification_id"]]
            for r in await records(harness, case_id, event_type))
        assert by_label(after, before, "sjukfall_notifications_total", "recipient",
                        outcome=outcome_label) == dict(expected[outcome_label]), outcome_label
    assert expected["sent"]["employer"] >= 1  # day 14: the employer, with consent, is told
    assert expected["suppressed"]["multimodal_team"] == 1  # day 30: no consent for the team
    assert delta(after, before, "sjukfall_cases_opened_total") == 1
    assert delta(after, before, "sjukfall_cases_closed_total", reason="sick_period_ended") == 1
    appends = len({e.metadata.get("causation_id") for e in recorded})  # >= one append per command
    assert delta(after, before, "sjukfall_event_append_seconds_count") >= appends


# --- the append activity on its own: retries, a restarted worker ---------------------------


class Case:
    """A case decided with the pure domain and appended through the real activity."""

    def __init__(self, activities: CaseActivities, start: date) -> None:
        self.activities = activities
        self.state: CaseState = initial_state(uuid.uuid4().hex[:12])
        self.start = start
        self.env = ActivityEnvironment()

    async def run(self, command: Any, now: datetime) -> list[Event]:
        events = decide(command, self.state, now)
        request = AppendEvents(case_id=self.state.case_id, expected_version=self.state.version,
                               events=events)
        await self.append(request)
        for event in events:
            self.state = evolve(self.state, event)
        return events

    async def append(self, request: AppendEvents) -> int:
        return await self.env.run(self.activities.append_events, request)


@pytest.fixture
def activities(store: EventStore) -> CaseActivities:
    return CaseActivities(store, httpx.AsyncClient(), {}, "secret")


async def test_a_retried_append_is_counted_once(activities: CaseActivities) -> None:
    start = date(2025, 3, 3)
    case = Case(activities, start)
    before = parse(metrics.generate_latest().decode())
    events = decide(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                             unit_id="vc-norr", sick_period_start=start,
                             certificate=certificate(start, 1, 30)),
                    case.state, day_start(start, 1) + timedelta(hours=9))
    request = AppendEvents(case_id=case.state.case_id, expected_version=0, events=events)

    first = await case.append(request)
    retried = await case.append(request)  # the reply was lost; Temporal runs the activity again

    assert first == retried == len(events)
    after = parse(metrics.generate_latest().decode())
    assert delta(after, before, "sjukfall_cases_opened_total") == 1
    assert by_label(after, before, "sjukfall_events_appended_total", "type") == dict(
        Counter(e.type for e in events))
    assert delta(after, before, "sjukfall_event_append_seconds_count") == 2  # both calls timed


async def test_a_restarted_worker_still_labels_and_times_what_it_records(
    activities: CaseActivities,
) -> None:
    start = date(2025, 3, 3)
    case = Case(activities, start)
    await case.run(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                            unit_id="vc-norr", sick_period_start=start, employer_name="AB",
                            certificate=certificate(start, 1, 30)),
                   day_start(start, 1) + timedelta(hours=9))
    await case.run(GiveConsent(actor=PATIENT, recipient="employer", purpose="share_information"),
                   day_start(start, 1) + timedelta(hours=10))
    await case.run(ReachMilestone(actor=SYSTEM, day=8), day_start(start, 8))
    metrics.forget()  # a new worker process: nothing remembered about this case
    before = parse(metrics.generate_latest().decode())

    # day 14 fires 90 minutes late (say the workers were down)
    fired = await case.run(ReachMilestone(actor=SYSTEM, day=14),
                           day_start(start, 14) + timedelta(minutes=90))
    employer = [e for e in fired if e.type == "NotificationRequested"
                and e.recipient == "employer"]  # type: ignore[union-attr]
    assert employer
    metrics.forget()  # and it restarts again before the delivery outcome is recorded
    await case.run(RecordNotificationOutcome(actor=SYSTEM, notification_id=employer[0].event_id,
                                             outcome="sent", receipt="r1"),
                   day_start(start, 14) + timedelta(minutes=91))

    after = parse(metrics.generate_latest().decode())
    assert delta(after, before, "sjukfall_milestone_lateness_seconds_count", day="14") == 1
    assert delta(after, before, "sjukfall_milestone_lateness_seconds_sum", day="14") == 90 * 60
    assert delta(after, before, "sjukfall_notifications_total",
                 recipient="employer", outcome="sent") == 1
    assert delta(after, before, "sjukfall_notifications_total",
                 recipient="unknown", outcome="sent") == 0


async def test_a_case_opened_on_day_20_is_not_reported_as_twelve_days_late(
    activities: CaseActivities,
) -> None:
    start = date(2025, 3, 3)
    case = Case(activities, start)
    opened_at = day_start(start, 20) + timedelta(hours=9)
    await case.run(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                            unit_id="vc-norr", sick_period_start=start,
                            certificate=certificate(start, 1, 60, issued=opened_at,
                                                    motivation_early_start="per telefon")),
                   opened_at)
    metrics.forget()
    before = parse(metrics.generate_latest().decode())
    await case.run(ReachMilestone(actor=SYSTEM, day=8), opened_at + timedelta(seconds=2))
    after = parse(metrics.generate_latest().decode())
    assert delta(after, before, "sjukfall_milestone_lateness_seconds_sum", day="8") == pytest.approx(2)


async def test_a_chain_milestone_of_a_linked_case_is_timed_from_its_own_day(
    activities: CaseActivities,
) -> None:
    """60 chain days carried over from an earlier period: chain day 90 falls on this case's
    own day 30, so firing it 5 minutes into own day 30 is 5 minutes late (not "early")."""
    start = date(2025, 3, 3)
    case = Case(activities, start)
    await case.run(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                            unit_id="vc-norr", sick_period_start=start,
                            certificate=certificate(start, 1, 60),
                            rehab_chain=ChainLink(earlier_case_id="earlier",
                                                  earlier_sick_period_end=start - timedelta(days=20),
                                                  chain_days_before=60)),
                   day_start(start, 1) + timedelta(hours=9))
    assert case.state.milestone_date(90) == start + timedelta(days=29)
    metrics.forget()  # a restarted worker looks the link up in the record
    before = parse(metrics.generate_latest().decode())
    await case.run(ReachMilestone(actor=SYSTEM, day=90), day_start(start, 30) + timedelta(minutes=5))
    after = parse(metrics.generate_latest().decode())
    assert delta(after, before, "sjukfall_milestone_lateness_seconds_count", day="90") == 1
    assert delta(after, before, "sjukfall_milestone_lateness_seconds_sum", day="90") == 5 * 60


# --- the API's /metrics: gauges from the database ------------------------------------------


async def test_api_metrics_reports_cases_by_phase_and_projection_lag(
    store: EventStore, activities: CaseActivities, time_skipping_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real app's /metrics, after cases this test records itself (one of them closed)."""
    from api.app import create_app
    from domain.commands import CloseCase
    from infra.settings import Settings

    monkeypatch.setattr(metrics, "REFRESH_SECONDS", 0.0)
    start = date(2025, 3, 3)
    for close in (False, True):
        case = Case(activities, start)
        opened_at = day_start(start, 1) + timedelta(hours=9)
        await case.run(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                                unit_id="vc-norr", sick_period_start=start,
                                certificate=certificate(start, 1, 30)), opened_at)
        if close:
            await case.run(CloseCase(actor=PHYSICIAN, reason="opened_in_error"),
                           opened_at + timedelta(hours=1))
    app = create_app(Settings(), client=time_skipping_env.client, store=store)

    async def get() -> Samples:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.get("/metrics")  # no token: Prometheus scrapes it as is
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.text)

    behind = await get()
    lag = behind[("sjukfall_projection_lag_events", (("projection", "case_summary"),))]
    checkpoint = await store.pool.fetchval(
        "SELECT coalesce((SELECT position FROM checkpoints WHERE name = 'case_summary'), 0)")
    assert lag == await store.pool.fetchval(
        "SELECT count(*) FROM events WHERE position > $1", checkpoint) > 0
    assert behind[("sjukfall_projection_lag_seconds", (("projection", "case_summary"),))] > 0

    await run_once(store, CaseSummaryProjection())
    caught_up = await get()

    assert caught_up[("sjukfall_projection_lag_events", (("projection", "case_summary"),))] == 0
    assert caught_up[("sjukfall_projection_lag_seconds", (("projection", "case_summary"),))] == 0
    phases = dict(await store.pool.fetch("SELECT phase, count(*) FROM case_summary GROUP BY phase"))
    for phase in ("assessment", "plan", "follow_up", "closed"):
        assert caught_up[("sjukfall_cases", (("phase", phase),))] == phases.get(phase, 0)
    assert phases.get("closed", 0) >= 1 and phases.get("assessment", 0) >= 1
    names = {name for name, _labels in caught_up}
    assert "sjukfall_events_appended_total" in names  # the process's own series too


# --- the Temporal SDK's own metrics -------------------------------------------------------


async def test_temporal_sdk_metrics_are_served_on_their_port(
    time_skipping_env: Any, store: EventStore,
) -> None:
    """The series docs/operations.md tells operators to scale on exist, in seconds."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from api.commands import open_case
    from infra.settings import Settings
    from worker import case_worker

    port = free_port()
    runtime = metrics.temporal_runtime(Settings(temporal_metrics_port=port), addr="127.0.0.1")
    assert runtime is not None
    assert metrics.temporal_runtime(Settings(temporal_metrics_port=0)) is None
    client = await Client.connect(time_skipping_env.client.service_client.config.target_host,
                                  namespace=time_skipping_env.client.namespace,
                                  data_converter=pydantic_data_converter, runtime=runtime)
    queue = f"sdk-metrics-{uuid.uuid4().hex[:8]}"
    start = (await time_skipping_env.get_current_time()).date()
    case_id = uuid.uuid4().hex[:12]
    async with case_worker(client, store, Settings(), task_queue=queue):
        await open_case(client, queue, OpenCase(
            actor=PHYSICIAN, case_id=case_id, patient_id=PNR, unit_id="vc-norr",
            sick_period_start=start, certificate=certificate(start, 1, 10)), f"open-{case_id}")
        samples = await scrape(f"http://127.0.0.1:{port}/metrics")
        await client.get_workflow_handle(f"case-{case_id}").terminate("test finished")
    names = {name for name, _labels in samples}
    for name in ("temporal_workflow_task_schedule_to_start_latency_count",
                 "temporal_activity_schedule_to_start_latency_count",
                 "temporal_worker_task_slots_available",
                 "temporal_sticky_cache_size",
                 "temporal_workflow_task_execution_latency_bucket"):
        assert name in names, name
    latency = [v for (n, labels), v in samples.items()
               if n == "temporal_workflow_task_schedule_to_start_latency_sum"
               and dict(labels).get("task_queue") == queue]
    assert latency and latency[0] < 60  # seconds, not milliseconds


async def test_fk_messages_and_overdue_answers_are_counted(activities: CaseActivities) -> None:
    """sjukfall_fk_messages_total by direction, topic and status; and the questions from FK
    that care left unanswered past their last answer date (docs/operations.md alerts on it)."""
    from domain import next_timer
    from domain.commands import Actor, ReceiveFkMessage, SendFkMessage
    from domain.fk import FkMessage, OutboundFkMessage

    start = date(2025, 3, 3)
    case = Case(activities, start)
    opened_at = day_start(start, 1) + timedelta(hours=9)
    await case.run(OpenCase(actor=PHYSICIAN, case_id=case.state.case_id, patient_id=PNR,
                            unit_id="vc-norr", sick_period_start=start,
                            certificate=certificate(start, 1, 60)), opened_at)
    await case.run(GiveConsent(actor=PATIENT, recipient="fk", purpose="share_information"),
                   opened_at)
    before = parse(metrics.generate_latest().decode())

    def from_fk(message_id: str, topic: str, **extra: Any) -> FkMessage:
        return FkMessage.model_validate({
            "message_id": message_id, "sent_at": opened_at, "certificate_id": "c1",
            "patient_id": PNR, "topic": topic, "text": "t", "sender": "FK", **extra})

    now = opened_at + timedelta(hours=1)
    gateway = Actor(id="fk-gateway", role="fk_gateway")
    received = [await case.run(ReceiveFkMessage(actor=gateway, message=m), now)
                for m in (from_fk("fk-1", "KONTKT"),
                          from_fk("fk-2", "KOMPLT", last_answer_date=start + timedelta(days=7),
                                  completion_items=[{"question_id": "1", "text": "q"}]))]
    sent = await case.run(SendFkMessage(actor=PHYSICIAN, message=OutboundFkMessage(
        message_id="care-1", certificate_id="c1", topic="KONTKT",
        answer_to={"message_id": "fk-1"})), now)
    to_fk = [e for e in sent if e.type == "NotificationRequested"
             and e.kind == "fk_message"]  # type: ignore[union-attr]
    assert len(to_fk) == 1  # FK's gateway acknowledges it: only now is it sent
    sent += await case.run(RecordNotificationOutcome(
        actor=SYSTEM, notification_id=to_fk[0].event_id, outcome="sent", receipt="fk-r1"), now)
    overdue: list[Event] = []
    while (timer := next_timer(case.state)) is not None and not overdue:
        fired = await case.run(timer.command, timer.at)
        overdue = [e for e in fired if e.type == "FkAnswerOverdue"]
    after = parse(metrics.generate_latest().decode())

    expected: Counter[tuple[str, str, str]] = Counter()
    for e in [e for batch in received for e in batch] + sent:
        if e.type in ("FkMessageReceived", "FkMessageSent"):
            direction = "received" if e.type == "FkMessageReceived" else "sent"
            expected[direction, e.message.topic, e.status] += 1  # type: ignore[union-attr]
    assert {key[:2] for key in expected} == {("received", "KONTKT"), ("received", "KOMPLT"),
                                             ("sent", "KONTKT")}
    for (direction, topic, status), count in expected.items():
        assert delta(after, before, "sjukfall_fk_messages_total", direction=direction,
                     topic=topic, status=status) == count
    assert len(overdue) == 1
    assert delta(after, before, "sjukfall_fk_answers_overdue_total") == 1
