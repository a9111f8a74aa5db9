"""All configuration in one place, read from `SJUKFALL_*` environment variables.

An unset Temporal address or database URL means "start the embedded one" (`sjukfall run`).

With `SJUKFALL_ENV=production` the settings refuse to load (a `ValidationError` whose message
names the variable to set) unless the process can run safely outside a laptop: a real database
and Temporal frontend, no dev secrets, and TLS (mTLS or an API key) to Temporal. The worker
also needs mTLS to Försäkringskassan's gateway (`fk_client_problems`, checked when it starts).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production"
DEV_WEBHOOK_SECRET = "dev-webhook-secret"
DEV_FK_SECRET = "dev-fk-secret"
DEV_RIVTA_ADDRESS = "SE0000000000-SJUKFALL"
# The dev payload key: fixed, so a dev server's histories stay readable across restarts.
DEV_PAYLOAD_KEY_ID = "dev"
DEV_PAYLOAD_KEYS = {DEV_PAYLOAD_KEY_ID: "ZGV2LW9ubHktcGF5bG9hZC1rZXktMzItYnl0ZXMhISE="}
MIN_SECRET_LENGTH = 32  # production secrets: at least 256 bits of printable randomness


def database_sslmode(url: str) -> str | None:
    """The sslmode a PostgreSQL URL asks for (None: libpq's default, `prefer`)."""
    from urllib.parse import parse_qs

    values = parse_qs(urlsplit(url).query).get("sslmode")
    return values[-1] if values else None


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return f"SJUKFALL_{field.upper()}"


class Settings(BaseSettings):
    # hide_input_in_errors: a refusal must not print the secrets it was given.
    model_config = SettingsConfigDict(env_prefix="SJUKFALL_", extra="ignore",
                                      hide_input_in_errors=True)

    env: Literal["dev", "production"] = "dev"

    # Temporal: unset address = embedded dev server on temporal_port (UI on temporal_ui_port).
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "sjukfall-cases"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    # TLS to a real Temporal frontend: mTLS (cert + key, CA optional: system roots otherwise)
    # or an API key (TLS with the CA or system roots). Paths point at mounted files.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: str | None = None
    # Production only: plaintext to Temporal, acknowledged (a service mesh encrypts it, or the
    # local compose stack). Without it production refuses to start without TLS settings.
    temporal_insecure: bool = False

    # PostgreSQL: unset URL = embedded server on postgres_port, data under data_dir.
    database_url: str | None = None
    # Production only: a database URL without sslmode=verify-full, acknowledged (the compose
    # stack's database on its private network, or a service mesh).
    database_insecure: bool = False
    # `sjukfall db migrate --app-login ROLE`: the password that login role gets (the API and
    # workers connect as it, a member of sjukfall_app; migrations alone run as the owner).
    app_db_password: str | None = None
    postgres_port: int = 5433

    # /docs, /redoc and /openapi.json: on in dev; in production only when set to true.
    api_docs: bool | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Request bodies over this size are refused (413) before they are read, parsed or
    # authenticated. The largest real command (a plan at every text's limit) is far below it.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    fk_simulator_port: int = 8070
    inbox_port: int = 8071  # `sjukfall run`'s development inbox when no webhook URLs are set

    # Försäkringskassan's integration gateway (fk/port.py). Unset URL = the FK simulator that
    # `sjukfall run` starts on fk_simulator_port. The secret signs both directions.
    fk_url: str | None = None
    fk_secret: str = DEV_FK_SECRET
    fk_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Mutual TLS to FK's gateway: the care provider's function certificate (SITHS) and its key,
    # and the CA of the gateway's server certificate (system roots when unset).
    fk_tls_cert: Path | None = None
    fk_tls_key: Path | None = None
    fk_tls_ca: Path | None = None
    # Production only: FK without https and a client certificate, acknowledged (the compose
    # stack's FK simulator). Without it production refuses to start without FK's mTLS settings.
    fk_insecure: bool = False
    # How care talks to FK: `json` (signed JSON to an integration gateway, fk/port.py) or
    # `rivta` (the national contracts over SOAP through Inera's platform, fk/rivta/). The worker,
    # the API's SOAP endpoint, the simulator and `sjukfall run`'s banner all follow it.
    fk_transport: Literal["json", "rivta"] = "json"
    # RIV-TA: our logical address (the care provider's HSA-id; also the vårdgivare-id we send),
    # its name, FK's logical address (its organisation number), and the subject DN of the
    # platform's client certificate as the TLS-terminating proxy forwards it (checked if set).
    rivta_logical_address: str = DEV_RIVTA_ADDRESS
    rivta_care_provider_name: str = "Sjukfall (utveckling)"
    rivta_fk_logical_address: str = "2021005521"
    rivta_platform_dn: str | None = None

    data_dir: Path = Path(".data")
    log_format: Literal["json", "console"] | None = None  # default: console in dev, json in production
    log_level: str = "info"

    # Authentication (HS256 in dev; RS256 via a JWKS URL in production).
    jwt_secret: str = DEV_JWT_SECRET
    jwks_url: str | None = None
    jwks_refresh_seconds: float = Field(default=3600, ge=60, le=86400)
    # The identity provider's issuer and our audience: both required in production.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Claim names: a region's IdP rarely says `role` or `units`.
    jwt_subject_claim: str = "sub"
    jwt_role_claim: str = "role"
    jwt_units_claim: str = "units"
    # No token may live longer than this (exp - iat), nor be used after it (now - iat).
    jwt_max_age_seconds: int = Field(default=12 * 3600, ge=60, le=7 * 86400)

    # Outbound notifications: one webhook endpoint per recipient, signed with HMAC-SHA256.
    webhook_urls: dict[str, str] = Field(default_factory=dict)
    webhook_secret: str = DEV_WEBHOOK_SECRET
    # One secret per recipient (Standard Webhooks, infra/webhooks.py): JSON
    # {recipient: [secret, ...]}, the new secret first during a rotation (all of them sign).
    # A recipient without its own falls back to webhook_secret: dev only.
    webhook_secrets: dict[str, list[str]] = Field(default_factory=dict)

    # Temporal payload encryption (infra/payload_codec.py): AES-256-GCM keys as JSON
    # {key_id: base64 of 32 bytes}; new payloads use payload_key_id, old keys still decrypt.
    payload_keys: dict[str, str] = Field(default_factory=lambda: dict(DEV_PAYLOAD_KEYS))
    payload_key_id: str = DEV_PAYLOAD_KEY_ID
    # Only while histories written before encryption still run: lets plain payloads through.
    payload_accept_plaintext: bool = False
    # Origins allowed to call the codec server (the Temporal UI), e.g. http://localhost:8233.
    codec_cors_origins: list[str] = Field(default_factory=list)

    # Domain tuning (DOMAIN.md: Rehabstöd's default gap of 5 days, configurable 0-90).
    merge_gap_days: int = Field(default=5, ge=0, le=90)

    # Worker tuning.
    max_cached_workflows: int = 1000
    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100

    # Observability (infra/metrics.py, infra/tracing.py, docs/operations.md).
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)  # 0 = no metrics endpoint
    temporal_metrics_port: int = Field(default=0, ge=0, le=65535)  # SDK metrics; 0 = off
    otlp_endpoint: str | None = None  # e.g. http://otel-collector:4318; unset = no tracing
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)

    # Retention (gallring, store/retention.py): closed cases leave the record this many years
    # after their last entry; at least 10 (patientdatalagen 3 kap. 17 §), the region decides more.
    retention_years: int = Field(default=10, ge=10, le=200)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        problems = self.tls_file_problems()
        if self.env == "production":
            problems += self.production_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def tls_file_problems(self) -> list[str]:
        problems = self.payload_key_problems()
        for peer in ("temporal", "fk"):
            cert, key, ca = f"{peer}_tls_cert", f"{peer}_tls_key", f"{peer}_tls_ca"
            for name in (cert, key, ca):
                path = getattr(self, name)
                if path is not None and not path.is_file():
                    problems.append(f"{env_name(name)}: no file at {path}")
            if getattr(self, cert) is not None and getattr(self, key) is None:
                problems.append(f"{env_name(key)} must be set with {env_name(cert)}")
            if getattr(self, key) is not None and getattr(self, cert) is None:
                problems.append(f"{env_name(cert)} must be set with {env_name(key)}")
        return problems

    def payload_key_problems(self) -> list[str]:
        from infra.payload_codec import PayloadKeyError, parse_keys

        try:
            keys = parse_keys(self.payload_keys)
        except PayloadKeyError as err:
            return [f"SJUKFALL_PAYLOAD_KEYS: {err}"]
        if self.payload_key_id not in keys:
            return [f"SJUKFALL_PAYLOAD_KEY_ID {self.payload_key_id!r} is not a key id in "
                    "SJUKFALL_PAYLOAD_KEYS"]
        return []

    def production_problems(self) -> list[str]:
        """What keeps these settings from running in production (empty: nothing)."""
        problems = []
        dev_key = DEV_PAYLOAD_KEYS[DEV_PAYLOAD_KEY_ID]
        if DEV_PAYLOAD_KEY_ID in self.payload_keys or dev_key in self.payload_keys.values():
            problems.append("SJUKFALL_PAYLOAD_KEYS holds the dev key: set your own keys "
                            "(`sjukfall keys new`) so Temporal holds no readable patient data")
        if not self.database_url:
            problems.append("SJUKFALL_DATABASE_URL is required in production "
                            "(the embedded PostgreSQL is for development only)")
        if not self.temporal_address:
            problems.append("SJUKFALL_TEMPORAL_ADDRESS is required in production "
                            "(the embedded Temporal dev server is for development only)")
        for name in ("jwt_issuer", "jwt_audience"):  # with an identity provider's keys
            if self.jwks_url and not getattr(self, name):
                problems.append(f"{env_name(name)} is required in production: tokens are "
                                "accepted only from your identity provider, for this service")
        if not self.jwks_url:
            if self.jwt_secret == DEV_JWT_SECRET:
                problems.append("SJUKFALL_JWT_SECRET is the dev secret: set SJUKFALL_JWKS_URL "
                                "(RS256 tokens from your identity provider) in production")
            elif len(self.jwt_secret) < MIN_SECRET_LENGTH:
                problems.append(f"SJUKFALL_JWT_SECRET is shorter than {MIN_SECRET_LENGTH} characters")
        if self.webhook_secret == DEV_WEBHOOK_SECRET:
            problems.append("SJUKFALL_WEBHOOK_SECRET is the dev secret: set a random secret "
                            "shared with the webhook receivers")
        elif len(self.webhook_secret) < MIN_SECRET_LENGTH:
            problems.append(f"SJUKFALL_WEBHOOK_SECRET is shorter than {MIN_SECRET_LENGTH} characters")
        problems += self.webhook_problems()
        if not self.fk_url:
            problems.append("SJUKFALL_FK_URL is required in production "
                            "(the FK simulator is for development only)")
        if self.fk_transport == "rivta":
            if self.rivta_logical_address == DEV_RIVTA_ADDRESS:
                problems.append("SJUKFALL_RIVTA_LOGICAL_ADDRESS is the dev address: set the care "
                                "provider's HSA-id registered on the national platform")
            if not self.rivta_platform_dn:
                problems.append("SJUKFALL_RIVTA_PLATFORM_DN is required with the RIV-TA transport "
                                "in production: only the national platform may post to care")
        elif self.fk_secret == DEV_FK_SECRET:
            problems.append("SJUKFALL_FK_SECRET is the dev secret: set the secret shared with "
                            "Försäkringskassan's integration gateway")
        elif len(self.fk_secret) < MIN_SECRET_LENGTH:
            problems.append(f"SJUKFALL_FK_SECRET is shorter than {MIN_SECRET_LENGTH} characters")
        if self.database_url and not self.database_insecure and \
                database_sslmode(self.database_url) != "verify-full":
            problems.append("SJUKFALL_DATABASE_URL must require TLS with the server's identity "
                            "checked in production: add ?sslmode=verify-full (and sslrootcert= "
                            "for a private CA); SJUKFALL_DATABASE_INSECURE=true only where a "
                            "service mesh encrypts the traffic")
        has_tls = self.temporal_api_key or (self.temporal_tls_cert and self.temporal_tls_key)
        if not has_tls and not self.temporal_insecure:
            problems.append("TLS to Temporal is required in production: set SJUKFALL_TEMPORAL_TLS_CERT "
                            "and SJUKFALL_TEMPORAL_TLS_KEY (mTLS, with SJUKFALL_TEMPORAL_TLS_CA for a "
                            "private CA) or SJUKFALL_TEMPORAL_API_KEY; SJUKFALL_TEMPORAL_INSECURE=true "
                            "only where a service mesh encrypts the traffic")
        return problems

    def webhook_problems(self) -> list[str]:
        """Production: https only, and each recipient signed with secrets of its own."""
        problems = []
        owners: dict[str, str] = {}
        for recipient, url in sorted(self.webhook_urls.items()):
            if urlsplit(url).scheme != "https":
                problems.append(f"SJUKFALL_WEBHOOK_URLS: {recipient}'s URL must be https:// in "
                                "production")
            secrets = self.webhook_secrets.get(recipient) or []
            if not secrets:
                problems.append(f"SJUKFALL_WEBHOOK_SECRETS has no secret for {recipient}: each "
                                "recipient has its own, so none can sign as another")
            for secret in secrets:
                if len(secret) < MIN_SECRET_LENGTH:
                    problems.append(f"SJUKFALL_WEBHOOK_SECRETS: {recipient}'s secret is shorter "
                                    f"than {MIN_SECRET_LENGTH} characters")
                if owners.setdefault(secret, recipient) != recipient:
                    problems.append(f"SJUKFALL_WEBHOOK_SECRETS: {recipient} shares a secret with "
                                    f"{owners[secret]}")
        return problems

    @property
    def secrets_by_recipient(self) -> dict[str, list[str]]:
        """Each recipient's signing secrets (dev: the shared webhook_secret where none is set)."""
        from collections import defaultdict

        fallback = [self.webhook_secret]
        out: dict[str, list[str]] = defaultdict(lambda: fallback)
        out.update({r: list(s) for r, s in self.webhook_secrets.items() if s})
        return out

    def fk_client_problems(self) -> list[str]:
        """What keeps a process that sends to FK (the worker) from doing so in production.

        Only the worker holds the care provider's function certificate: the API and the
        migrations never talk to FK's gateway, so they need not (and should not) have its key.
        """
        if self.env != "production" or self.fk_insecure:
            return []
        problems = []
        if self.fk_url and urlsplit(self.fk_url).scheme != "https":
            problems.append("SJUKFALL_FK_URL must be an https:// URL in production "
                            "(mutual TLS to Försäkringskassan's gateway)")
        if not (self.fk_tls_cert and self.fk_tls_key):
            problems.append("mutual TLS to Försäkringskassan is required in production: set "
                            "SJUKFALL_FK_TLS_CERT and SJUKFALL_FK_TLS_KEY (the care provider's "
                            "function certificate), with SJUKFALL_FK_TLS_CA for the CA of FK's "
                            "gateway; SJUKFALL_FK_INSECURE=true only for a test stack's FK "
                            "simulator")
        return problems

    def temporal_connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `Client.connect`: `tls` and `api_key` from the settings."""
        from temporalio.service import TLSConfig

        options: dict[str, Any] = {}
        if self.temporal_tls_cert or self.temporal_tls_ca or self.temporal_api_key:
            options["tls"] = TLSConfig(
                server_root_ca_cert=self.temporal_tls_ca.read_bytes() if self.temporal_tls_ca else None,
                client_cert=self.temporal_tls_cert.read_bytes() if self.temporal_tls_cert else None,
                client_private_key=self.temporal_tls_key.read_bytes() if self.temporal_tls_key else None,
                domain=self.temporal_tls_server_name,
            )
        if self.temporal_api_key:
            options["api_key"] = self.temporal_api_key
        return options

    @property
    def resolved_fk_url(self) -> str:
        return self.fk_url or f"http://127.0.0.1:{self.fk_simulator_port}"

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.env != "production"

    @property
    def resolved_codec_cors_origins(self) -> list[str]:
        """Origins the codec server answers browsers from: the embedded UI's in dev."""
        if self.codec_cors_origins or self.env == "production":
            return list(self.codec_cors_origins)
        return [f"http://{host}:{self.temporal_ui_port}" for host in ("127.0.0.1", "localhost")]

    @property
    def resolved_log_format(self) -> str:
        return self.log_format or ("json" if self.env == "production" else "console")


@lru_cache
def get_settings() -> Settings:
    return Settings()
