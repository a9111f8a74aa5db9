"""structlog, configured once: JSON lines in production, console in dev.

Identity numbers must never reach a log line, so the last processor before rendering replaces
anything shaped like a Swedish personal identity number, wherever it sits in the event dict.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# Personnummer/samordningsnummer with or without century, with `-`, `+`, a space or any dash
# between date and number, or none: one pattern with the masking rule (domain/privacy.py).
from domain.privacy import IDENTITY_NUMBER

REDACTED = "[personnummer]"


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return IDENTITY_NUMBER.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact(v) for v in value]
    if isinstance(value, BaseException):
        return _redact(repr(value))
    return value


def redact_identity_numbers(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact(value)
    return event_dict


class _StderrLogger:
    """Writes each line to the sys.stderr of the moment (a replaced stream is honoured)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler bound to the sys.stderr of the moment, not of configuration time."""

    @property  # type: ignore[override, unused-ignore]  # the stub calls it an attribute
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(fmt: str = "console", level: str = "info") -> None:
    """Configure structlog and route stdlib logging (uvicorn, temporalio) through it."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    from infra.tracing import add_trace_ids

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_identity_numbers,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *_: _StderrLogger(),
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_identity_numbers,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def core_logging() -> Any:
    """The Temporal core's (Rust) log lines forwarded to Python logging (`temporalio.core`),
    so they pass the same redaction and rendering as ours instead of going to stderr raw."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

    return LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                         forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")))


def forwarding_runtime() -> Any:
    """The process's default Temporal runtime, with core logs forwarded (made once)."""
    global _runtime
    if _runtime is None:
        from temporalio.runtime import Runtime, TelemetryConfig

        _runtime = Runtime(telemetry=TelemetryConfig(logging=core_logging()))
    return _runtime


_runtime: Any = None


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
