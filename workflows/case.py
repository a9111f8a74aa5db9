"""The case workflow: one durable workflow per sick-leave case, id `case-<case_id>`.

It holds the case state and is the single writer of the case's event stream:
- every command arrives as the `execute` update; the validator runs the pure decider so an
  invalid command is rejected before anything reaches history; the handler (serialised by a
  lock) decides again on the current state, appends the events through an activity, evolves;
- between commands it sleeps until the domain's next timer (milestone, follow-up date, FK
  deadline, automatic closure) or until a command changes the state, then re-plans;
- it delivers requested notifications concurrently with everything else (a retrying delivery
  never holds up a milestone) and records each outcome as an event;
- it continues as new when history grows, carrying the state; it completes when the case closes.

Deterministic: time is `workflow.now()`, all I/O is in activities.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import AppendEvents, CaseActivities, Delivery, DeliveryOutcome
    from domain import CaseState, Command, DomainError, Timer, decide, evolve, initial_state, next_timer
    from domain.timers import due_timers
    from domain.calendar import day_start
    from domain.commands import Actor, RecordNotificationOutcome
    from domain.events import NotificationRequested

SYSTEM = Actor(id="system", role="system")

# Released changes to this workflow, each behind workflow.patched() (README, "Versioning").
PATCH_SEARCH_ATTRIBUTES = "search-attributes-v1"

CASE_PHASE = SearchAttributeKey.for_keyword("CasePhase")
CASE_UNIT = SearchAttributeKey.for_keyword("CaseUnit")
SICK_PERIOD_START = SearchAttributeKey.for_datetime("SickPeriodStart")
NEXT_MILESTONE_AT = SearchAttributeKey.for_datetime("NextMilestoneAt")

APPEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A recipient's endpoint may be down for a while: keep trying for up to three days (at most
# hourly), then record the notification as failed so a person follows it up.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)
DELIVERY_WINDOW = timedelta(days=3)


class CaseInput(BaseModel):
    case_id: str
    state: CaseState | None = None  # carried across continue-as-new
    max_history_events: int = 10_000  # continue as new past this many events (or when suggested)


class CommandResult(BaseModel):
    case_id: str
    version: int
    events: list[str]  # types of the events the command recorded, [] if it changed nothing


class CaseOutcome(BaseModel):
    case_id: str
    version: int
    closed_reason: str | None


def rejection(err: DomainError) -> ApplicationError:
    """A domain refusal as a Temporal failure that keeps the field and the rule."""
    return ApplicationError(
        err.message, {"field": err.field, "rule": err.rule}, type="DomainError", non_retryable=True
    )


@workflow.defn(name="Case")
class CaseWorkflow:
    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self.state: CaseState = input.state or initial_state(input.case_id)
        self.max_history_events = input.max_history_events
        self.lock = asyncio.Lock()
        self.changed = False
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self.indexed: dict[str, object] = {}  # search attributes as last upserted

    @workflow.run
    async def run(self, input: CaseInput) -> CaseOutcome:
        while True:
            self._start_deliveries()
            self._index()
            if self.state.phase == "closed":
                break
            if self._history_is_long():
                await workflow.wait_condition(
                    lambda: not self.in_flight and workflow.all_handlers_finished()
                )
                workflow.continue_as_new(
                    CaseInput(case_id=self.state.case_id, state=self.state,
                              max_history_events=self.max_history_events)
                )
            await self._sleep_until_next_timer()

        await workflow.wait_condition(lambda: not self.in_flight and workflow.all_handlers_finished())
        return CaseOutcome(case_id=self.state.case_id, version=self.state.version,
                           closed_reason=self.state.closed_reason)

    async def _sleep_until_next_timer(self) -> None:
        timer = next_timer(self.state)
        self.changed = False
        if timer is not None:
            delay = (timer.at - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(lambda: self.changed, timeout=delay)
                    return  # the state changed: re-plan
                except TimeoutError:
                    pass
            async with self.lock:
                due = next_timer(self.state)  # a command may have moved it meanwhile
                if due is not None and due.at <= workflow.now():
                    await self._decide_and_record(due.command)
        else:
            await workflow.wait_condition(lambda: self.changed)

    def _index(self) -> None:
        """Keep the case findable in the Temporal UI and `list_workflows` (phase, unit, dates)."""
        if not workflow.patched(PATCH_SEARCH_ATTRIBUTES):
            return
        timer = next_timer(self.state)
        wanted = {
            CASE_PHASE: self.state.phase,
            CASE_UNIT: self.state.unit_id,
            SICK_PERIOD_START: (day_start(self.state.sick_period_start, 1)
                                if self.state.sick_period_start else None),
            NEXT_MILESTONE_AT: timer.at if timer else None,
        }
        changed = {k: v for k, v in wanted.items() if self.indexed.get(k.name) != v}
        if changed:
            workflow.upsert_search_attributes([
                key.value_set(value) if value is not None else key.value_unset()
                for key, value in changed.items()
            ])
            self.indexed.update({k.name: v for k, v in changed.items()})

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.max_history_events
        )

    # -- commands ---------------------------------------------------------------------------

    @workflow.update
    async def execute(self, command: Command) -> CommandResult:
        async with self.lock:
            try:
                events = await self._decide_and_record(command)
            except DomainError as err:  # the state moved between validation and now
                raise rejection(err) from None
        return CommandResult(case_id=self.state.case_id, version=self.state.version,
                             events=[e.type for e in events])

    @execute.validator
    def validate(self, command: Command) -> None:
        try:
            decide(command, self.state, workflow.now())
        except DomainError as err:
            raise rejection(err) from None

    @workflow.query
    def current_state(self) -> CaseState:
        return self.state

    @workflow.query
    def upcoming(self) -> list[Timer]:
        """What the case will do by itself next, earliest first (the case's timeline ahead)."""
        return sorted(due_timers(self.state), key=lambda t: t.at)

    async def _decide_and_record(self, command: Command) -> list:  # type: ignore[type-arg]
        events = decide(command, self.state, workflow.now())
        if not events:
            return []
        update = workflow.current_update_info()
        await workflow.execute_activity_method(
            CaseActivities.append_events,
            AppendEvents(
                case_id=self.state.case_id,
                expected_version=self.state.version,
                events=events,
                metadata={
                    "causation_id": update.id if update else f"timer:{command.type}",
                    "workflow_run_id": workflow.info().run_id,
                },
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=APPEND_RETRY,
        )
        for event in events:
            self.state = evolve(self.state, event)
        self.changed = True
        return events

    # -- notifications ----------------------------------------------------------------------

    def _start_deliveries(self) -> None:
        for note in self.state.pending_notifications:
            if note.notification_id not in self.in_flight:
                self.in_flight[note.notification_id] = asyncio.create_task(self._deliver(note))

    async def _deliver(self, note: NotificationRequested) -> None:
        try:
            result: DeliveryOutcome = await workflow.execute_activity_method(
                CaseActivities.deliver_notification,
                Delivery(case_id=self.state.case_id, notification=note),
                start_to_close_timeout=timedelta(seconds=15),
                schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY,
            )
            outcome = RecordNotificationOutcome(
                actor=SYSTEM, notification_id=note.notification_id, outcome=result.outcome,
                reason=result.reason, receipt=result.receipt,
            )
        except ActivityError as err:
            cause = err.cause
            outcome = RecordNotificationOutcome(
                actor=SYSTEM, notification_id=note.notification_id, outcome="failed",
                reason=str(cause.message if isinstance(cause, ApplicationError) else cause),
            )
        async with self.lock:
            await self._decide_and_record(outcome)
        del self.in_flight[note.notification_id]
