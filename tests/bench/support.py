"""Running a bench script as a child process, the way BENCHMARKS.md runs it, and reading the
one JSON object it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--json", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    try:
        return proc.returncode, json.loads(lines[0])
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON: {lines[0][:500]}\n{proc.stderr[-3000:]}") from None
