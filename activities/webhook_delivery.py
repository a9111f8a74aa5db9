"""Delivering a notification by webhook: a signed POST to the recipient's endpoint.

The body names the notification, never the patient (case id, recipient, purpose, kind and the
notification's parameters); the headers are Standard Webhooks signatures with each of the
recipient's secrets (infra/webhooks.py) and the notification id as `Idempotency-Key`.
A 2xx is `sent`, with the receiver's `X-Receipt` when it gives one. A 4xx other than 408, 425
and 429 will not change by trying again: non-retryable. Anything else (5xx, 408, 425, 429, a
connection error) is retried with backoff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import httpx
from temporalio.exceptions import ApplicationError

from activities.models import Delivery, DeliveryOutcome
from domain.state import CaseState
from infra.logs import get_logger
from infra.webhooks import signed_webhook_headers

log = get_logger(__name__)


class WebhookDeliverer:
    def __init__(
        self,
        http: httpx.AsyncClient,
        urls: Mapping[str, str],
        secrets: Mapping[str, Sequence[str]],
    ) -> None:
        self.http = http
        self.urls = urls  # recipient -> its endpoint
        self.secrets = secrets  # recipient -> its secrets (new first)

    async def deliver(self, delivery: Delivery, state: CaseState) -> DeliveryOutcome:
        note = delivery.notification
        url = self.urls.get(note.recipient)
        if url is None:
            raise ApplicationError(
                f"no webhook endpoint configured for recipient {note.recipient}",
                type="NoEndpoint", non_retryable=True,
            )
        body = json.dumps({
            "notification_id": note.notification_id,
            "case_id": delivery.case_id,
            "recipient": note.recipient,
            "purpose": note.purpose,
            "kind": note.kind,
            "parameters": note.parameters,
            "requested_at": note.occurred_at.isoformat(),
        }).encode()
        headers = signed_webhook_headers(self.secrets[note.recipient], body, note.notification_id)
        response = await self.http.post(url, content=body, headers=headers)
        if response.is_success:
            receipt = response.headers.get("X-Receipt") or f"http-{response.status_code}"
            log.info("notification_sent", case_id=delivery.case_id,
                     notification_id=note.notification_id, recipient=note.recipient)
            return DeliveryOutcome(outcome="sent", receipt=receipt)
        message = f"{note.recipient} endpoint answered HTTP {response.status_code}"
        if 400 <= response.status_code < 500 and response.status_code not in (408, 425, 429):
            raise ApplicationError(message, type="Rejected", non_retryable=True)
        raise ApplicationError(message, type="Unavailable")  # retried with backoff
