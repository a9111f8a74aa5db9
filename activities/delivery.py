"""How a notification leaves the system: the `Deliverer` protocol and the one routing table.

`deliver_notification` (activities/case_activities.py) checks consent at the moment of sending,
then hands the notification to the deliverer its channel names:

- `fk_port`: Försäkringskassan's own contracts through the FK port (activities/fk_delivery.py):
  certificates, their revocations and care's messages;
- `webhook`: a signed Standard Webhooks POST to the recipient's endpoint
  (activities/webhook_delivery.py): everything else, FK's other kinds included.

A deliverer returns `sent` (with the receiver's receipt) or `suppressed` (and why); it raises a
retryable `ApplicationError` while the receiver may still take the notification (Temporal
retries within the workflow's three-day delivery window) and a non-retryable one when it never
will. The notification id (or FK's certificate / message id) is the receiver's idempotency key,
so a retry after a lost answer is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Protocol

from activities.models import Delivery, DeliveryOutcome
from domain.consent import Recipient
from domain.state import CaseState
from domain.vocabulary import NotificationKind

Channel = Literal["webhook", "fk_port"]


class Deliverer(Protocol):
    async def deliver(self, delivery: Delivery, state: CaseState) -> DeliveryOutcome:
        """Send `delivery.notification`, consent already checked; `state` is the case as
        recorded at this moment (shared: read it, never change it)."""
        ...


#: The routing table: (recipient, kind) -> channel. What is not listed goes by webhook.
ROUTES: Final[Mapping[tuple[Recipient, NotificationKind], Channel]] = {
    ("fk", "certificate_to_fk"): "fk_port",  # RegisterCertificate (FK7804)
    ("fk", "certificate_revoked_to_fk"): "fk_port",  # RevokeCertificate
    ("fk", "fk_message"): "fk_port",  # SendMessageToRecipient
}

#: The kinds FK receives through the port (bench/chaos.py tells FK's receipts from webhooks').
FK_PORT_KINDS: Final = frozenset(kind for (_, kind), channel in ROUTES.items()
                                 if channel == "fk_port")


def channel_for(recipient: Recipient, kind: NotificationKind) -> Channel:
    return ROUTES.get((recipient, kind), "webhook")
