"""Readable operations in the OpenAPI document: each operation's id and summary come from its
route's name (`list_cases` -> `listCases`, "List cases"; `RecordCertificate` ->
`recordCertificate`, "Record certificate"), so a generated client gets `client.listCases()`
instead of `cases_cases_get`, and the docs list sentences instead of "Recordcertificate"."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_ACRONYMS = {"fk": "FK", "pdl": "PDL", "sip": "SIP"}


def words(name: str) -> list[str]:
    """`list_cases`, `ListCases` and `listCases` -> ["list", "cases"]."""
    return [w.lower() for w in _WORD.findall(name)]


def operation_id(route: APIRoute) -> str:
    """FastAPI's `generate_unique_id_function`: the route's name in camelCase."""
    first, *rest = words(route.name)
    return first + "".join(w.capitalize() for w in rest)


def readable_summaries(document: dict[str, Any]) -> None:
    """Replace FastAPI's made-up summaries ("Recordcertificate", "Receive Fk Message": the
    name title-cased) with a sentence of the operation id's words; summaries a route gave
    itself stay."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            op_id, summary = operation.get("operationId", ""), operation.get("summary", "")
            if summary.replace(" ", "").lower() == op_id.lower():
                text = " ".join(_ACRONYMS.get(w, w) for w in words(op_id))
                operation["summary"] = text[:1].upper() + text[1:]


def readable_operations(app: FastAPI) -> None:
    """Summaries for every operation (also of routers included later), when the document is
    first built; ids come from `operation_id` (FastAPI's generate_unique_id_function)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            readable_summaries(build())  # FastAPI keeps the document in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
