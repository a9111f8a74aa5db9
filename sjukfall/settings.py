"""All configuration in one place, read from `SJUKFALL_*` environment variables.

An unset Temporal address or database URL means "start the embedded one" (`sjukfall run`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SJUKFALL_", extra="ignore")

    env: Literal["dev", "production"] = "dev"

    # Temporal: unset address = embedded dev server on temporal_port (UI on temporal_ui_port).
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "sjukfall-cases"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233

    # PostgreSQL: unset URL = embedded server on postgres_port, data under data_dir.
    database_url: str | None = None
    postgres_port: int = 5433

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    fk_simulator_port: int = 8070

    data_dir: Path = Path(".data")
    log_format: Literal["json", "console"] | None = None  # default: console in dev, json in production
    log_level: str = "info"

    # Authentication (HS256 in dev; RS256 via a JWKS URL in production).
    jwt_secret: str = DEV_JWT_SECRET
    jwks_url: str | None = None

    # Outbound notifications: one webhook endpoint per recipient, signed with HMAC-SHA256.
    webhook_urls: dict[str, str] = Field(default_factory=dict)
    webhook_secret: str = "dev-webhook-secret"

    # Domain tuning (DOMAIN.md: Rehabstöd's default gap of 5 days, configurable 0-90).
    merge_gap_days: int = Field(default=5, ge=0, le=90)

    # Worker tuning.
    max_cached_workflows: int = 1000
    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100

    @property
    def resolved_log_format(self) -> str:
        return self.log_format or ("json" if self.env == "production" else "console")


@lru_cache
def get_settings() -> Settings:
    return Settings()
