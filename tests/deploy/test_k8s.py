"""deploy/k8s: Deployments, Services, the migrations Job and the ConfigMap, checked offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sjukfall.settings import Settings
from tests.deploy.support import (
    K8S,
    OPERATIONS,
    image_command,
    k8s_documents,
    k8s_workloads,
    require_command,
    settings_env_names,
)


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _p, d in k8s_documents() if d["kind"] == kind}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def test_the_manifests_hold_what_an_operator_needs() -> None:
    assert set(by_kind("Deployment")) == {"sjukfall-api", "sjukfall-worker"}
    assert set(by_kind("Service")) == {"sjukfall-api", "sjukfall-worker"}
    assert set(by_kind("Job")) == {"sjukfall-migrate"}
    assert set(by_kind("ConfigMap")) == {"sjukfall-config"}
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == files, "every manifest is in the kustomization, and only those"


def test_no_secret_is_written_in_a_file() -> None:
    assert by_kind("Secret") == {}
    config = by_kind("ConfigMap")["sjukfall-config"]["data"]
    for key in config:
        assert not re.search(r"SECRET|PASSWORD|DATABASE_URL|API_KEY", key), key
    for name, spec in k8s_workloads():
        for c in containers(spec):
            for var in c.get("env", []):
                if re.search(r"SECRET|PASSWORD|DATABASE_URL|API_KEY", var["name"]):
                    assert "value" not in var, f"{name}: {var['name']} is a literal"
                    assert "secretKeyRef" in var["valueFrom"], f"{name}: {var['name']}"


@pytest.mark.parametrize("deployment", ["sjukfall-api", "sjukfall-worker"])
def test_probes_use_healthz_for_liveness_and_readyz_for_readiness(deployment: str) -> None:
    (container,) = by_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    expected = 8000 if deployment == "sjukfall-api" else 9464  # SJUKFALL_API_PORT / _WORKER_METRICS_PORT
    assert ports[container["readinessProbe"]["httpGet"]["port"]] == expected
    config = by_kind("ConfigMap")["sjukfall-config"]["data"]
    setting = "SJUKFALL_API_PORT" if deployment == "sjukfall-api" else "SJUKFALL_WORKER_METRICS_PORT"
    assert int(config[setting]) == expected


@pytest.mark.parametrize("workload", [name for name, _ in k8s_workloads()])
def test_every_pod_runs_unprivileged_with_resources(workload: str) -> None:
    spec = dict(k8s_workloads())[workload]
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    for c in containers(spec):
        resources = c["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), c["name"]
        assert "memory" in resources["limits"], c["name"]
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        # a read-only root needs a writable /tmp
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


@pytest.mark.parametrize("workload", [name for name, _ in k8s_workloads()])
def test_every_container_runs_a_sjukfall_command(workload: str) -> None:
    spec = dict(k8s_workloads())[workload]
    entrypoint, _ = image_command()
    for c in containers(spec):
        assert c["image"] == "sjukfall"  # rewritten by the kustomization's images:
        assert "command" not in c, "keep the image's ENTRYPOINT (sjukfall); pass args"
        assert entrypoint == ["sjukfall"]
        require_command(c["args"], f"{workload} container {c['name']}")


def test_every_sjukfall_variable_is_a_setting() -> None:
    known = settings_env_names()
    config = by_kind("ConfigMap")["sjukfall-config"]["data"]
    assert set(config) - known == set()
    for name, spec in k8s_workloads():
        for c in containers(spec):
            names = {v["name"] for v in c.get("env", [])}
            assert {n for n in names if n.startswith("SJUKFALL_")} - known == set(), name
            assert c["envFrom"] == [{"configMapRef": {"name": "sjukfall-config"}}], name


def test_the_migrations_job_runs_once_and_is_not_restarted_in_place() -> None:
    job = by_kind("Job")["sjukfall-migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "migrate"]


def test_services_reach_the_pods_they_name() -> None:
    deployments = by_kind("Deployment")
    for name, service in by_kind("Service").items():
        target = deployments[name]["spec"]["template"]
        labels = target["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        ports = {p["name"] for c in target["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{name}: {port}"


def test_the_secrets_the_pods_read_are_the_ones_the_runbook_creates() -> None:
    runbook = OPERATIONS.read_text()
    wanted: set[tuple[str, str]] = set()
    for _name, spec in k8s_workloads():
        for c in containers(spec):
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    wanted.add((ref["name"], ref["key"]))
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                wanted.add((volume["secret"]["secretName"], ""))
    for peer, settings in (("temporal", by_kind("ConfigMap")["sjukfall-config"]["data"]),
                           ("fk", worker_env())):
        for file in ("CERT", "KEY", "CA"):
            path = Path(settings[f"SJUKFALL_{peer.upper()}_TLS_{file}"])
            wanted.add((f"sjukfall-{peer}-tls", path.name))
    for secret, key in wanted:
        create = re.search(rf"kubectl[^\n]*create secret generic {re.escape(secret)}\b(.*?)(?:\n\n|```)",
                           runbook, re.DOTALL)
        assert create, f"docs/operations.md does not say how to create the Secret {secret}"
        if key:
            assert re.search(rf"--from-(literal|file)={re.escape(key)}=", create.group(1)), \
                f"docs/operations.md: {secret} is created without the key {key}"


def worker_env() -> dict[str, str]:
    spec = dict(k8s_workloads())["Deployment/sjukfall-worker"]
    return {v["name"]: v["value"] for c in containers(spec) for v in c["env"] if "value" in v}


def mounts(workload: str) -> dict[str, str | None]:
    """Mount path -> the Secret mounted there, over the workload's containers."""
    spec = dict(k8s_workloads())[workload]
    secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    return {m["mountPath"]: secrets.get(m["name"]) for c in containers(spec)
            for m in c["volumeMounts"]}


