"""Tokens and roles without a server: what api/auth.py accepts and refuses, and why.
(tests/api/test_roles.py checks the same rules through every route of the running API.)"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import (
    CARE,
    PEOPLE,
    ROLES,
    Principal,
    TokenVerifier,
    current_principal,
    issue_token,
    require,
)
from api.problems import Problem

SECRET = "auth-test-secret-at-least-32-bytes-long"


def token(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "dr-anna", "role": "physician", "units": ["vc-norr"], "iat": now,
            "exp": now + 60}
    return jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, SECRET,
                      algorithm="HS256")


def test_the_role_groups() -> None:
    assert ROLES == ("physician", "coordinator", "ops", "fk_gateway")
    assert PEOPLE == ("physician", "coordinator", "ops")
    assert CARE == ("physician", "coordinator")


async def test_an_issued_token_carries_who_what_and_where_for_eight_hours() -> None:
    before = int(time.time())
    raw = issue_token(SECRET, "hsa-1", "coordinator", ["vc-norr", "vc-syd"])
    claims = jwt.decode(raw, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "hsa-1" and claims["role"] == "coordinator"
    assert claims["units"] == ["vc-norr", "vc-syd"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert jwt.get_unverified_header(raw)["alg"] == "HS256"
    assert await TokenVerifier(SECRET).verify(raw) == Principal("hsa-1", "coordinator",
                                                          ("vc-norr", "vc-syd"))
    short = jwt.decode(issue_token(SECRET, "s", "ops", [], ttl_seconds=5), SECRET,
                       algorithms=["HS256"])
    assert short["exp"] - short["iat"] == 5


async def test_a_valid_token_becomes_a_principal() -> None:
    principal = await TokenVerifier(SECRET).verify(token(sub="42", units=None))
    assert principal == Principal(sub="42", role="physician", units=())


@pytest.mark.parametrize(("claims", "words"), [
    ({"exp": int(time.time()) - 60}, "expired"),  # beyond the 30 s clock-skew leeway
    ({"exp": None}, "exp"),
    ({"sub": None}, "sub"),
    ({"role": None}, "the token carries no known role"),
    ({"role": "admin"}, "the token carries no known role"),
    ({"units": "vc-norr"}, "units must be a list of unit ids"),
    ({"units": ["vc-norr", 7]}, "units must be a list of unit ids"),
])
async def test_bad_tokens_are_refused_with_the_reason(claims: dict[str, Any], words: str) -> None:
    with pytest.raises(jwt.InvalidTokenError) as caught:
        await TokenVerifier(SECRET).verify(token(**claims))
    own = words.startswith(("the token", "units"))  # our messages, word for word
    assert str(caught.value) == words if own else words in str(caught.value)


async def test_another_secret_or_algorithm_is_refused() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        await TokenVerifier(SECRET + "x").verify(token())
    unsigned = jwt.encode({"sub": "x", "role": "ops", "exp": int(time.time()) + 60}, None,
                          algorithm="none")
    with pytest.raises(jwt.InvalidTokenError):
        await TokenVerifier(SECRET).verify(unsigned)


@pytest.mark.parametrize(("role", "units", "unit", "sees"), [
    ("physician", ("vc-norr",), "vc-norr", True),
    ("physician", ("vc-norr",), "vc-syd", False),
    ("coordinator", ("vc-norr", "vc-syd"), "vc-syd", True),
    ("coordinator", (), "vc-syd", False),
    ("physician", ("vc-norr",), None, False),
    ("ops", (), "vc-syd", True),
    ("fk_gateway", (), "vc-syd", True),
    ("ops", (), None, True),
])
def test_who_sees_which_unit(role: Any, units: tuple[str, ...], unit: str | None,
                             sees: bool) -> None:
    assert Principal("u", role, units).sees_unit(unit) is sees


class FakeRequest:
    """Only what current_principal reads: the app's verifier."""

    class app:
        class state:
            verifier = TokenVerifier(SECRET)


async def test_no_token_or_a_bad_one_is_401_asking_for_a_bearer_token() -> None:
    with pytest.raises(HTTPException) as caught:
        await current_principal(FakeRequest(), None)  # type: ignore[arg-type]
    assert caught.value.status_code == 401
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    assert caught.value.detail == "a bearer token is required"
    bad = HTTPAuthorizationCredentials(scheme="Bearer", credentials="nonsense")
    with pytest.raises(HTTPException) as caught:
        await current_principal(FakeRequest(), bad)  # type: ignore[arg-type]
    assert caught.value.status_code == 401 and "not valid" in caught.value.detail
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    good = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token())
    assert (await current_principal(FakeRequest(), good)).sub == "dr-anna"  # type: ignore[arg-type]


async def test_require_lets_the_named_roles_through_and_refuses_the_rest() -> None:
    check = require("physician", "coordinator")
    physician = Principal("u", "physician", ("vc-norr",))
    assert await check(physician) is physician
    for role in ("ops", "fk_gateway"):
        with pytest.raises(Problem) as caught:
            await check(Principal("u", role, ()))  # type: ignore[arg-type]
        assert caught.value.status == 403
        message = f"role {role} may not do this; allowed: physician, coordinator"
        assert caught.value.detail == message
        assert caught.value.errors == [{
            "field": "role", "rule": "role_not_allowed",
            "message": f"role {role} may not do this; allowed: physician, coordinator"}]


async def test_rs256_tokens_are_checked_against_the_identity_providers_keys(tmp_path: Any) -> None:
    """Production: tokens signed by the identity provider, verified with its published keys."""
    import http.server
    import threading

    from infra.embedded import free_port

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        verifier = TokenVerifier("unused", f"http://127.0.0.1:{server.server_port}/jwks")
        claims = {"sub": "hsa-123", "role": "physician", "units": ["vc-norr"],
                  "iat": int(time.time()), "exp": int(time.time()) + 60}
        good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        assert (await verifier.verify(good)).units == ("vc-norr",)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})
        with pytest.raises(jwt.InvalidSignatureError):
            await verifier.verify(forged)
        hs = jwt.encode(claims, "x" * 32, algorithm="HS256")
        with pytest.raises(jwt.PyJWTError):  # no falling back to a shared secret
            await verifier.verify(hs)
        for missing in ("sub", "exp", "iat"):  # the same claims are required as for dev tokens
            partial = {k: v for k, v in claims.items() if k != missing}
            with pytest.raises(jwt.MissingRequiredClaimError, match=missing):
                await verifier.verify(jwt.encode(partial, key, algorithm="RS256", headers={"kid": "k1"}))
        no_role = jwt.encode({**claims, "role": "admin"}, key, algorithm="RS256",
                             headers={"kid": "k1"})
        with pytest.raises(jwt.InvalidTokenError, match="no known role"):
            await verifier.verify(no_role)
    finally:
        server.shutdown()
