"""Static guards that keep the architecture honest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_domain_passes_mypy_strict() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "domain/"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_domain_imports_nothing_outside_itself() -> None:
    allowed_third_party = {"pydantic", "annotated_types", "pydantic_core"}
    project = {"workflows", "activities", "store", "api", "fk", "sjukfall", "worker", "temporalio",
               "asyncpg", "httpx", "fastapi"}
    offenders = []
    for path in (ROOT / "domain").rglob("*.py"):
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:from|import)\s+([a-zA-Z_][\w]*)", line)
            if match and match.group(1) in project - allowed_third_party:
                offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []


def test_workflows_read_no_clock_and_do_no_io() -> None:
    forbidden = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|random\.|uuid\.uuid4\(|"
                           r"import (asyncpg|httpx|requests)|from (asyncpg|httpx|store)\b")
    hits = [f"{p.name}:{n}: {line.strip()}" for p in (ROOT / "workflows").rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if forbidden.search(line) and not line.strip().startswith("#")]
    assert hits == []
