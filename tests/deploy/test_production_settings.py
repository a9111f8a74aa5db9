"""With SJUKFALL_ENV=production the settings refuse to load with dev secrets, without TLS to
Temporal, without mutual TLS to FK or without real endpoints, and the refusal names the
variable to set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from infra.settings import DEV_FK_SECRET, DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, Settings

STRONG = "x" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SJUKFALL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("cert", "key", "ca", "fk-cert", "fk-key", "fk-ca"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_bytes(f"-----{name}-----".encode())
    return files


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Path]) -> dict[str, str]:
    """A complete production environment; tests take one thing away at a time."""
    env = {
        "SJUKFALL_ENV": "production",
        "SJUKFALL_DATABASE_URL": "postgresql://sjukfall@db.internal:5432/sjukfall?sslmode=verify-full",
        "SJUKFALL_TEMPORAL_ADDRESS": "temporal.internal:7233",
        "SJUKFALL_JWKS_URL": "https://idp.example.org/jwks.json",
        "SJUKFALL_JWT_ISSUER": "https://idp.example.org",
        "SJUKFALL_JWT_AUDIENCE": "sjukfall-api",
        "SJUKFALL_WEBHOOK_SECRET": STRONG,
        "SJUKFALL_FK_URL": "https://fk-gateway.example.org",
        "SJUKFALL_FK_SECRET": STRONG,
        "SJUKFALL_PAYLOAD_KEYS": '{"k1": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="}',
        "SJUKFALL_PAYLOAD_KEY_ID": "k1",
        "SJUKFALL_TEMPORAL_TLS_CERT": str(tls_files["cert"]),
        "SJUKFALL_TEMPORAL_TLS_KEY": str(tls_files["key"]),
        "SJUKFALL_TEMPORAL_TLS_CA": str(tls_files["ca"]),
        "SJUKFALL_FK_TLS_CERT": str(tls_files["fk-cert"]),
        "SJUKFALL_FK_TLS_KEY": str(tls_files["fk-key"]),
        "SJUKFALL_FK_TLS_CA": str(tls_files["fk-ca"]),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def change_env(monkeypatch: pytest.MonkeyPatch, changes: dict[str, str | None]) -> None:
    """Set each variable, or unset it where the value is None."""
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def refusal(monkeypatch: pytest.MonkeyPatch, **changes: str | None) -> str:
    change_env(monkeypatch, changes)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return str(caught.value)


def test_dev_defaults_load_without_any_variable() -> None:
    settings = Settings()
    assert settings.env == "dev"
    assert settings.temporal_connect_options() == {}


def test_a_complete_production_environment_loads(production: dict[str, str]) -> None:
    settings = Settings()
    assert settings.env == "production"
    assert settings.resolved_log_format == "json"


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("SJUKFALL_DATABASE_URL", None, "SJUKFALL_DATABASE_URL"),
    ("SJUKFALL_TEMPORAL_ADDRESS", None, "SJUKFALL_TEMPORAL_ADDRESS"),
    ("SJUKFALL_WEBHOOK_SECRET", None, "SJUKFALL_WEBHOOK_SECRET is the dev secret"),
    ("SJUKFALL_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET, "SJUKFALL_WEBHOOK_SECRET is the dev secret"),
    ("SJUKFALL_WEBHOOK_SECRET", "short", "SJUKFALL_WEBHOOK_SECRET is shorter than 32"),
    ("SJUKFALL_FK_SECRET", None, "SJUKFALL_FK_SECRET is the dev secret"),
    ("SJUKFALL_FK_SECRET", DEV_FK_SECRET, "SJUKFALL_FK_SECRET is the dev secret"),
    ("SJUKFALL_FK_URL", None, "SJUKFALL_FK_URL is required in production"),
    ("SJUKFALL_JWKS_URL", None, "SJUKFALL_JWT_SECRET is the dev secret"),
])
def test_production_refuses_and_names_the_variable(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    variable: str, value: str | None, named: str,
) -> None:
    assert named in refusal(monkeypatch, **{variable: value})


def test_the_dev_jwt_secret_is_refused_without_a_jwks_url(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, SJUKFALL_JWKS_URL=None)
    assert "SJUKFALL_JWT_SECRET is the dev secret" in message and "SJUKFALL_JWKS_URL" in message
    message = refusal(monkeypatch, SJUKFALL_JWKS_URL=None, SJUKFALL_JWT_SECRET=DEV_JWT_SECRET)
    assert "SJUKFALL_JWT_SECRET is the dev secret" in message
    assert "SJUKFALL_JWT_SECRET is shorter" in refusal(monkeypatch, SJUKFALL_JWT_SECRET="abc")


def test_a_strong_jwt_secret_of_ones_own_is_enough_without_jwks(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SJUKFALL_JWKS_URL")
    monkeypatch.setenv("SJUKFALL_JWT_SECRET", STRONG)
    assert Settings().jwt_secret == STRONG


def test_production_refuses_plaintext_to_temporal(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, SJUKFALL_TEMPORAL_TLS_CERT=None, SJUKFALL_TEMPORAL_TLS_KEY=None,
                      SJUKFALL_TEMPORAL_TLS_CA=None)
    assert "TLS to Temporal is required" in message
    for variable in ("SJUKFALL_TEMPORAL_TLS_CERT", "SJUKFALL_TEMPORAL_TLS_KEY",
                     "SJUKFALL_TEMPORAL_API_KEY"):
        assert variable in message
    # a CA alone authenticates the server, not us
    assert "TLS to Temporal is required" in refusal(
        monkeypatch, SJUKFALL_TEMPORAL_TLS_CA=production["SJUKFALL_TEMPORAL_TLS_CA"])


def test_an_api_key_is_enough_and_turns_tls_on(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SJUKFALL_TEMPORAL_TLS_CERT", "SJUKFALL_TEMPORAL_TLS_KEY", "SJUKFALL_TEMPORAL_TLS_CA"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("SJUKFALL_TEMPORAL_API_KEY", "key-from-the-cloud")
    options = Settings().temporal_connect_options()
    assert options["api_key"] == "key-from-the-cloud"
    assert isinstance(options["tls"], TLSConfig) and options["tls"].client_cert is None


def test_mtls_files_are_read_for_the_client(production: dict[str, str]) -> None:
    options = Settings().temporal_connect_options()
    tls = options["tls"]
    assert tls.client_cert == b"-----cert-----"
    assert tls.client_private_key == b"-----key-----"
    assert tls.server_root_ca_cert == b"-----ca-----"
    assert "api_key" not in options


def test_insecure_temporal_must_be_said_out_loud(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SJUKFALL_TEMPORAL_TLS_CERT", "SJUKFALL_TEMPORAL_TLS_KEY", "SJUKFALL_TEMPORAL_TLS_CA"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("SJUKFALL_TEMPORAL_INSECURE", "true")
    assert Settings().temporal_connect_options() == {}


def test_a_certificate_without_its_key_or_a_missing_file_is_named(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    message = refusal(monkeypatch, SJUKFALL_TEMPORAL_TLS_KEY=None)
    assert "SJUKFALL_TEMPORAL_TLS_KEY must be set with SJUKFALL_TEMPORAL_TLS_CERT" in message
    missing = tmp_path / "nowhere.pem"
    message = refusal(monkeypatch, SJUKFALL_TEMPORAL_TLS_KEY=str(missing))
    assert f"SJUKFALL_TEMPORAL_TLS_KEY: no file at {missing}" in message


async def worker_refusal(monkeypatch: pytest.MonkeyPatch, **changes: str | None) -> str:
    """What `sjukfall worker` says when it refuses to start (before it connects anywhere)."""
    from infra.settings import get_settings
    from worker import main

    change_env(monkeypatch, changes)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as caught:
            await main()
    finally:
        get_settings.cache_clear()
    return str(caught.value)


async def test_the_worker_refuses_plaintext_to_fk_in_production(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = await worker_refusal(monkeypatch, SJUKFALL_FK_URL="http://fk-gateway.example.org")
    assert "SJUKFALL_FK_URL must be an https:// URL in production" in message
    monkeypatch.setenv("SJUKFALL_FK_URL", "HTTPS://fk-gateway.example.org")
    assert Settings().fk_client_problems() == []  # the scheme is case-insensitive


async def test_the_worker_requires_care_s_function_certificate_for_fk(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = await worker_refusal(monkeypatch, SJUKFALL_FK_TLS_CERT=None, SJUKFALL_FK_TLS_KEY=None)
    assert "mutual TLS to Försäkringskassan is required in production" in message
    for variable in ("SJUKFALL_FK_TLS_CERT", "SJUKFALL_FK_TLS_KEY", "SJUKFALL_FK_TLS_CA"):
        assert variable in message
    # a CA alone authenticates FK, not us
    assert "mutual TLS to Försäkringskassan is required" in await worker_refusal(monkeypatch)
    # the system roots are enough for FK's server certificate
    monkeypatch.delenv("SJUKFALL_FK_TLS_CA")
    monkeypatch.setenv("SJUKFALL_FK_TLS_CERT", production["SJUKFALL_FK_TLS_CERT"])
    monkeypatch.setenv("SJUKFALL_FK_TLS_KEY", production["SJUKFALL_FK_TLS_KEY"])
    assert Settings().fk_client_problems() == []


def test_only_the_worker_needs_fk_s_certificate(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API and the migrations never talk to FK's gateway: they load without its key."""
    for name in ("SJUKFALL_FK_TLS_CERT", "SJUKFALL_FK_TLS_KEY", "SJUKFALL_FK_TLS_CA"):
        monkeypatch.delenv(name)
    settings = Settings()
    assert settings.env == "production" and settings.fk_client_problems()


