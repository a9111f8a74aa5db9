"""Tokens and roles without a server: what api/auth.py accepts and refuses, and why.
(tests/api/test_roles.py checks the same rules through every route of the running API.)"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import CARE, PEOPLE, ROLES, Principal, TokenVerifier, current_principal, issue_token, require
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


def test_an_issued_token_carries_who_what_and_where_for_eight_hours() -> None:
    before = int(time.time())
    raw = issue_token(SECRET, "hsa-1", "coordinator", ["vc-norr", "vc-syd"])
    claims = jwt.decode(raw, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "hsa-1" and claims["role"] == "coordinator"
    assert claims["units"] == ["vc-norr", "vc-syd"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert TokenVerifier(SECRET).verify(raw) == Principal("hsa-1", "coordinator",
                                                          ("vc-norr", "vc-syd"))
    short = jwt.decode(issue_token(SECRET, "s", "ops", [], ttl_seconds=5), SECRET,
                       algorithms=["HS256"])
    assert short["exp"] - short["iat"] == 5


def test_a_valid_token_becomes_a_principal() -> None:
    principal = TokenVerifier(SECRET).verify(token(sub="42", units=None))
    assert principal == Principal(sub="42", role="physician", units=())


@pytest.mark.parametrize(("claims", "words"), [
    ({"exp": int(time.time()) - 10}, "expired"),
    ({"exp": None}, "exp"),
    ({"sub": None}, "sub"),
    ({"role": None}, "no known role"),
    ({"role": "admin"}, "no known role"),
    ({"units": "vc-norr"}, "units must be a list"),
    ({"units": ["vc-norr", 7]}, "units must be a list"),
])
def test_bad_tokens_are_refused_with_the_reason(claims: dict[str, Any], words: str) -> None:
    with pytest.raises(jwt.InvalidTokenError, match=words):
        TokenVerifier(SECRET).verify(token(**claims))


def test_another_secret_or_algorithm_is_refused() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier(SECRET + "x").verify(token())
    unsigned = jwt.encode({"sub": "x", "role": "ops", "exp": int(time.time()) + 60}, None,
                          algorithm="none")
    with pytest.raises(jwt.InvalidTokenError):
        TokenVerifier(SECRET).verify(unsigned)


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

    class app:  # noqa: N801
        class state:  # noqa: N801
            verifier = TokenVerifier(SECRET)


async def test_no_token_or_a_bad_one_is_401_asking_for_a_bearer_token() -> None:
    with pytest.raises(HTTPException) as caught:
        await current_principal(FakeRequest(), None)  # type: ignore[arg-type]
    assert caught.value.status_code == 401
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    assert "bearer token is required" in caught.value.detail
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
        assert caught.value.errors == [{
            "field": "role", "rule": "role_not_allowed",
            "message": f"role {role} may not do this; allowed: physician, coordinator"}]
