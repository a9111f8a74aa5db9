"""Limits at the HTTP edge: the request size, and no control characters in query parameters.

The size limit is enforced before a body is parsed and before the token is checked.
A declared Content-Length over the limit is refused at once; a body sent without one (chunked)
is counted as it arrives and refused as soon as it passes the limit. Either way the answer is
413 problem+json and the rest of the body is never read into memory.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response, refusal
from domain.bounds import CONTROL


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Any = problem_response(413, str(BodyTooLarge(self.max_bytes).detail), [{
            "field": "body", "rule": "body_too_large",
            "message": f"at most {self.max_bytes} bytes are accepted"}],
            headers={"Connection": "close"})
        await response(scope, receive, send)


def clean_query(request: Request) -> None:
    """Query parameters are text like any other: no control characters (PostgreSQL could not
    even compare a NUL)."""
    for name, value in request.query_params.multi_items():
        if CONTROL.search(value) or CONTROL.search(name):
            raise refusal(name, "control_character", "only tab and newline are allowed",
                          detail=f"{name} holds a control character")
