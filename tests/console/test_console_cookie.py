"""The console's session cookie in production: Secure (sent over TLS only), HttpOnly (no script
reads the token) and SameSite=Strict (no cross-site request carries it). The app is built
from a complete production environment (as tests/deploy/test_production_settings.py makes
one), its sign-in takes the identity provider's token (keys served by a real HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from infra.settings import Settings
from store.eventstore import EventStore
from tests.api.test_tokens import AUDIENCE, ISSUER, Idp, jwks_server
from tests.deploy.test_production_settings import clean_environment, production, tls_files

__all__ = ["clean_environment", "production", "tls_files"]  # fixtures used here


@pytest.fixture
def idp() -> Iterator[tuple[Idp, str]]:
    state = Idp()
    with jwks_server(state) as url:
        yield state, url


def cookie_attributes(response: httpx.Response, name: str) -> set[str]:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return {part.strip().lower() for part in header.split(";")[1:]}


async def test_the_production_session_cookie_is_secure_httponly_and_samesite_strict(
    production: dict[str, str], monkeypatch: pytest.MonkeyPatch, idp: tuple[Idp, str],
    database_url: str, tmp_path: Path,
) -> None:
    state, jwks_url = idp
    for name, value in {"SJUKFALL_JWKS_URL": jwks_url, "SJUKFALL_JWT_ISSUER": ISSUER,
                        "SJUKFALL_JWT_AUDIENCE": AUDIENCE}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env == "production"
    async with await EventStore.connect(database_url) as store:
        app = create_app(settings, client=None, store=store)  # type: ignore[arg-type]  # no command
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as web:
            token = state.token(role="coordinator", units=["vc-norr"], sub="hsa-karin")
            signed = await web.get("/console/sign-in",
                                   headers={"Authorization": f"Bearer {token}"})
    assert signed.status_code == 303
    for cookie in ("sjukfall_console", "sjukfall_console_purpose"):
        attributes = cookie_attributes(signed, cookie)
        assert {"secure", "httponly", "samesite=strict", "path=/console"} <= attributes, cookie
