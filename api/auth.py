"""Bearer-token authentication and the role matrix.

Dev: HS256 tokens signed with SJUKFALL_JWT_SECRET (`sjukfall token --role ...` prints one).
Production: RS256 tokens verified against the keys at SJUKFALL_JWKS_URL.
Claims: `sub` (user id), `role` (physician | coordinator | ops | fk_gateway), `units` (care
units the user works for; they scope what the user sees), optional `name`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import Problem

Role = Literal["physician", "coordinator", "ops", "fk_gateway"]
ROLES: tuple[Role, ...] = ("physician", "coordinator", "ops", "fk_gateway")
PEOPLE: tuple[Role, ...] = ("physician", "coordinator", "ops")  # reads by them are PDL-logged
CARE: tuple[Role, ...] = ("physician", "coordinator")  # may change a case

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    units: tuple[str, ...]

    def sees_unit(self, unit_id: str | None) -> bool:
        """Ops and the FK gateway see all units; care staff only their own."""
        return self.role in ("ops", "fk_gateway") or (unit_id is not None and unit_id in self.units)


def issue_token(secret: str, sub: str, role: Role, units: list[str], ttl_seconds: int = 8 * 3600) -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": role, "units": units, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


class TokenVerifier:
    def __init__(self, secret: str, jwks_url: str | None = None) -> None:
        self.secret = secret
        self.jwks = jwt.PyJWKClient(jwks_url) if jwks_url else None

    def verify(self, token: str) -> Principal:
        if self.jwks is not None:
            key = self.jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256"], options={"require": ["exp", "sub"]})
        else:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub"]})
        role = claims.get("role")
        if role not in ROLES:
            raise jwt.InvalidTokenError("the token carries no known role")
        units = claims.get("units") or []
        if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
            raise jwt.InvalidTokenError("units must be a list of unit ids")
        return Principal(sub=str(claims["sub"]), role=role, units=tuple(units))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return verifier.verify(credentials.credentials)
    except jwt.PyJWTError as err:
        raise _unauthorized(f"the bearer token is not valid: {err}") from None


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """Dependency: the caller must hold one of `roles`."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            message = f"role {principal.role} may not do this; allowed: {', '.join(roles)}"
            raise Problem(403, message, [{"field": "role", "rule": "role_not_allowed",
                                          "message": message}])
        return principal

    return check
