"""The codec server: the Temporal UI and the `temporal` CLI read encrypted payloads through it.

Temporal's remote-codec protocol: `POST /codec/decode` and `POST /codec/encode` take and answer
`{"payloads": [{"metadata": {name: base64}, "data": base64}]}` (the JSON form of Payloads). Only
ops may call it (a bearer token with role ops: in the UI, "pass the user access token"; in the CLI,
`--codec-auth "Bearer <token>"`), and every decode is a read of patient data: it is written to the
PDL access log, one entry per case the decoded payloads name (`codec:decode`), or one entry
under `-` when they name none. Browsers may call it from the origins in SJUKFALL_CODEC_CORS_ORIGINS
(the Temporal UI's; in dev, the embedded UI's port).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from google.protobuf.json_format import MessageToDict, ParseDict
from temporalio.api.common.v1 import Payload, Payloads

from api.auth import Principal, require
from api.deps import codec_of, pool_of
from api.problems import refusal
from api.purpose import Purpose
from store.access_log import record_accesses

router = APIRouter(prefix="/codec", tags=["operations"])
OPS = Depends(require("ops"))
CASE_KEYS = ("case_id", "stream_id")


def _payloads(body: Any) -> list[Payload]:
    try:
        return list(ParseDict(body, Payloads()).payloads)
    except Exception:  # noqa: BLE001 - any malformed body is the client's error
        raise refusal("payloads", "payloads_json",
                      'expected {"payloads": [{"metadata": {...}, "data": base64}]}',
                      detail="the body is not Temporal Payloads JSON") from None


def _answer(payloads: list[Payload]) -> dict[str, Any]:
    return MessageToDict(Payloads(payloads=payloads))


def _case_ids(payloads: list[Payload]) -> set[str]:
    """Case ids named anywhere in decoded JSON payloads (inputs, commands, events)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CASE_KEYS and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for payload in payloads:
        if payload.metadata.get("encoding", b"").startswith(b"json"):
            with contextlib.suppress(ValueError):
                walk(json.loads(payload.data))
    return found


@router.post("/decode")
async def decode(request: Request, body: dict[str, Any], purpose: Purpose,
                 principal: Principal = OPS) -> dict[str, Any]:
    """Decrypt payloads for the Temporal UI or CLI; recorded in the PDL access log."""
    decoded = await codec_of(request).decode(_payloads(body))
    pool = pool_of(request)
    await record_accesses(pool, actor_id=principal.sub, role=principal.role,
                          units=list(principal.units), case_ids=sorted(_case_ids(decoded)) or ["-"],
                          action="codec:decode", purpose=purpose)
    return _answer(decoded)


@router.post("/encode")
async def encode(request: Request, body: dict[str, Any], principal: Principal = OPS,
                 ) -> dict[str, Any]:
    """Encrypt payloads (the UI encodes what an operator sends, e.g. a signal's input)."""
    return _answer(await codec_of(request).encode(_payloads(body)))
