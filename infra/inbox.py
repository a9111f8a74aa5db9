"""A webhook receiver: a real HTTP server on loopback speaking the protocol of an employer's
or a care system's endpoint (signed JSON, Idempotency-Key).

`sjukfall run` serves one as the development inbox for every recipient, so notifications have
somewhere to go (GET / lists what arrived: kinds and case ids, never health data). The tests
use it as the outside party: it verifies signatures, stores each idempotency key once, counts
deliveries, and can be told to fail a share of requests or to answer slowly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from infra.embedded import free_port
from infra.signing import IDEMPOTENCY_HEADER
from infra.webhooks import verify_webhook


@contextlib.contextmanager
def _no_signals() -> Iterator[None]:
    """uvicorn's signal capture, left out: the test process keeps its own handlers."""
    yield


@dataclass
class WebhookReceiver:
    secret: str
    fail_ratio: float = 0.0  # share of requests answered 503
    delay: float = 0.0  # seconds to wait before answering (simulates a slow gateway)
    port: int = field(default_factory=free_port)
    attempts: int = 0
    bad_signatures: int = 0
    delivered: Counter[str] = field(default_factory=Counter)  # idempotency key -> accepted count
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> JSONResponse:
        self.attempts += 1
        body = await request.body()
        if not verify_webhook(self.secret, request.headers, body):
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._rng.random() < self.fail_ratio:
            return JSONResponse({"error": "try later"}, status_code=503)
        key = request.headers[IDEMPOTENCY_HEADER]
        if key not in self.delivered:  # a receiver that honours idempotency keys stores once
            self.bodies[key] = json.loads(body)
        self.delivered[key] += 1
        return JSONResponse({"receipt": f"r-{key}"}, headers={"X-Receipt": f"r-{key}"})

    async def _list(self, _: Request) -> JSONResponse:
        return JSONResponse([
            {"idempotency_key": key, "recipient": b.get("recipient"), "kind": b.get("kind"),
             "case_id": b.get("case_id"), "deliveries": self.delivered[key]}
            for key, b in self.bodies.items()
        ])

    def kinds(self) -> list[str]:
        return sorted(b["kind"] for b in self.bodies.values())

    async def __aenter__(self) -> WebhookReceiver:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"]),
                                Route("/", self._list, methods=["GET"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_config=None, access_log=False))
        self._server.capture_signals = _no_signals  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task
