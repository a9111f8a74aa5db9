"""No identity number reaches a log line, whatever its spelling or where it sits."""

import json
import logging

import pytest
import structlog

from infra.logs import configure

SPELLINGS = ["19121212-1212", "191212121212", "121212-1212", "1212121212", "121212+1212"]


@pytest.mark.parametrize("pnr", SPELLINGS)
def test_structlog_json_line_carries_no_digits_of_the_number(pnr: str, capsys) -> None:  # type: ignore[no-untyped-def]
    configure("json")
    structlog.get_logger().info(
        f"opened case for {pnr}", case_id="c-1", patient={"id": pnr}, ids=[pnr]
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "1212" not in line
    assert record["case_id"] == "c-1"
    assert record["patient"] == {"id": "[personnummer]"}


def test_stdlib_logging_and_exceptions_are_redacted_too(capsys) -> None:  # type: ignore[no-untyped-def]
    configure("json")
    try:
        raise ValueError("bad patient 19121212-1212")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("request failed for 191212121212")
    err = capsys.readouterr().err
    assert "1212" not in err
    assert "request failed for [personnummer]" in err


def test_case_ids_and_dates_are_left_alone(capsys) -> None:  # type: ignore[no-untyped-def]
    configure("json")
    structlog.get_logger().info("milestone", case_id="3f2c9a", day=30, on="2026-11-28")
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["on"] == "2026-11-28" and record["day"] == 30
