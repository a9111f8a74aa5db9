"""Schemathesis against /openapi.json: generated requests find no 5xx and no response that
breaks the documented schema. Bounded in examples and time; runs as a separate process so
its synchronous HTTP calls do not block the event loop that serves the API."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.api.conftest import Api

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


async def run_schemathesis(api: Api, role: str, config: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{api.url}/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,"
                    "content_type_conformance",
        "--max-examples", "8", "--seed", "1", "--workers", "1", "--request-timeout", "20",
        "--phases", "examples,coverage,fuzzing",
        "-H", f"Authorization: Bearer {api.token(role)}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=config.parent,  # its example cache stays out of the repository
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=400)
    return process.returncode or 0, output.decode()


async def test_no_server_error_and_no_schema_violation(api: Api, tmp_path: Path) -> None:
    # A real case, so that operations on /cases/{case_id} reach it and not only 404s.
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": "191212121212", "unit_id": "vc-norr", "sick_period_start": "2026-01-05"})
    case_id = opened.json()["case_id"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.case_id" = "{case_id}"\n')

    code, output = await run_schemathesis(api, "physician", config)

    assert code == 0, output[-6000:]
    assert "repeatedly returned 404" not in output
