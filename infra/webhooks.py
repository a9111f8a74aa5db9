"""Outbound webhooks in the Standard Webhooks format (standardwebhooks.com), one secret per
recipient.

Headers: `webhook-id` (the notification id; also sent as `Idempotency-Key`), `webhook-timestamp`
(unix seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one
per secret of the recipient, space-separated. During a rotation a recipient has two secrets
(new first): both sign, so the receiver verifies with either while it switches over. Each
recipient's secret is its own (SJUKFALL_WEBHOOK_SECRETS): the employer cannot sign as FK.
Receivers verify with the `standardwebhooks` package (or any implementation of the spec),
using the secret's bytes as the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from infra.signing import IDEMPOTENCY_HEADER


def signed_webhook_headers(secrets: Sequence[str], body: bytes, message_id: str,
                           at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    text = body.decode()
    signatures = [Webhook(secret.encode()).sign(message_id, at, text) for secret in secrets]
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
        IDEMPOTENCY_HEADER: message_id,
    }


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """The receiver's side: a signature by `secret`, within the spec's five minutes."""
    wanted = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp",
                                               "webhook-signature")}
    try:
        Webhook(secret.encode()).verify(body, wanted)
    except (WebhookVerificationError, ValueError, UnicodeError):
        return False
    return True
