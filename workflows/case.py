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
import contextlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from activities.models import AppendEvents, Delivery, DeliveryOutcome
    from domain import (
        CURRENT,
        RELEASED,
        CaseState,
        Command,
        DomainError,
        Event,
        Timer,
        decide,
        fold,
        initial_state,
        next_timer,
    )
    from domain.bounds import clean_text, compact
    from domain.calendar import day_start, start_of
    from domain.commands import Actor, RecordNotificationOutcome
    from domain.events import NotificationRequested
    from domain.timers import due_timers

SYSTEM = Actor(id="system", role="system")

# Released changes to this workflow, each behind workflow.patched() (README, "Versioning").
PATCH_SEARCH_ATTRIBUTES = "search-attributes-v1"
# Fewer billable actions: one timer per due instant (not one per wait), everything due at once
# and outcomes that arrive together recorded in one append, NextMilestoneAt moved by
# milestones only (not by every follow-up or closing timer).
PATCH_LEAN = "lean-commands-v1"
# The state carried across continue-as-new is compacted (long texts as digests), so it stays
# far below Temporal's payload limit whatever the case holds; the texts stay in the record.
PATCH_BOUNDED = "bounded-carried-state-v1"

# Idempotency keys (README, "Idempotency"): the API turns a client's key into the update id
# `key:<scope>:<fingerprint>`: the scope is a hash of who sent it, the route, the case and the
# key; the fingerprint a hash of the command. Temporal answers a repeated update id within a
# run; the case keeps what each scope was answered for KEY_WINDOW and carries it across
# continue-as-new, so a repeat is answered the same way later too, and the same key with
# another body is refused.
KEY_PREFIX = "key:"
KEY_WINDOW = timedelta(hours=48)
KEYS_KEPT = 500
# A decision made by a timer that the store refused for good is tried again after this long
# (or at the next change); meanwhile the case answers commands and shows up as stuck.
TIMER_RETRY = timedelta(hours=1)
# A revoked certificate that FK already has is revoked at FK too (RevokeCertificate).
PATCH_REVOKE_AT_FK = "revoke-certificate-at-fk-v1"
# DOMAIN.md's revised rules (domain/rules.py): late duties, closure after the whole merge gap
# and reopening (the workflow waits out the reopening window after closing itself), ...
PATCH_REVISED_RULES = "revised-rules-v1"

CASE_PHASE = SearchAttributeKey.for_keyword("CasePhase")
CASE_UNIT = SearchAttributeKey.for_keyword("CaseUnit")
SICK_PERIOD_START = SearchAttributeKey.for_datetime("SickPeriodStart")
NEXT_MILESTONE_AT = SearchAttributeKey.for_datetime("NextMilestoneAt")
INDEX_KEYS: dict[str, SearchAttributeKey[Any]] = {
    "phase": CASE_PHASE, "unit": CASE_UNIT, "sick_period_start": SICK_PERIOD_START,
    "next_milestone_at": NEXT_MILESTONE_AT,
}

APPEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A recipient's endpoint may be down for a while: keep trying for up to three days (at most
# hourly), then record the notification as failed so a person follows it up.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)
DELIVERY_WINDOW = timedelta(days=3)


class CaseIndex(BaseModel):
    """The search attributes that make a case findable in the Temporal UI and list_workflows."""

    phase: str | None = None
    unit: str | None = None
    sick_period_start: datetime | None = None
    next_milestone_at: datetime | None = None

    @classmethod
    def of(cls, state: CaseState, lean: bool = True) -> CaseIndex:
        if lean:
            next_at = next_milestone_at(state)
        else:  # as first released: the next timer of any kind
            timer = next_timer(state, RELEASED)
            next_at = timer.at if timer else None
        start = state.sick_period_start
        return cls(phase=state.phase, unit=state.unit_id,
                   sick_period_start=day_start(start, 1) if start else None,
                   next_milestone_at=next_at)

    def updates_from(self, old: CaseIndex) -> list[SearchAttributeUpdate[Any]]:
        return [
            key.value_set(new) if new is not None else key.value_unset()
            for name, key in INDEX_KEYS.items()
            if (new := getattr(self, name)) != getattr(old, name)
        ]

    def typed(self) -> TypedSearchAttributes:
        return TypedSearchAttributes([
            SearchAttributePair(key, getattr(self, name))
            for name, key in INDEX_KEYS.items() if getattr(self, name) is not None
        ])


class CommandResult(BaseModel):
    case_id: str
    version: int
    events: list[str]  # types of the events the command recorded, [] if it changed nothing


