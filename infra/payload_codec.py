"""Temporal payloads encrypted with AES-256-GCM: Temporal and its UI never hold patient data in
the clear (identity numbers, diagnoses, free text travel in update, activity and result payloads).

- Keys come from settings: SJUKFALL_PAYLOAD_KEYS (JSON `{key_id: base64 of 32 bytes}`) and
  SJUKFALL_PAYLOAD_KEY_ID (the key new payloads are encrypted with). Rotation: add a new key,
  make it the current one, keep the old ones as long as any history still holds payloads
  encrypted with them (the retention period of closed workflows plus the longest open case).
- Each payload carries its key id in its metadata, and the id is bound into the GCM tag
  (associated data), so a payload cannot be relabelled to another key.
- Failure messages and stack traces are encoded too (`encode_common_attributes`): a domain
  rule's message may quote what a clinician wrote.
- Authenticated: a payload that was not encrypted with one of our keys (a command forged with
  `temporal workflow update execute`, or one altered in the history) decodes to an *unreadable*
  payload that no converter accepts. The workflow then refuses the update (its argument cannot
  be read) instead of failing its task, so a forgery is refused and jams nothing.
  `SJUKFALL_PAYLOAD_ACCEPT_PLAINTEXT=true` lets plain payloads through, only while histories
  written before encryption are still running (it reopens that door; see docs/operations.md).

The same codec backs the API's codec server (`/codec/decode`, `/codec/encode`, api/codec.py)
for the Temporal UI and `temporal` CLI (`--codec-endpoint`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
UNREADABLE = b"binary/unreadable"  # what a payload we cannot authenticate decodes to
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32


class PayloadKeyError(ValueError):
    """The configured keys cannot be used (named in the message; no key material in it)."""


def parse_keys(encoded: Mapping[str, str]) -> dict[str, bytes]:
    keys = {}
    for key_id, value in encoded.items():
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"payload key {key_id!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(f"payload key {key_id!r} is {len(key)} bytes; AES-256 needs "
                                  f"{KEY_BYTES}")
        if not key_id or not key_id.isascii():
            raise PayloadKeyError("payload key ids are non-empty ASCII")
        keys[key_id] = key
    return keys


class EncryptionCodec(PayloadCodec):
    """Encrypts with the current key; decrypts with whichever key a payload names."""

    def __init__(self, keys: Mapping[str, bytes], current: str, accept_plaintext: bool = False) -> None:
        if current not in keys:
            raise PayloadKeyError(f"the current payload key {current!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current
        self.accept_plaintext = accept_plaintext

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(
            nonce, payload.SerializeToString(), self.current.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.current.encode()},
                       data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload if self.accept_plaintext else _unreadable("not encrypted")
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            return _unreadable(f"unknown key id {key_id!r}")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:],
                                   key_id.encode())
        except InvalidTag:
            return _unreadable("authentication failed")
        return Payload.FromString(plain)


def _unreadable(reason: str) -> Payload:
    return Payload(metadata={"encoding": UNREADABLE, "reason": reason.encode()})


def codec_for(settings: object, *, accept_plaintext: bool | None = None) -> EncryptionCodec:
    keys = parse_keys(settings.payload_keys)  # type: ignore[attr-defined]
    plain = settings.payload_accept_plaintext if accept_plaintext is None else accept_plaintext  # type: ignore[attr-defined]
    return EncryptionCodec(keys, settings.payload_key_id, accept_plaintext=plain)  # type: ignore[attr-defined]


def encrypted_converter(codec: PayloadCodec, base: DataConverter | None = None) -> DataConverter:
    """The pydantic converter with payloads and failure messages through `codec`."""
    if base is None:
        from temporalio.contrib.pydantic import pydantic_data_converter

        base = pydantic_data_converter
    return dataclasses.replace(base, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def data_converter(settings: object) -> DataConverter:
    return encrypted_converter(codec_for(settings))


def new_key() -> str:
    """A fresh key, base64 (for `sjukfall keys new`)."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
