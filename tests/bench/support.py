"""Running a bench script as a child process, the way BENCHMARKS.md runs it, and reading the
one JSON object it prints."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any]]:
    # Output to files, not pipes: a server the bench restarted may outlive it for a moment and
    # hold a pipe open; the bench's own exit is what counts.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), "--json", *args],
            cwd=ROOT, stdout=out, stderr=err, text=True, timeout=timeout, check=False,
        )
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got:\n{stdout}\n{stderr[-3000:]}"
    try:
        return proc.returncode, json.loads(lines[0])
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON: {lines[0][:500]}\n{stderr[-3000:]}") from None
