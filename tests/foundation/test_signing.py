"""Known answers for the signature format every peer codes against (webhook receivers and FK's
gateway): HMAC-SHA256 over `<unix timestamp>.<raw body>`, hex, prefixed `sha256=`.

The expected headers were computed outside Python, with
`printf '%s' '<ts>.<body>' | openssl dgst -sha256 -hmac '<secret>'`, so a mistake made alike in
`sign` and `verify` (which share code) cannot hide here.
"""

from __future__ import annotations

import pytest

from infra import signing
from infra.signing import sign, signed_headers, verify

FK_SECRET = "fk-gateway-shared-secret"
BODY = b'{"message_id":"m-1","topic":"KONTKT"}'
TS = 1_700_000_000
KNOWN = "sha256=0597be466a97feba3c269afd31bb85371bf2dd3101393abda7a23b8a581cb255"


@pytest.mark.parametrize(("secret", "timestamp", "body", "header"), [
    (FK_SECRET, TS, BODY, KNOWN),
    ("dev-webhook-secret", 1_764_547_200, b"",
     "sha256=9816340fea5cc114f2930a74f2594e548986036406ecf7787d2cbd1cb8c05d17"),
    # UTF-8 in both the key and the body
    ("nyckel-å", TS, "räksmörgås".encode(),
     "sha256=d0c72f8832bc27fc54f54f962f1f51af7de15af7359e73b25221fda3aafa0ea3"),
])
def test_known_answers(secret: str, timestamp: int, body: bytes, header: str) -> None:
    assert sign(secret, timestamp, body) == header


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The signing module's clock, set by the test."""
    now = [TS + 0.6]
    monkeypatch.setattr(signing.time, "time", lambda: now[0])
    return now


def test_signed_headers_are_exactly_these(frozen: list[float]) -> None:
    assert signed_headers(FK_SECRET, BODY, "m-1") == {
        "Content-Type": "application/json",
        "X-Sjukfall-Signature": KNOWN,
        "X-Sjukfall-Timestamp": str(TS),
        "Idempotency-Key": "m-1",
    }


def test_a_fresh_signature_is_accepted(frozen: list[float]) -> None:
    headers = {"X-Sjukfall-Signature": KNOWN, "X-Sjukfall-Timestamp": str(TS)}
    assert verify(FK_SECRET, headers, BODY)
    frozen[0] = TS + 300  # five minutes old: still accepted
    assert verify(FK_SECRET, headers, BODY)
    frozen[0] = TS - 300  # five minutes ahead (the sender's clock runs fast)
    assert verify(FK_SECRET, headers, BODY)


@pytest.mark.parametrize("age", [301, 3600, -301, -86400])
def test_a_captured_request_replayed_later_is_refused(frozen: list[float], age: int) -> None:
    headers = {"X-Sjukfall-Signature": KNOWN, "X-Sjukfall-Timestamp": str(TS)}
    frozen[0] = TS + age
    assert not verify(FK_SECRET, headers, BODY)
    assert verify(FK_SECRET, headers, BODY, max_age=abs(age))  # the receiver's window decides


@pytest.mark.parametrize("headers", [
    {"X-Sjukfall-Timestamp": str(TS)},  # no signature
    {"X-Sjukfall-Signature": KNOWN},  # no timestamp
    {"X-Sjukfall-Signature": KNOWN, "X-Sjukfall-Timestamp": f"{TS}.0"},  # not digits
    {"X-Sjukfall-Signature": KNOWN, "X-Sjukfall-Timestamp": str(TS + 1)},  # another instant
    {"X-Sjukfall-Signature": KNOWN.upper(), "X-Sjukfall-Timestamp": str(TS)},
    {"X-Sjukfall-Signature": KNOWN.removeprefix("sha256="), "X-Sjukfall-Timestamp": str(TS)},
])
def test_anything_but_the_exact_signature_is_refused(frozen: list[float],
                                                     headers: dict[str, str]) -> None:
    assert not verify(FK_SECRET, headers, BODY)


def test_another_body_or_secret_is_refused(frozen: list[float]) -> None:
    headers = {"X-Sjukfall-Signature": KNOWN, "X-Sjukfall-Timestamp": str(TS)}
    assert not verify(FK_SECRET, headers, BODY + b" ")
    assert not verify(FK_SECRET + "x", headers, BODY)
