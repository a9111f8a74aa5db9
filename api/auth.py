"""Bearer-token authentication and the role matrix.

Dev: HS256 tokens signed with SJUKFALL_JWT_SECRET (`sjukfall token --role ...` prints one).
Production: RS256/ES256 tokens from the region's identity provider, verified against its keys at
SJUKFALL_JWKS_URL, with its issuer (SJUKFALL_JWT_ISSUER) and our audience (SJUKFALL_JWT_AUDIENCE)
required. Claims: the subject (`sub`), the role (physician | coordinator | ops | fk_gateway; a
string, or a list holding one of them) and the units the user works for (they scope what the user
sees); their names are configurable (SJUKFALL_JWT_*_CLAIM). `iat` is required and no token may
live longer than SJUKFALL_JWT_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import refusal

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


def issue_token(secret: str, sub: str, role: Role, units: list[str], ttl_seconds: int = 8 * 3600,
                **extra: Any) -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": role, "units": units, "iat": now, "exp": now + ttl_seconds,
              **extra}
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class ClaimNames:
    """Where the identity provider puts who, what role and which units (a region's IdP rarely
    says `role`: e.g. SJUKFALL_JWT_ROLE_CLAIM=sjukfall_roles, SJUKFALL_JWT_UNITS_CLAIM=hsa_units)."""

    subject: str = "sub"
    role: str = "role"
    units: str = "units"


class KeySet:
    """The identity provider's JWKS, fetched with an async client (the event loop never waits
    on the network) and cached: refreshed after `refresh_seconds`, or at once when a token names
    a key id we do not hold (a key rotation), at most once per `min_refetch_seconds`."""

    def __init__(self, url: str, refresh_seconds: float = 3600, min_refetch_seconds: float = 30) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None) -> Any:
        now = time.monotonic()
        stale = now - self._fetched_at > self.refresh_seconds
        unknown = kid not in self._keys and now - self._fetched_at > self.min_refetch_seconds
        if stale or unknown:
            async with self._lock:
                if time.monotonic() - self._fetched_at > self.min_refetch_seconds or stale:
                    await self._fetch()
        if kid not in self._keys:
            raise jwt.InvalidTokenError(f"no key {kid!r} in the identity provider's key set")
        return self._keys[kid]

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(self.url)
                response.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as err:
            if self._keys:  # keep serving with the keys we have; try again later
                self._fetched_at = time.monotonic() - self.refresh_seconds + self.min_refetch_seconds
                return
            raise jwt.InvalidTokenError(f"the identity provider's keys are unavailable: "
                                        f"{type(err).__name__}") from None
        self._keys = {k.key_id: k.key for k in keys}
        if len(keys) == 1:
            self._keys.setdefault(None, keys[0].key)  # a token without kid, a single key
        self._fetched_at = time.monotonic()
        self.fetches += 1


class TokenVerifier:
    """Checks a bearer token: signature (HS256 with the dev secret, or RS256/ES256 with the IdP's
    JWKS), expiry, issuer and audience when configured, and a maximum age (`iat` required; a
    token may not live longer than `max_age_seconds`)."""

    def __init__(self, secret: str, jwks_url: str | None = None, *, issuer: str | None = None,
                 audience: str | None = None, claims: ClaimNames = ClaimNames(),
                 max_age_seconds: int = 12 * 3600, jwks_refresh_seconds: float = 3600) -> None:
        self.secret = secret
        self.jwks = KeySet(jwks_url, jwks_refresh_seconds) if jwks_url else None
        self.issuer = issuer
        self.audience = audience
        self.claims = claims
        self.max_age_seconds = max_age_seconds

    @classmethod
    def from_settings(cls, settings: Any) -> TokenVerifier:
        return cls(settings.jwt_secret, settings.jwks_url, issuer=settings.jwt_issuer,
                   audience=settings.jwt_audience,
                   claims=ClaimNames(settings.jwt_subject_claim, settings.jwt_role_claim,
                                     settings.jwt_units_claim),
                   max_age_seconds=settings.jwt_max_age_seconds,
                   jwks_refresh_seconds=settings.jwks_refresh_seconds)

    async def verify(self, token: str) -> Principal:
        required = ["exp", "iat", self.claims.subject]
        required += [name for name, value in (("iss", self.issuer), ("aud", self.audience)) if value]
        options: Any = {"require": required, "verify_aud": self.audience is not None}
        if self.jwks is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            key = await self.jwks.key_for(kid)
            claims = jwt.decode(token, key, algorithms=["RS256", "ES256"], options=options,
                                issuer=self.issuer, audience=self.audience, leeway=30)
        else:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options=options,
                                issuer=self.issuer, audience=self.audience, leeway=30)
        issued, expires = claims["iat"], claims["exp"]
        if not isinstance(issued, (int, float)) or expires - issued > self.max_age_seconds:
            raise jwt.InvalidTokenError(f"the token lives longer than {self.max_age_seconds} s")
        role = claims.get(self.claims.role)
        if isinstance(role, list):  # an IdP may list roles: the one role we know
            known = [r for r in role if r in ROLES]
            role = known[0] if len(known) == 1 else None
        if role not in ROLES:
            raise jwt.InvalidTokenError("the token carries no known role")
        units = claims.get(self.claims.units) or []
        if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
            raise jwt.InvalidTokenError("units must be a list of unit ids")
        return Principal(sub=str(claims[self.claims.subject]), role=role, units=tuple(units))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def verifier_of(request: Request) -> TokenVerifier:
    """The app's token verifier (create_app puts it there): the API's and the console's."""
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    verifier = verifier_of(request)
    try:
        return await verifier.verify(credentials.credentials)
    except jwt.PyJWTError as err:
        raise _unauthorized(f"the bearer token is not valid: {err}") from None


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """Dependency: the caller must hold one of `roles`."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            message = f"role {principal.role} may not do this; allowed: {', '.join(roles)}"
            raise refusal("role", "role_not_allowed", message)
        return principal

    return check
