"""Reading the deployment files the way docker, compose and kubectl would, for the checks that
can run without a container engine: what they run, which settings they set, as whom."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from infra.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
OPERATIONS = ROOT / "docs" / "operations.md"

# Subcommands the deployment runs that the lead is adding to sjukfall/cli.py (issue 9). Until
# they exist the checks that need them are expected failures, reported as such by pytest -ra.
PENDING_COMMANDS = {
    ("fk-simulator",): "`sjukfall fk-simulator` is not in sjukfall/cli.py yet",
}


# --- settings and the command line ------------------------------------------------------------


def settings_env_names() -> set[str]:
    return {env_name(name) for name in Settings.model_fields}


# typer ships its own copy of click: commands are recognised by shape, not by class.
Command = Any


def is_group(command: Command) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


@cache
def cli() -> Command:
    from sjukfall.cli import app

    group = typer.main.get_command(app)
    assert is_group(group)
    return group


def resolve(args: list[str]) -> tuple[tuple[str, ...], Command | None]:
    """The subcommand path named by `args` (up to the first option) and its command, or None."""
    command = cli()
    path: list[str] = []
    for arg in args:
        if arg.startswith("-") or not is_group(command):
            break
        sub = command.commands.get(arg)
        if sub is None:
            return (*path, arg), None
        path.append(arg)
        command = sub
    return tuple(path), command


def require_command(args: list[str], where: str) -> Command:
    """The command `sjukfall <args>` runs; fails (or xfails, for a pending one) if it does not
    exist, and fails on an option the command does not have."""
    path, command = resolve(args)
    if command is None or is_group(command):
        for pending, reason in PENDING_COMMANDS.items():
            if tuple(args[: len(pending)]) == pending:
                pytest.xfail(f"{where}: {reason}")
        pytest.fail(f"{where}: `sjukfall {' '.join(args)}` is not a sjukfall command "
                    f"(no {' '.join(path)!r})")
    options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for arg in args:
        if arg.startswith("--") and arg.split("=", 1)[0] not in options:
            pytest.fail(f"{where}: `sjukfall {' '.join(args)}`: {command.name} has no {arg}")
    return command


# --- Dockerfile -------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [value for kw, value in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        values = self.all(keyword)
        return values[-1] if values else None


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """Stages with their instructions, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", value, re.IGNORECASE)
            assert m, line
            stages.append(Stage(m.group(1), m.group(2)))
        elif stages:
            stages[-1].instructions.append((keyword, value.strip()))
    return stages


def exec_form(value: str) -> list[str]:
    """ENTRYPOINT/CMD in exec (JSON) form; shell form is refused (signals would not reach
    the process: PID 1 would be /bin/sh)."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), value
    return parsed


def dockerfile_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in stage.all("ENV"):
        for token in shlex.split(value):
            if "=" in token:
                key, _, val = token.partition("=")
                env[key] = val
    return env


def image_command() -> tuple[list[str], list[str]]:
    runtime = dockerfile_stages()[-1]
    entrypoint = exec_form(runtime.last("ENTRYPOINT") or "[]")
    cmd = exec_form(runtime.last("CMD") or "[]")
    return entrypoint, cmd


# --- compose ----------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def sjukfall_services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run our image (built from deploy/Dockerfile)."""
    return {
        name: svc for name, svc in data["services"].items()
        if isinstance(svc.get("build"), dict) and svc["build"].get("dockerfile") == "deploy/Dockerfile"
    }


def as_list(command: Any) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(c) for c in command]


INTERPOLATION = re.compile(r"\$\{([A-Za-z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} with `given` as the environment."""
    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if given.get(name):
            return given[name]
        if "?" in op:
            raise KeyError(f"compose refuses to start without {name}: {arg}")
        return arg if "-" in op else ""
    return INTERPOLATION.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


# --- Kubernetes -------------------------------------------------------------------------------


def k8s_config(folder: Path = K8S) -> dict[str, str]:
    """The settings of the kustomization's configMapGenerator (an env file: KEY=value)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    data: dict[str, str] = {}
    for env_file in generator["envs"]:
        for line in (folder / env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    return data


def k8s_documents(folder: Path = K8S) -> list[tuple[Path, dict[str, Any]]]:
    """Every manifest of the folder, and the ConfigMap its kustomization generates."""
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs.append((path, doc))
    if folder == K8S:
        docs.append((folder / "config.env", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sjukfall-config"},
            "data": k8s_config(folder)}))
    return docs


def runs_our_image(spec: dict[str, Any]) -> bool:
    return all(c["image"] == "sjukfall"
               for c in spec.get("initContainers", []) + spec["containers"])


def k8s_workloads(ours_only: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every Deployment and Job (only those running our image,
    unless `ours_only` is False)."""
    out = []
    for _path, doc in k8s_documents():
        if doc.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            spec = doc["spec"]["template"]["spec"]
            if runs_our_image(spec) or not ours_only:
                out.append((f"{doc['kind']}/{doc['metadata']['name']}", spec))
    return out


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())
