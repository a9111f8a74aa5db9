"""Activities of the case workflow: the only place its decisions touch the world.

- `append_events` writes decided events with the expected stream version; event ids are
  deterministic, so a retried append is a no-op in the store.
- `deliver_notification` re-checks consent against the event record at the moment of sending,
  then POSTs a signed webhook with the notification id as idempotency key. A refusal is not an
  error: it comes back as `suppressed` and the workflow records it.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import Event, consent_check, event_from_record, event_to_record, fold
from domain.events import NotificationRequested
from infra.logs import get_logger
from infra.metrics import APPENDS_REFUSED, observe_append, observe_attempt
from infra.webhooks import signed_webhook_headers
from store.eventstore import EventStore, NewEvent, WrongExpectedVersion, is_transient

if TYPE_CHECKING:
    from fk.port import FkPort

log = get_logger(__name__)


class AppendEvents(BaseModel):
    case_id: str
    expected_version: int
    events: list[Event]
    metadata: dict[str, str] = {}


class Delivery(BaseModel):
    case_id: str
    notification: NotificationRequested


class DeliveryOutcome(BaseModel):
    outcome: Literal["sent", "suppressed"]
    reason: str | None = None
    receipt: str | None = None


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
        self.http = http
        self.webhook_urls = webhook_urls
        self.webhook_secrets = webhook_secrets  # recipient -> its secrets (new first)
        self.fk_port = fk_port  # certificates and messages to FK (activities/fk_delivery.py)

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
        records = await self.store.read_stream(request.case_id)
        events = [event_from_record(r.type, r.schema_version, r.data) for r in records]
        state = fold(events)
        # The moment of sending on the server's clock (the workflow's clock, skipped time
        # included), and never before the last recorded event: a withdrawal in the record is
        # in force, whenever this attempt happened to be scheduled.
        info = activity.info()
        now = max(info.started_time, info.current_attempt_scheduled_time,
                  *(e.occurred_at for e in events[-1:]))
        refusal = consent_check(state, note.recipient, note.purpose, now)
        if refusal is not None:
            log.info("notification_suppressed_at_send", case_id=request.case_id,
                     notification_id=note.notification_id, reason=refusal)
            return DeliveryOutcome(outcome="suppressed", reason=refusal)
        from activities.fk_delivery import deliver_to_fk, handled_by_fk_port  # no import cycle

        if self.fk_port is not None and handled_by_fk_port(note):
            return await deliver_to_fk(self.fk_port, state, note)

        url = self.webhook_urls.get(note.recipient)
        if url is None:
            raise ApplicationError(
                f"no webhook endpoint configured for recipient {note.recipient}",
                type="NoEndpoint", non_retryable=True,
            )
        body = json.dumps({
            "notification_id": note.notification_id,
            "case_id": request.case_id,
            "recipient": note.recipient,
            "purpose": note.purpose,
            "kind": note.kind,
            "parameters": note.parameters,
            "requested_at": note.occurred_at.isoformat(),
        }).encode()
        headers = signed_webhook_headers(self.webhook_secrets[note.recipient], body,
                                         note.notification_id)
        response = await self.http.post(url, content=body, headers=headers)
        if response.is_success:
            receipt = response.headers.get("X-Receipt") or f"http-{response.status_code}"
            log.info("notification_sent", case_id=request.case_id,
                     notification_id=note.notification_id, recipient=note.recipient)
            return DeliveryOutcome(outcome="sent", receipt=receipt)
        message = f"{note.recipient} endpoint answered HTTP {response.status_code}"
        if 400 <= response.status_code < 500 and response.status_code not in (408, 425, 429):
            raise ApplicationError(message, type="Rejected", non_retryable=True)
        raise ApplicationError(message, type="Unavailable")  # retried with backoff
