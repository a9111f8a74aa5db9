"""SJUKFALL_FK_TRANSPORT=rivta in production: the platform's identity and ours must be set;
the JSON gateway's shared secret is then not needed."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from tests.deploy.test_production_settings import (  # noqa: F401 (fixtures)
    clean_environment,
    production,
    refusal,
    tls_files,
)


def test_rivta_in_production_needs_our_logical_address_and_the_platforms_certificate(
    production: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(monkeypatch, SJUKFALL_FK_TRANSPORT="rivta", SJUKFALL_FK_SECRET=None)
    assert "SJUKFALL_RIVTA_LOGICAL_ADDRESS is the dev address" in message
    assert "SJUKFALL_RIVTA_PLATFORM_DN is required" in message
    assert "SJUKFALL_FK_SECRET" not in message  # RIV-TA authenticates by certificate, not HMAC


def test_rivta_in_production_loads_with_both(
    production: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SJUKFALL_FK_TRANSPORT", "rivta")
    monkeypatch.delenv("SJUKFALL_FK_SECRET")
    monkeypatch.setenv("SJUKFALL_RIVTA_LOGICAL_ADDRESS", "SE2321000016-ABCD")
    monkeypatch.setenv("SJUKFALL_RIVTA_PLATFORM_DN", "CN=ntjp.example,O=Inera AB,C=SE")
    settings = Settings()
    assert (settings.fk_transport, settings.rivta_logical_address) == (
        "rivta",
        "SE2321000016-ABCD",
    )
