"""The role matrix: who may call what. Every endpoint but the health ones needs a token."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import TokenVerifier
from tests.api.conftest import Api
from tests.api.test_end_to_end import PNR, today

ROLES = ("physician", "coordinator", "ops", "fk_gateway")
# (method, path, roles allowed); {case} is a real case at the caller's unit
MATRIX: list[tuple[str, str, set[str]]] = [
    ("GET", "/cases", {"physician", "coordinator", "ops"}),
    ("GET", "/cases/{case}", {"physician", "coordinator", "ops"}),
    ("GET", "/cases/{case}/events", {"physician", "coordinator", "ops"}),
    ("GET", "/cases/{case}/access-log", {"ops"}),
    ("POST", "/cases", {"physician", "coordinator"}),
    ("POST", "/cases/{case}/certificates", {"physician"}),
    ("POST", "/cases/{case}/plan", {"physician"}),
    ("POST", "/cases/{case}/consents", {"physician", "coordinator"}),
    ("POST", "/cases/{case}/close", {"physician", "coordinator"}),
    ("POST", "/cases/{case}/coordination", {"physician", "coordinator"}),
    ("POST", "/fk/messages", {"fk_gateway"}),
    ("GET", "/measures?from=2026-01-01&to=2026-12-31&unit=vc-norr", {"physician", "coordinator", "ops"}),
]


@pytest.fixture(scope="module")
async def case_id(api: Api) -> str:
    start = await today(api)
    opened = await api.http.post("/cases", headers=api.headers(), json={
        "patient_id": PNR, "unit_id": "vc-norr", "sick_period_start": str(start)})
    return str(opened.json()["case_id"])


@pytest.mark.parametrize(("method", "path", "allowed"), MATRIX)
async def test_role_matrix(api: Api, case_id: str, method: str, path: str, allowed: set[str]) -> None:
    url = path.format(case=case_id)
    assert (await api.http.request(method, url, json={})).status_code == 401
    for role in ROLES:
        response = await api.http.request(method, url, headers=api.headers(role), json={})
        if role in allowed:  # anything but a refusal of the token or the role (empty body: 422;
            # FK's route also wants the gateway's signature: 401 naming the signature)
            assert response.status_code != 403, (role, response.text)
            assert "bearer token" not in response.text, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
            assert response.json()["errors"][0]["rule"] == "role_not_allowed"


async def test_health_needs_no_token(api: Api) -> None:
    assert (await api.http.get("/healthz")).status_code == 200
    assert (await api.http.get("/readyz")).status_code == 200


async def test_rs256_tokens_are_checked_against_the_identity_providers_keys(tmp_path: Any) -> None:
    """Production: tokens signed by the identity provider, verified with its published keys."""
    import http.server
    import threading

    from sjukfall.embedded import free_port

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
    finally:
        server.shutdown()
