"""Mutual TLS to FK's gateway, against a real TLS server: the FK simulator served over HTTPS by
uvicorn, requiring a client certificate. Throwaway CAs stand in for FK's (signs the gateway)
and SITHS (signs care's function certificate); a rogue CA signs what must be refused."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fk.port import FkUnavailable, HttpTransport, gateway_client
from fk.schemas import Receipt
from fk.simulator import SimulatedFk, create_app
from infra.embedded import free_port
from infra.settings import Settings
from tests.fk.test_transport import fk7804

SECRET = "mtls-test-secret"
LOOPBACK = ("127.0.0.1", "localhost")


# --- a throwaway PKI ----------------------------------------------------------------------------


@dataclass
class Issued:
    cert: Path
    key: Path


class Authority:
    """A CA that writes itself and what it issues as PEM files under `directory`."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name, self.directory = name, directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._cert = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                              content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.pem = directory / f"{name}-ca.pem"
        self.pem.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, hosts: tuple[str, ...] = ()) -> Issued:
        """A server certificate for `hosts`, or without hosts a client certificate (care's
        function certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = _builder(subject, self._cert.subject, key.public_key()).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if hosts:
            names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h)
                     for h in hosts]
            builder = builder.add_extension(
                x509.SubjectAlternativeName(names), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        issued = Issued(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        return issued


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey
             ) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )


@dataclass
class Pki:
    fk_ca: Authority  # signs FK's gateway
    siths_ca: Authority  # signs care's function certificate; the gateway trusts it
    rogue_ca: Authority  # trusted by no one
    gateway: Issued
    care: Issued


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    fk_ca = Authority("fk", tmp_path)
    siths_ca = Authority("siths", tmp_path)
    return Pki(fk_ca, siths_ca, Authority("rogue", tmp_path),
               gateway=fk_ca.issue("gateway", LOOPBACK), care=siths_ca.issue("care"))


@contextlib.asynccontextmanager
async def https_simulator(
    server: Issued, client_ca: Path
) -> AsyncIterator[tuple[SimulatedFk, str]]:
    """The FK simulator over HTTPS with `server`'s certificate, requiring a client certificate
    signed by `client_ca`; yields what it holds and its URL."""
    fk = SimulatedFk(secret=SECRET)
    port = free_port()
    config = uvicorn.Config(
        create_app("", "", SECRET, fk=fk), host="127.0.0.1", port=port, log_config=None,
        access_log=False, ssl_certfile=str(server.cert), ssl_keyfile=str(server.key),
        ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    uvicorn_server = uvicorn.Server(config)
    uvicorn_server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(uvicorn_server.serve())
    while not uvicorn_server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    try:
        yield fk, f"https://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        await task


async def register(url: str, settings: Settings) -> Receipt:
    """Register one certificate through the transport the worker builds from `settings`."""
    async with gateway_client(settings) as http:
        return await HttpTransport(url, SECRET, timeout=2, http=http).register_certificate(
            fk7804())


# --- the tests ----------------------------------------------------------------------------------


async def test_care_with_its_function_certificate_gets_a_signed_receipt(pki: Pki) -> None:
    settings = Settings(fk_tls_cert=pki.care.cert, fk_tls_key=pki.care.key, fk_tls_ca=pki.fk_ca.pem)
    async with https_simulator(pki.gateway, pki.siths_ca.pem) as (fk, url):
        receipt = await register(url, settings)  # the transport checked FK's signature on it
    assert (receipt.receipt_id, receipt.result.result_code) == ("fk-certificate-t-1", "OK")
    assert list(fk.certificates) == ["t-1"]


@pytest.mark.parametrize("client", ["none", "from another CA"])
async def test_the_gateway_refuses_care_without_a_certificate_it_trusts(
    pki: Pki, client: str,
) -> None:
    settings = Settings(fk_tls_ca=pki.fk_ca.pem)
    if client == "from another CA":
        rogue = pki.rogue_ca.issue("impostor")
        settings = Settings(fk_tls_cert=rogue.cert, fk_tls_key=rogue.key, fk_tls_ca=pki.fk_ca.pem)
    async with https_simulator(pki.gateway, pki.siths_ca.pem) as (fk, url):
        with pytest.raises(FkUnavailable, match="FK certificates t-1"):
            await register(url, settings)
    assert fk.attempts == 0 and fk.certificates == {}


@pytest.mark.parametrize("server", ["signed by another CA", "for another host name"])
async def test_care_refuses_a_gateway_its_ca_did_not_sign_for_that_address(
    pki: Pki, server: str,
) -> None:
    if server == "signed by another CA":
        impostor = pki.rogue_ca.issue("impostor-gateway", LOOPBACK)
    else:
        impostor = pki.fk_ca.issue("elsewhere", ("fk-gateway.example.org",))
    settings = Settings(fk_tls_cert=pki.care.cert, fk_tls_key=pki.care.key, fk_tls_ca=pki.fk_ca.pem)
    async with https_simulator(impostor, pki.siths_ca.pem) as (fk, url):
        with pytest.raises(FkUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await register(url, settings)
    assert fk.attempts == 0 and fk.certificates == {}


async def test_without_a_ca_only_the_system_roots_are_trusted(pki: Pki) -> None:
    settings = Settings(fk_tls_cert=pki.care.cert, fk_tls_key=pki.care.key)
    async with https_simulator(pki.gateway, pki.siths_ca.pem) as (fk, url):
        with pytest.raises(FkUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await register(url, settings)
    assert fk.certificates == {}
