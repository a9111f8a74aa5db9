"""Errors as application/problem+json (RFC 9457), naming the field and the rule.

Every error body: {type, title, status, detail, errors: [{field, rule, message}]} (the
`Problem` schema in the OpenAPI document).

The status follows from the rule's kind, here and nowhere else (`STATUS_BY_KIND`): a rule is
the domain's (`domain.errors.RULE_KINDS`) or the API's own (`API_RULE_KINDS`). `type` names the
rule: `urn:sjukfall:problem:<rule>` (docs/problems.md lists them), `...:invalid_input` for a
body or parameter that does not fit the schema, `about:blank` when the status says it all
(401, 404 for an unknown case, 503).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import RULE_KINDS, ErrorKind

PROBLEM = "application/problem+json"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Content too large",
          422: "Invalid input", 500: "Internal error", 503: "Unavailable"}

#: The one mapping of refusals to HTTP.
STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
}

#: Rules the API itself refuses by (the domain's are in domain.errors.RULE_KINDS).
API_RULE_KINDS: dict[str, ErrorKind] = {
    "certificate_in_other_case": ErrorKind.CONFLICT,
    "unit_not_allowed": ErrorKind.FORBIDDEN,
    "identity_number": ErrorKind.INVALID,
    "not_offered": ErrorKind.INVALID,
    "payloads_json": ErrorKind.INVALID,
    "period_order": ErrorKind.INVALID,
    "purpose_required": ErrorKind.INVALID,
    "unit_required": ErrorKind.INVALID,
}
#: Rules answered with a status no kind has (the HTTP layer's own).
HTTP_RULES = {"body_too_large": 413}

TYPE_PREFIX = "urn:sjukfall:problem:"
INVALID_INPUT = TYPE_PREFIX + "invalid_input"


def rule_kind(rule: str) -> ErrorKind:
    return API_RULE_KINDS.get(rule) or RULE_KINDS.get(rule) or ErrorKind.INVALID


def problem_type(rule: str) -> str | None:
    """The type URI of a rule of ours (None for a rule that is not, such as pydantic's)."""
    known = rule in RULE_KINDS or rule in API_RULE_KINDS or rule in HTTP_RULES
    return TYPE_PREFIX + rule if known else None


class Problem(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors or [], headers


def refusal(field: str, rule: str, message: str, detail: str | None = None) -> Problem:
    """The problem for a broken rule: its status from the rule's kind."""
    return Problem(STATUS_BY_KIND[rule_kind(rule)], detail or message,
                   [{"field": field, "rule": rule, "message": message}])


def type_of(status: int, errors: list[dict[str, str]]) -> str:
    if errors:
        return problem_type(errors[0]["rule"]) or (INVALID_INPUT if status == 422 else
                                                   "about:blank")
    return "about:blank"


class ProblemError(BaseModel):
    field: str = Field(description="Dotted path to the offending field (`certificate.periods"
                                   "[1].grade`), a header name, or `body`.",
                       examples=["certificate.periods[0].grade"])
    rule: str = Field(description="The rule broken: ours (docs/problems.md) or, for input that "
                                  "does not fit the schema, pydantic's error type.",
                      examples=["case_closed"])
    message: str = Field(description="The rule in words, for a clerk.",
                         examples=["the case is closed"])


class ProblemDetails(BaseModel):
    """An error (RFC 9457 problem details), as application/problem+json."""

    type: str = Field(description="`urn:sjukfall:problem:<rule>` for the first error's rule, "
                                  "`urn:sjukfall:problem:invalid_input` for input that does not "
                                  "fit the schema, else `about:blank`.",
                      examples=["urn:sjukfall:problem:case_closed"])
    title: str = Field(description="The status in words.", examples=["Conflict"])
    status: int = Field(description="The HTTP status.", examples=[409])
    detail: str = Field(description="What went wrong, in words.",
                        examples=["case 7f3a is closed"])
    errors: list[ProblemError] = Field(description="Each broken rule, naming its field; empty "
                                                   "when the status says it all.")


def problem_response(status: int, detail: str, errors: list[dict[str, str]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_of(status, errors or []),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'certificate', 'periods', 1, 'grade') -> 'certificate.periods[1].grade'."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part.startswith(("function-after[", "function-before[")):
            continue
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def validation_errors(errors: list[Any]) -> list[dict[str, str]]:
    out = []
    for e in errors:
        message = str(e.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        out.append({"field": field_path(e.get("loc", ())), "rule": str(e.get("type", "invalid")),
                    "message": message})
    return out


def problem_responses(statuses: list[tuple[int, str]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each a `Problem` (see install)."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {status: {"description": text, "content": {PROBLEM: {"schema": schema}}}
            for status, text in statuses}


def _with_problem_schema(app: FastAPI) -> None:
    """The OpenAPI document holds the `Problem` schema the error responses refer to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()  # and FastAPI keeps it in app.openapi_schema
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            generated = ProblemDetails.model_json_schema(
                ref_template="#/components/schemas/{model}")
            schemas.update(generated.pop("$defs", {}))
            schemas["Problem"] = generated
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _with_problem_schema(app)

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return problem_response(413, str(exc.detail), [{
                "field": "body", "rule": "body_too_large", "message": str(exc.detail)}],
                {"Connection": "close"})
        return problem_response(exc.status_code, str(exc.detail), None,
                                getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        from infra.logs import get_logger

        get_logger(__name__).exception("unhandled_error", error_type=type(exc).__name__)
        return problem_response(500, "an unexpected error occurred; it has been logged")