def test_fk_files_are_checked_like_temporal_s(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    message = refusal(monkeypatch, SJUKFALL_FK_TLS_KEY=None)
    assert "SJUKFALL_FK_TLS_KEY must be set with SJUKFALL_FK_TLS_CERT" in message
    message = refusal(monkeypatch, SJUKFALL_FK_TLS_KEY=production["SJUKFALL_FK_TLS_KEY"],
                      SJUKFALL_FK_TLS_CERT=None)
    assert "SJUKFALL_FK_TLS_CERT must be set with SJUKFALL_FK_TLS_KEY" in message
    missing = tmp_path / "nowhere.pem"
    message = refusal(monkeypatch, SJUKFALL_FK_TLS_CERT=production["SJUKFALL_FK_TLS_CERT"],
                      SJUKFALL_FK_TLS_CA=str(missing))
    assert f"SJUKFALL_FK_TLS_CA: no file at {missing}" in message
    # outside production too: a path that was set must point at a file
    message = refusal(monkeypatch, SJUKFALL_ENV="dev")
    assert f"SJUKFALL_FK_TLS_CA: no file at {missing}" in message


def test_plaintext_fk_must_be_said_out_loud(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SJUKFALL_FK_TLS_CERT", "SJUKFALL_FK_TLS_KEY", "SJUKFALL_FK_TLS_CA"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("SJUKFALL_FK_URL", "http://fk-simulator:8070")
    monkeypatch.setenv("SJUKFALL_FK_INSECURE", "true")
    assert Settings().fk_url == "http://fk-simulator:8070"


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, SJUKFALL_ENV="production")
    for variable in ("SJUKFALL_DATABASE_URL", "SJUKFALL_TEMPORAL_ADDRESS", "SJUKFALL_JWT_SECRET",
                     "SJUKFALL_WEBHOOK_SECRET", "SJUKFALL_TEMPORAL_TLS_CERT", "SJUKFALL_FK_URL",
                     "SJUKFALL_FK_SECRET"):
        assert variable in message


def test_a_refusal_does_not_print_the_secrets_it_was_given(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    leaked = "hunter2-but-far-too-short"
    message = refusal(monkeypatch, SJUKFALL_WEBHOOK_SECRET=leaked,
                      SJUKFALL_DATABASE_URL="postgresql://u:db-password-123@h/d",
                      SJUKFALL_JWKS_URL=None, SJUKFALL_JWT_SECRET="jwt-secret-abc")
    for secret in (leaked, "db-password-123", "jwt-secret-abc"):
        assert secret not in message
