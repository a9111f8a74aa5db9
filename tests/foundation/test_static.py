"""Static guards that keep the architecture honest: ruff (the rule families in pyproject.toml),
mypy --strict over the layers below the API, and imports that only go down the layers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: mypy --strict is clean over all of the program (bench/ and tests/ are not checked)
STRICT = ["domain", "store", "infra", "fk", "activities", "workflows", "api", "sjukfall",
          "worker.py"]

#: The layers, lowest first: a module imports from its own layer and those below, never above.
#: `infra/` holds the platform utilities every layer above the store uses (logs, metrics,
#: settings, signing, ...); `sjukfall/` (the CLI and operator commands) and `worker.py` are the
#: program's entry points, on top.
LAYERS = [{"domain"}, {"store"}, {"infra"}, {"activities", "fk"}, {"workflows"}, {"api"},
          {"sjukfall", "worker"}]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, names in enumerate(LAYERS) if top in names)


def project_imports() -> dict[str, set[str]]:
    """Every module's imports of project modules, also those inside functions and
    TYPE_CHECKING blocks (a late import hides a cycle; it does not remove it)."""
    packages = set().union(*LAYERS)
    paths = [p for name in packages - {"worker"} for p in (ROOT / name).rglob("*.py")]
    found: dict[str, set[str]] = {}
    for path in [*paths, ROOT / "worker.py"]:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        found[module] = {n for n in names if n.split(".")[0] in packages}
    return found


def test_layers_import_downward_only() -> None:
    upward = sorted(f"{module} -> {target}" for module, targets in project_imports().items()
                    for target in targets
                    if layer_of(target) > layer_of(module))
    assert upward == []


def test_fk_does_not_reach_into_activities() -> None:
    """activities and fk share a layer; the activities use the FK port, never the reverse."""
    assert [m for m, targets in project_imports().items()
            if m.startswith("fk") and any(t.startswith("activities") for t in targets)] == []


def test_the_program_passes_mypy_strict() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", *STRICT], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_domain_imports_nothing_outside_itself() -> None:
    allowed_third_party = {"pydantic", "annotated_types", "pydantic_core"}
    project = {"workflows", "activities", "store", "api", "fk", "infra", "sjukfall", "worker",
               "temporalio",
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