class AnsweredKey(BaseModel):
    """What a client's idempotency key (its scope) was answered with, and for which command."""

    fingerprint: str
    result: CommandResult
    at: datetime


class CaseProblem(BaseModel):
    """Why the case cannot do what is due (shown by `sjukfall cases stuck`)."""

    what: str
    since: datetime
    attempts: int
    retry_at: datetime


class CaseInput(BaseModel):
    case_id: str
    state: CaseState | None = None  # carried across continue-as-new
    max_history_events: int = 10_000  # continue as new past this many events (or when suggested)
    indexed: CaseIndex | None = None  # search attributes the run starts with (set at start)
    keys: dict[str, AnsweredKey] = {}  # idempotency keys answered within KEY_WINDOW


class CaseOutcome(BaseModel):
    case_id: str
    version: int
    closed_reason: str | None


def next_milestone_at(state: CaseState) -> datetime | None:
    if state.sick_period_start is None or state.phase == "closed":
        return None
    ahead = state.milestones_ahead()  # by date: a linked chain's milestones may come early
    return start_of(ahead[0][0]) if ahead else None


def parse_key(update_id: str | None) -> tuple[str, str] | None:
    """(scope, fingerprint) of an update id made from a client's idempotency key."""
    if not update_id or not update_id.startswith(KEY_PREFIX):
        return None
    scope, _, fingerprint = update_id.removeprefix(KEY_PREFIX).partition(":")
    return (scope, fingerprint) if scope and fingerprint else None


def update_id() -> str:
    """The id of the update being handled (called only in update handlers and validators)."""
    info = workflow.current_update_info()
    assert info is not None, "not in an update"
    return info.id


