"""Activities of the case workflow: the only place its decisions touch the world.

- `append_events` writes decided events with the expected stream version; event ids are
  deterministic, so a retried append is a no-op in the store.
- `deliver_notification` re-checks consent against the event record at the moment of sending
  (every event recorded until then: activities/case_record.py reads only what this worker has
  not folded yet), then hands the notification to the deliverer the routing table names
  (activities/delivery.py: FK's port for certificates and messages, a signed webhook for the
  rest). A refusal is not an error: it comes back as `suppressed` and the workflow records it.

Their inputs and outputs are in activities/models.py (what Temporal records in histories).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_record import CaseRecord
from activities.delivery import Channel, Deliverer, channel_for
from activities.fk_delivery import FkDeliverer
from activities.models import AppendEvents, Delivery, DeliveryOutcome
from activities.webhook_delivery import WebhookDeliverer
from domain import consent_check, event_to_record
from fk.port import FkPort
from infra.logs import get_logger
from infra.metrics import APPENDS_REFUSED, observe_append, observe_attempt
from store.eventstore import EventStore, NewEvent, WrongExpectedVersion, is_transient

log = get_logger(__name__)

R = TypeVar("R")
CaseRequest = TypeVar("CaseRequest", AppendEvents, Delivery)


def tracked(
    run: Callable[[Any, CaseRequest], Awaitable[R]],
) -> Callable[[Any, CaseRequest], Awaitable[R]]:
    """Count the case as stuck while this activity keeps failing (sjukfall_cases_stuck)."""

    @functools.wraps(run)
    async def attempt(self: Any, request: CaseRequest) -> R:
        number = activity.info().attempt
        try:
            result = await run(self, request)
        except BaseException:
            observe_attempt(run.__name__, request.case_id, number, ok=False)
            raise
        observe_attempt(run.__name__, request.case_id, number, ok=True)
        return result

    return attempt


class CaseActivities:
    def __init__(
        self,
        store: EventStore,
        http: httpx.AsyncClient,
        webhook_urls: dict[str, str],
        webhook_secrets: Mapping[str, Sequence[str]],
        fk_port: FkPort | None = None,
    ) -> None:
        self.store = store
        self.record = CaseRecord(store)  # each case as recorded now, for the consent check
        webhook = WebhookDeliverer(http, webhook_urls, webhook_secrets)
        # One deliverer per channel of the routing table. Without an FK port (tests of the
        # webhook path alone) FK's kinds go by webhook like FK's other notifications.
        self.deliverers: dict[Channel, Deliverer] = {
            "webhook": webhook,
            "fk_port": FkDeliverer(fk_port) if fk_port is not None else webhook,
        }

    @activity.defn
    @tracked
    async def append_events(self, request: AppendEvents) -> int:
        new = []
        for event in request.events:
            type_, schema_version, data = event_to_record(event)
            new.append(NewEvent(event.event_id, type_, schema_version, data, request.metadata))
        started = time.perf_counter()
        try:
            version = await self.store.append(request.case_id, request.expected_version, new)
        except WrongExpectedVersion as err:
            # One writer per case: a stale version is a bug, retrying cannot fix it.
            raise ApplicationError(str(err), type="WrongExpectedVersion",
                                   non_retryable=True) from None
        except Exception as err:
            if is_transient(err):
                raise  # the database is away for a moment: retried with backoff
            APPENDS_REFUSED.inc()
            log.warning("append_refused", case_id=request.case_id, error=type(err).__name__)
            raise ApplicationError(f"the event store refused the events ({type(err).__name__})",
                                   type="StoreRejected", non_retryable=True) from None
        await observe_append(self.store, request.events, time.perf_counter() - started)
        log.info("events_appended", case_id=request.case_id, version=version,
                 types=[e.type for e in request.events])
        return version

    @activity.defn
    @tracked
    async def deliver_notification(self, request: Delivery) -> DeliveryOutcome:
        note = request.notification
        state, _, last_occurred_at = await self.record.current(request.case_id)
        # The moment of sending on the server's clock (the workflow's clock, skipped time
        # included), and never before the last recorded event: a withdrawal in the record is
        # in force, whenever this attempt happened to be scheduled.
        info = activity.info()
        now = max(info.started_time, info.current_attempt_scheduled_time, last_occurred_at)
        refusal = consent_check(state, note.recipient, note.purpose, now)
        if refusal is not None:
            log.info("notification_suppressed_at_send", case_id=request.case_id,
                     notification_id=note.notification_id, reason=refusal)
            return DeliveryOutcome(outcome="suppressed", reason=refusal)
        deliverer = self.deliverers[channel_for(note.recipient, note.kind)]
        return await deliverer.deliver(request, state)