@pytest.mark.parametrize("workload", [name for name, _ in k8s_workloads()])
def test_the_tls_files_the_settings_name_are_mounted_from_their_secret(workload: str) -> None:
    """The settings check that these files exist. Temporal's are every process's (ConfigMap);
    FK's function certificate is the worker's alone: no other process talks to FK."""
    config = by_kind("ConfigMap")["sjukfall-config"]["data"]
    mounted = mounts(workload)
    for file in ("CERT", "KEY", "CA"):
        path = Path(config[f"SJUKFALL_TEMPORAL_TLS_{file}"])
        assert mounted.get(str(path.parent)) == "sjukfall-temporal-tls", f"{workload}: {path}"
    assert not any(k.startswith("SJUKFALL_FK_TLS_") for k in config)
    if workload == "Deployment/sjukfall-worker":
        for file in ("CERT", "KEY", "CA"):
            path = Path(worker_env()[f"SJUKFALL_FK_TLS_{file}"])
            assert mounted.get(str(path.parent)) == "sjukfall-fk-tls", f"{workload}: {path}"
    else:
        assert "sjukfall-fk-tls" not in mounted.values(), f"{workload} holds FK's key"


def test_the_production_settings_accept_the_configmap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SJUKFALL_"):
            monkeypatch.delenv(name)
    for key, value in by_kind("ConfigMap")["sjukfall-config"]["data"].items():
        if key.startswith(("SJUKFALL_TEMPORAL_TLS_", "SJUKFALL_FK_TLS_")):  # mounted Secrets
            value = str(tmp_path / key.lower())
            Path(value).write_text("pem")
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("SJUKFALL_DATABASE_URL",
                       "postgresql://sjukfall:pw@db:5432/sjukfall?sslmode=verify-full")
    monkeypatch.setenv("SJUKFALL_WEBHOOK_SECRET", "w" * 64)
    monkeypatch.setenv("SJUKFALL_FK_SECRET", "f" * 64)
    monkeypatch.setenv("SJUKFALL_WEBHOOK_SECRETS", json.dumps(
        {r: [r[0] * 64] for r in ("employer", "fk", "patient")}))
    monkeypatch.setenv("SJUKFALL_PAYLOAD_KEYS", '{"k1": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="}')
    monkeypatch.setenv("SJUKFALL_PAYLOAD_KEY_ID", "k1")
    settings = Settings()
    assert settings.env == "production" and settings.jwks_url
    assert set(settings.webhook_urls) >= {"employer", "fk", "patient"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests() -> None:
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert all(d["metadata"]["namespace"] == "sjukfall" for d in docs)
    images = {c["image"] for d in docs if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1 and next(iter(images)).endswith(":0.1.0")