def key_reused() -> DomainError:
    return DomainError("Idempotency-Key", "idempotency_key_reused",
                       "this Idempotency-Key was used before with another request; "
                       "use a new key for a new request")


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
        self.indexed = input.indexed or CaseIndex()  # search attributes as last set
        self.lean = workflow.patched(PATCH_LEAN)
        self.rules = CURRENT if workflow.patched(PATCH_REVISED_RULES) else RELEASED
        self.alarm: asyncio.Task[None] | None = None  # the durable timer, for alarm_at
        self.alarm_at: datetime | None = None
        self.outcomes: list[RecordNotificationOutcome] = []  # delivered, not yet recorded
        self.keys: dict[str, AnsweredKey] = dict(input.keys)
        self.failing: CaseProblem | None = None  # what keeps failing, if anything
        self.unrecorded: set[str] = set()  # notifications whose outcome could not be recorded

    @workflow.run
    async def run(self, input: CaseInput) -> CaseOutcome:
        while True:
            self._start_deliveries()
            self._index()
            if self.state.phase == "closed":
                if await self._reopened_within_window():
                    continue
                break
            if self._history_is_long():
                await workflow.wait_condition(
                    lambda: not self.in_flight and workflow.all_handlers_finished()
                )
                workflow.continue_as_new(self._carried())  # search attributes carry over
            await self._sleep_until_next_timer()

        await workflow.wait_condition(lambda: not self.in_flight and workflow.all_handlers_finished())
        return CaseOutcome(case_id=self.state.case_id, version=self.state.version,
                           closed_reason=self.state.closed_reason)

    def _carried(self) -> CaseInput:
        """What the next run starts from: bounded whatever the case holds."""
        if not workflow.patched(PATCH_BOUNDED):
            return CaseInput(case_id=self.state.case_id, state=self.state,
                             max_history_events=self.max_history_events, indexed=self.indexed)
        return CaseInput(case_id=self.state.case_id, state=compact(self.state),
                         max_history_events=self.max_history_events, indexed=self.indexed,
                         keys=self._recent_keys())

    def _recent_keys(self) -> dict[str, AnsweredKey]:
        cutoff = workflow.now() - KEY_WINDOW
        recent = sorted(((s, k) for s, k in self.keys.items() if k.at >= cutoff),
                        key=lambda item: item[1].at)
        return dict(recent[-KEYS_KEPT:])
    async def _reopened_within_window(self) -> bool:
        """Revised rules: a case that closed itself waits for a merging certificate that reopens
        it, until the domain's reopening window ends (7 days after the sick period ended)."""
        until = self.state.reopens_until()
        if not self.rules.whole_merge_gap or until is None:
            return False
        delay = (until - workflow.now()).total_seconds()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: not self.state.is_closed, timeout=delay)
        return not self.state.is_closed

    async def _sleep_until_next_timer(self) -> None:
        timer = next_timer(self.state, self.rules)
        self.changed = False
        if timer is None:
            self._set_alarm(None)
            await workflow.wait_condition(lambda: self.changed)
            return
        wake_at = max(timer.at, self.failing.retry_at) if self.failing else timer.at
        delay = (wake_at - workflow.now()).total_seconds()
        if delay > 0:
            if self.lean:
                alarm = self._set_alarm(wake_at)
                await workflow.wait_condition(lambda: self.changed or alarm.done())
                if not alarm.done():
                    return  # the state changed: re-plan (the alarm stays if still right)
            else:
                try:
                    await workflow.wait_condition(lambda: self.changed, timeout=delay)
                    return  # the state changed: re-plan
                except TimeoutError:
                    pass
        async with self.lock:
            if self.lean:
                await self._fire_due_timers()
            else:
                due = next_timer(self.state, self.rules)  # a command may have moved it meanwhile
                if due is not None and due.at <= workflow.now():
                    await self._decide_and_record(due.command)

    def _set_alarm(self, at: datetime | None) -> asyncio.Task[None]:
        """One durable timer per due instant: kept while the next due instant stays the same."""
        if self.alarm is not None and self.alarm_at != at:
            self.alarm.cancel()
            self.alarm = None
        if self.alarm is None and at is not None:
            self.alarm = asyncio.create_task(
                asyncio.sleep(max(0.0, (at - workflow.now()).total_seconds())))
        self.alarm_at = at
        return self.alarm  # type: ignore[return-value]

    async def _fire_due_timers(self) -> None:
        """Decide everything due by now, earliest first, and record it in one append."""
        now, scratch, events = workflow.now(), self.state, []
        while (due := next_timer(scratch, self.rules)) is not None and due.at <= now:
            decided = decide(due.command, scratch, now, self.rules)
            if not decided:
                break  # cannot happen (each timer decision moves next_timer on); never spin
            scratch = fold(decided, scratch)
            events += decided
        try:
            await self._record(events, "timer")
            self.failing = None
        except ActivityError as err:  # refused for good by the store: try again later
            attempts = self.failing.attempts + 1 if self.failing else 1
            since = self.failing.since if self.failing else now
            self.failing = CaseProblem(what=f"timer: {clean_text(str(err.cause or err))}",
                                       since=since, attempts=attempts,
                                       retry_at=now + TIMER_RETRY * min(2 ** (attempts - 1), 24))
            self._count_problem("timer")
            workflow.logger.warning("timer decision not recorded", extra={
                "case_id": self.state.case_id, "attempts": attempts})

    def _index(self) -> None:
        """Keep the case findable in the Temporal UI and `list_workflows` (phase, unit, dates)."""
        if not workflow.patched(PATCH_SEARCH_ATTRIBUTES):
            return
        if self.lean and not self.state.is_opened:
            return  # the attributes set at start stand until the case is opened
        wanted = CaseIndex.of(self.state, self.lean)
        updates = wanted.updates_from(self.indexed)
        if updates:
            workflow.upsert_search_attributes(updates)
            self.indexed = wanted

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.max_history_events
        )

    # -- commands ---------------------------------------------------------------------------

    @workflow.update
    async def execute(self, command: Command) -> CommandResult:
        key = parse_key(update_id())
        async with self.lock:
            try:
                if key is not None and (answered := self._answered(*key)) is not None:
                    return answered
                events = await self._decide_and_record(command)
            except DomainError as err:  # the state moved between validation and now
                raise rejection(err) from None
            except ActivityError as err:  # the store refused the events for good
                raise rejection(DomainError(
                    "body", "not_storable",
                    f"the command could not be stored and was not recorded: "
                    f"{clean_text(str(err.cause or err))}")) from None
            result = CommandResult(case_id=self.state.case_id, version=self.state.version,
                                   events=[e.type for e in events])
            if key is not None:
                self.keys[key[0]] = AnsweredKey(fingerprint=key[1], result=result,
                                                at=workflow.now())
                if len(self.keys) > 2 * KEYS_KEPT:
                    self.keys = self._recent_keys()
        return result

    @execute.validator
    def validate(self, command: Command) -> None:
        try:
            key = parse_key(update_id())
            if key is not None and self._answered(*key) is not None:
                return  # a repeat: answered as the first time, decided nothing
            decide(command, self.state, workflow.now(), self.rules)
        except DomainError as err:
            raise rejection(err) from None

    def _answered(self, scope: str, fingerprint: str) -> CommandResult | None:
        """The first answer to a repeated key; DomainError if the key came with another body."""
        answered = self.keys.get(scope)
        if answered is None:
            return None
        if answered.fingerprint != fingerprint:
            raise key_reused()
        return answered.result

    @workflow.query
    def current_state(self) -> CaseState:
        return self.state

    @workflow.query
    def problem(self) -> CaseProblem | None:
        """What keeps failing in this case, if anything (`sjukfall cases stuck`)."""
        return self.failing

    @workflow.query
    def upcoming(self) -> list[Timer]:
        """What the case will do by itself next, earliest first (the case's timeline ahead)."""
        return sorted(due_timers(self.state, self.rules), key=lambda t: t.at)

    async def _decide_and_record(self, *commands: Command) -> list[Event]:
        """Decide the commands in turn and record all their events in one append."""
        now, scratch, events = workflow.now(), self.state, []
        for command in commands:
            decided = self._decided(command, scratch, now)
            scratch = fold(decided, scratch)
            events += decided
        update = workflow.current_update_info()
        await self._record(events, update.id if update else f"timer:{commands[0].type}")
        return events

    def _decided(self, command: Command, state: CaseState, now: datetime) -> list[Event]:
        """`decide`, with revocations to FK (released apart, PATCH_REVOKE_AT_FK) only where the
        history says so: the patch is asked only when a revocation to FK is decided."""
        decided = decide(command, state, now, replace(self.rules, revoke_at_fk=True))
        if any(isinstance(e, NotificationRequested) and e.kind == "certificate_revoked_to_fk"
               for e in decided) and not workflow.patched(PATCH_REVOKE_AT_FK):
            decided = decide(command, state, now, replace(self.rules, revoke_at_fk=False))
        return decided

    async def _record(self, events: list[Event], causation_id: str) -> None:
        if not events:
            return
        await workflow.execute_activity_method(
            CaseActivities.append_events,
            AppendEvents(
                case_id=self.state.case_id,
                expected_version=self.state.version,
                events=events,
                metadata={"causation_id": causation_id,
                          "workflow_run_id": workflow.info().run_id},
            ),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=APPEND_RETRY,
        )
        self.state = fold(events, self.state)  # one copy of the state per append
        self.changed = True

    # -- notifications ----------------------------------------------------------------------

    def _start_deliveries(self) -> None:
        for note in self.state.pending_notifications:
            if note.notification_id not in self.in_flight.keys() | self.unrecorded:
                self.in_flight[note.notification_id] = asyncio.create_task(self._deliver(note))

    async def _deliver(self, note: NotificationRequested) -> None:
        try:
            await self._deliver_and_record(note)
        except (ActivityError, DomainError) as err:
            self._not_recorded(note.notification_id, err)
        finally:
            del self.in_flight[note.notification_id]

    def _not_recorded(self, notification_id: str, err: Exception) -> None:
        """An outcome the case could not record: not sent again in this run (the next run tries
        once more), and nothing waits for it."""
        self.unrecorded.add(notification_id)
        self.failing = self.failing or CaseProblem(
            what=f"notification {notification_id}: {clean_text(str(err))}",
            since=workflow.now(), attempts=1, retry_at=workflow.now())
        self._count_problem("notification_outcome")
        workflow.logger.warning("notification outcome not recorded", extra={
            "case_id": self.state.case_id, "notification_id": notification_id})

    @staticmethod
    def _count_problem(what: str) -> None:
        """sjukfall_case_problems{what}: among the SDK's metrics (not emitted on replay)."""
        workflow.metric_meter().create_counter(
            "sjukfall_case_problems", "Case decisions or outcomes that could not be recorded",
        ).add(1, {"what": what})

    async def _deliver_and_record(self, note: NotificationRequested) -> None:
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
                reason=result.reason and clean_text(result.reason),
                receipt=result.receipt and clean_text(result.receipt),
            )
        except ActivityError as err:
            cause = err.cause
            outcome = RecordNotificationOutcome(
                actor=SYSTEM, notification_id=note.notification_id, outcome="failed",
                reason=clean_text(str(cause.message if isinstance(cause, ApplicationError)
                                      else cause)),
            )
        if self.lean:  # outcomes that arrive while an append runs share the next one
            self.outcomes.append(outcome)
            async with self.lock:
                batch, self.outcomes = self.outcomes, []
                try:
                    if batch:
                        await self._decide_and_record(*batch)
                except (ActivityError, DomainError):
                    if len(batch) == 1:
                        raise
                    for one in batch:  # record those that can be, one by one
                        try:
                            await self._decide_and_record(one)
                        except (ActivityError, DomainError) as err:
                            self._not_recorded(one.notification_id, err)
        else:
            async with self.lock:
                await self._decide_and_record(outcome)

