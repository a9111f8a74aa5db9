"""Identity numbers as people write them never reach a log line, nor do the Temporal core's own
lines bypass the redaction (issue #15, finding 8)."""

from __future__ import annotations

import logging

import pytest

from infra.logs import configure, core_logging, get_logger


@pytest.mark.parametrize("written", ["19121212 1212", "121212 1212", "19121212\u20131212",
                                     "121212\u20131212", "19121212\u20141212", "19121212-1212"])
def test_space_and_dash_forms_are_redacted(written: str, capsys) -> None:  # type: ignore[no-untyped-def]
    configure("json")
    get_logger("t").info("note", text=f"ringde om {written} idag")
    logging.getLogger("other").warning("stdlib %s", written)
    err = capsys.readouterr().err
    assert "1212" not in err.replace("[personnummer]", "")
    assert err.count("[personnummer]") == 2


def test_temporal_core_logs_are_forwarded_to_python_logging() -> None:
    config = core_logging()
    assert config.forwarding is not None
    assert config.forwarding.logger is logging.getLogger("temporalio.core")
