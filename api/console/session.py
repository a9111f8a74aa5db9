"""Who is signed in to the console, and the forms' CSRF tokens.

The session cookie holds the bearer token itself (a dev token from the sign-in page, or the
identity provider's token that the reverse proxy passed at sign-in), and every request verifies
it with the API's own TokenVerifier: same expiry, issuer, audience, role and units as the JSON
API. The cookie is HttpOnly, SameSite=Strict, Secure in production, and lives no longer than
the token.

CSRF: a form posted with a session carries HMAC(session token, "csrf"): only a page the server
rendered for this session can know it (the cookie cannot be read by script). The sign-in form,
before there is a session, is a double submit: a random value in a cookie and in the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from fastapi import Request, Response

from api.auth import Principal, verifier_of
from api.deps import settings_of
from store.access_log import InvalidPurpose, checked_purpose

SESSION = "sjukfall_console"
PURPOSE = "sjukfall_console_purpose"
SIGN_IN_CSRF = "sjukfall_console_signin"
PATH = "/console"
DEFAULT_PURPOSE = "vård och behandling"


@dataclass(frozen=True)
class Session:
    principal: Principal
    token: str
    purpose: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"sjukfall-console-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf, sent)


def secure(request: Request) -> bool:
    return bool(settings_of(request).env == "production")


async def current_session(request: Request) -> Session | None:
    """The signed-in user, or None (no cookie, or its token no longer verifies)."""
    token = request.cookies.get(SESSION)
    if not token:
        return None
    verifier = verifier_of(request)
    try:
        principal = await verifier.verify(token)
    except jwt.PyJWTError:
        return None
    try:
        purpose = checked_purpose(request.cookies.get(PURPOSE) or DEFAULT_PURPOSE)
    except InvalidPurpose:
        purpose = DEFAULT_PURPOSE
    return Session(principal, token, purpose)


def start_session(request: Request, response: Response, token: str, purpose: str) -> None:
    try:
        lifetime = int(jwt.decode(token, options={"verify_signature": False})["exp"] - time.time())
    except (jwt.PyJWTError, KeyError, TypeError):
        lifetime = 3600
    for name, value in ((SESSION, token), (PURPOSE, purpose)):
        response.set_cookie(name, value, max_age=max(lifetime, 0), path=PATH, httponly=True,
                            secure=secure(request), samesite="strict")
    response.delete_cookie(SIGN_IN_CSRF, path=PATH)


def end_session(response: Response) -> None:
    for name in (SESSION, PURPOSE):
        response.delete_cookie(name, path=PATH)


def sign_in_csrf_value(request: Request) -> str:
    """The sign-in form's double-submit value (kept while the sign-in page is reloaded)."""
    return request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(32)


def set_sign_in_csrf(request: Request, response: Response, value: str) -> None:
    response.set_cookie(SIGN_IN_CSRF, value, max_age=3600, path=PATH, httponly=True,
                        secure=secure(request), samesite="strict")


def sign_in_csrf_ok(request: Request, sent: str | None) -> bool:
    expected = request.cookies.get(SIGN_IN_CSRF)
    return bool(expected and sent and hmac.compare_digest(expected, sent))
