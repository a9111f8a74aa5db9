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


def module_graph() -> dict[str, set[str]]:
    """Every program module's imports of other program modules: relative imports resolved,
    imports inside functions and TYPE_CHECKING blocks counted (a late import hides a cycle; it
    does not remove it). A package's __init__, a facade re-exporting its modules, is no node."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for name in set().union(*LAYERS) - {"worker"} for p in (ROOT / name).rglob("*.py")}
    files["worker"] = ROOT / "worker.py"

    def targets(module: str, node: ast.ImportFrom) -> set[str]:
        prefix = node.module or ""
        if node.level:
            parts = module.split(".")
            package = parts if files[module].name == "__init__.py" else parts[:-1]
            prefix = ".".join(package[:len(package) - node.level + 1] + [prefix] * bool(prefix))
        return {f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in files else prefix
                for a in node.names}

    def module_of(target: str) -> str | None:  # `store.eventstore.EventStore` -> its module
        parts = target.split(".")
        return next((".".join(parts[:n]) for n in range(len(parts), 0, -1)
                     if ".".join(parts[:n]) in files), None)

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                found |= targets(module, node)
        graph[module] = {t for n in found if (t := module_of(n)) not in (None, module)
                         and files[t].name != "__init__.py"}
    return graph


def import_cycles() -> list[set[str]]:
    """The program's import cycles: strongly connected groups of modules (module_graph)."""
    graph = module_graph()
    # Tarjan's algorithm, iteratively
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[set[str]] = []
    for root in graph:
        if root in order:
            continue
        work = [(root, iter(sorted(graph[root])))]
        order[root] = low[root] = len(order)
        stack.append(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in order:
                    order[target] = low[target] = len(order)
                    stack.append(target)
                    work.append((target, iter(sorted(graph[target]))))
                elif target in stack:
                    low[node] = min(low[node], order[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                group = set()
                while True:
                    member = stack.pop()
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(group)
    return cycles


def test_no_module_imports_itself_round_about() -> None:
    """No import cycles, inside a package either: activity models in a leaf module and the
    deliverers chosen by one routing table, the case's consent checks with its state, the FK
    transport chosen apart from both transports, API helpers apart from the app."""
    assert [sorted(c) for c in import_cycles()] == []


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


def our_tables() -> set[str]:
    """Every table the migrations create (a new one is covered without touching this test)."""
    create = re.compile(r"CREATE\s+(?:UNLOGGED\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\s+"
                        r"(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
    return {name for path in (ROOT / "store" / "migrations").glob("*.sql")
            for name in create.findall(path.read_text(encoding="utf-8"))}


def sql_outside_store() -> list[str]:
    """String literals of the program outside store/ that read or write our tables, or a table
    named at run time (`FROM {table}`). Tests and bench/ measure the store from outside on
    purpose and are not checked; nor is `SELECT 1` (a liveness probe names no table)."""
    tables = "|".join(sorted(our_tables()))
    sql = re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:ONLY\s+)?(?:(?:{tables})\b|\{{)")
    found = []
    for package in [p for p in STRICT if p != "store"]:
        paths = [ROOT / package] if package.endswith(".py") else (ROOT / package).rglob("*.py")
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                text = _literal_text(node)
                if text is not None and sql.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    return found


def _literal_text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each `{...}` as `{`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" for v in node.values)
    return None


def test_all_sql_is_in_the_store() -> None:
    assert "events" in our_tables() and "case_summary" in our_tables()
    assert sql_outside_store() == []


def test_workflows_read_no_clock_and_do_no_io() -> None:
    forbidden = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|random\.|uuid\.uuid4\(|"
                           r"import (asyncpg|httpx|requests)|from (asyncpg|httpx|store)\b")
    hits = [f"{p.name}:{n}: {line.strip()}" for p in (ROOT / "workflows").rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if forbidden.search(line) and not line.strip().startswith("#")]
    assert hits == []


def test_routes_get_the_apps_parts_through_api_deps() -> None:
    """Routes, the FK routes and the console declare what they need (api/deps.py's typed
    dependencies, api/auth.py's verifier); only those and create_app touch `app.state`."""
    allowed = {"api/app.py", "api/deps.py", "api/auth.py"}
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "api").rglob("*.py"))
                 if str(path.relative_to(ROOT)) not in allowed
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if "app.state" in line]
    assert offenders == []
