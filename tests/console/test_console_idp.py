"""Signing in to the console where tokens come from the region's identity provider (a JWKS is
configured): no dev sign-in, and the token the OIDC reverse proxy passes becomes the session
only if the API's verifier accepts it. The IdP's key set is served by a real HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.auth import issue_token
from tests.api.conftest import JWT_SECRET, Api, serve_api
from tests.api.test_tokens import AUDIENCE, ISSUER, Idp, jwks_server


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[Idp, str]]:
    state = Idp()
    with jwks_server(state) as url:
        yield state, url


@pytest.fixture(scope="module")
async def api(time_skipping_env: WorkflowEnvironment, database_url: str,
              idp: tuple[Idp, str]) -> AsyncIterator[Api]:
    async with serve_api(time_skipping_env, database_url, jwks_url=idp[1], jwt_issuer=ISSUER,
                         jwt_audience=AUDIENCE) as running:
        yield running


async def test_the_proxys_token_becomes_the_session_and_there_is_no_dev_sign_in(
        api: Api, idp: tuple[Idp, str]) -> None:
    state, _ = idp
    async with httpx.AsyncClient(base_url=api.url) as browser:
        page = await browser.get("/console/sign-in")
        assert page.status_code == 200 and "regionens inloggningstjänst" in page.text
        assert 'name="sub"' not in page.text  # no dev form
        refused = await browser.post("/console/sign-in", data={"sub": "x", "role": "ops"})
        assert refused.status_code == 404 and "sjukfall_console" not in browser.cookies

        # a dev token in the cookie is no session here
        dev = issue_token(JWT_SECRET, "mallory", "ops", [])
        assert (await browser.get("/console/cases", cookies={"sjukfall_console": dev})
                ).status_code == 303

        foreign = state.token(role="coordinator", iss="https://evil.example")
        bad = await browser.get("/console/sign-in",
                                headers={"Authorization": f"Bearer {foreign}"})
        assert bad.status_code == 401 and "sjukfall_console" not in browser.cookies

        token = state.token(role="coordinator", units=["vc-norr"], sub="hsa-karin")
        signed = await browser.get("/console/sign-in",
                                   headers={"Authorization": f"Bearer {token}"})
        assert signed.status_code == 303 and browser.cookies["sjukfall_console"] == token
        listed = await browser.get("/console/cases")
        assert listed.status_code == 200 and "hsa-karin" in listed.text
