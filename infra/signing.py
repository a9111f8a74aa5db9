"""HMAC-SHA256 signatures for webhooks and the FK gateway, both directions.

The signed string is `<unix timestamp>.<raw body>` so a captured request cannot be replayed
with a fresh timestamp; receivers reject signatures older than `max_age` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Sjukfall-Signature"
TIMESTAMP_HEADER = "X-Sjukfall-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, idempotency_key: str) -> dict[str, str]:
    ts = int(time.time())
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, ts, body),
        TIMESTAMP_HEADER: str(ts),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, max_age: int = 300) -> bool:
    get = headers.get
    signature, ts = get(SIGNATURE_HEADER), get(TIMESTAMP_HEADER)
    if not signature or not ts or not (signature + ts).isascii() or not ts.isdigit():
        return False
    if abs(time.time() - int(ts)) > max_age:
        return False
    return hmac.compare_digest(signature, sign(secret, int(ts), body))
