"""Tokens as identity providers issue them (issue #15, finding 3): issuer and audience checked,
claim names configurable, a maximum age, and the key set fetched without blocking the loop and
cached. The IdP's key set is served by a real HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import ClaimNames, TokenVerifier
from infra.embedded import free_port
from infra.settings import Settings

ISSUER = "https://idp.region.example/realms/vard"
AUDIENCE = "sjukfall-api"


class Idp:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.gate: threading.Event | None = None  # when set, a fetch waits for it
        self.fetches = 0
        self.rotate("k1")

    def rotate(self, kid: str) -> Any:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def jwks(self) -> bytes:
        return json.dumps({"keys": [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": kid,
             "use": "sig", "alg": "RS256"} for kid, k in self.keys.items()]}).encode()

    def token(self, kid: str = "k1", ttl: int = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "hsa-123", "role": "physician", "units": ["vc-norr"], "iss": ISSUER,
                "aud": AUDIENCE, "iat": now, "exp": now + ttl, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@contextlib.contextmanager
def jwks_server(state: Idp) -> Iterator[str]:
    """The IdP's key set over real HTTP, at the URL yielded (a fetch waits while `state.gate`
    is held, and is counted)."""

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if state.gate is not None and not state.gate.wait(5):
                self.send_response(503)
                self.end_headers()
                return
            state.fetches += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(state.jwks())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks"
    finally:
        server.shutdown()


@pytest.fixture
def idp() -> Iterator[tuple[Idp, str]]:
    state = Idp()
    with jwks_server(state) as url:
        yield state, url


def verifier(url: str, **options: Any) -> TokenVerifier:
    return TokenVerifier("unused", url, **{"issuer": ISSUER, "audience": AUDIENCE, **options})


async def test_a_token_from_the_identity_provider_for_us_is_accepted(idp: tuple[Idp, str]) -> None:
    state, url = idp
    principal = await verifier(url).verify(state.token())
    assert (principal.sub, principal.role, principal.units) == ("hsa-123", "physician", ("vc-norr",))


@pytest.mark.parametrize(("claims", "why"), [
    ({"iss": "evil"}, "Invalid issuer"),
    ({"iss": None}, "iss"),
    ({"aud": "another-service"}, "(?i)audience"),
    ({"aud": None}, "aud"),
    ({"iat": None}, "iat"),
])
async def test_foreign_tokens_are_refused(idp: tuple[Idp, str], claims: dict[str, Any],
                                          why: str) -> None:
    state, url = idp
    with pytest.raises(jwt.PyJWTError, match=why):
        await verifier(url).verify(state.token(**claims))


async def test_a_token_may_not_live_longer_than_the_maximum_age(idp: tuple[Idp, str]) -> None:
    state, url = idp
    with pytest.raises(jwt.PyJWTError, match="lives longer"):
        await verifier(url).verify(state.token(ttl=100 * 365 * 86400))
    assert await verifier(url).verify(state.token(ttl=12 * 3600))  # the default maximum


async def test_claim_names_follow_the_identity_provider(idp: tuple[Idp, str]) -> None:
    state, url = idp
    names = ClaimNames(subject="hsa_id", role="sjukfall_roles", units="hsa_units")
    token = state.token(sub=None, role=None, units=None, hsa_id="SE2321000016-ABCD",
                        sjukfall_roles=["employee", "coordinator"], hsa_units=["vc-syd"])
    principal = await verifier(url, claims=names).verify(token)
    assert (principal.sub, principal.role, principal.units) == (
        "SE2321000016-ABCD", "coordinator", ("vc-syd",))


async def test_keys_are_fetched_without_blocking_cached_and_refreshed_on_rotation(
        idp: tuple[Idp, str]) -> None:
    state, url = idp
    check = verifier(url)
    state.gate = threading.Event()
    pending = asyncio.create_task(check.verify(state.token()))
    await asyncio.sleep(0)  # the fetch is under way: this loop still runs, and opens the gate
    state.gate.set()
    assert (await pending).sub == "hsa-123"
    for _ in range(5):
        await check.verify(state.token())
    assert state.fetches == 1  # cached

    state.rotate("k2")
    check.jwks.min_refetch_seconds = 0  # type: ignore[union-attr]
    assert (await check.verify(state.token(kid="k2"))).sub == "hsa-123"
    assert state.fetches == 2  # an unknown key id fetched the set again


def test_production_requires_issuer_and_audience() -> None:
    problems = Settings(jwks_url="https://idp.example/jwks").production_problems()
    assert any("SJUKFALL_JWT_ISSUER is required" in p for p in problems)
    assert any("SJUKFALL_JWT_AUDIENCE is required" in p for p in problems)
    problems = Settings(jwks_url="https://idp.example/jwks", jwt_issuer=ISSUER,
                        jwt_audience=AUDIENCE).production_problems()
    assert not any("JWT_ISSUER" in p or "JWT_AUDIENCE" in p for p in problems)
