"""A certificate authority of this machine's own, for the local stack's TLS port.

Amplify JS v6 opens its real-time socket only as ``wss://`` (``getRealtimeEndpointUrl`` in
``@aws-amplify/api-graphql`` replaces ``http://`` with ``wss://``), so the local stack serves
TLS. Its certificate is signed by a CA generated here, once, and kept in the state directory
(``<state_dir>/tls``): trust ``ca.pem`` once — Node with ``NODE_EXTRA_CA_CERTS``, Python with
``ssl.create_default_context(cafile=...)``, a browser by importing it — and every later run
(new server certificate or not) is trusted too. The CA's key never leaves that directory
(mode 0600); it can only sign for this machine's names because nothing else trusts it.

Generated with ``cryptography`` (ECDSA P-256), with the extensions strict verifiers (OpenSSL 3's
``VERIFY_X509_STRICT``, Chromium) require: basic constraints, key usage, subject and authority
key identifiers, subject alternative names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS: Final = 3650
SERVER_DAYS: Final = 365
RENEW_BEFORE: Final = dt.timedelta(days=30)
DEFAULT_HOSTS: Final = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class LocalCertificates:
    folder: Path

    @property
    def ca_cert_path(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def cert_path(self) -> Path:
        return self.folder / "server.pem"

    @property
    def key_path(self) -> Path:
        return self.folder / "server-key.pem"

    def ensure(self, hosts: Iterable[str] = DEFAULT_HOSTS) -> LocalCertificates:
        """Make the CA if there is none (or it is about to expire), and a server certificate
        for ``hosts`` signed by it if the current one does not cover them."""
        names = sorted(set(hosts) | set(DEFAULT_HOSTS))
        self.folder.mkdir(parents=True, exist_ok=True)
        ca = self._load_ca()
        if ca is None:
            ca = self._new_ca()
        if not self._server_is_current(ca[0], names):
            self._new_server(ca, names)
        return self

    # --- the CA ---------------------------------------------------------------------------------

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
        try:
            cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), None)
        except (OSError, ValueError):
            return None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or _expiring(cert):
            return None
        return cert, key

    def _new_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "userpipe local stack"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"userpipe local CA ({os.uname().nodename})"
                ),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write_secret(self.ca_key_path, _private_pem(key))
        self.ca_cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path.unlink(missing_ok=True)  # signed by the old CA, if any
        return cert, key

    # --- the server certificate -----------------------------------------------------------------

    def _server_is_current(self, ca: x509.Certificate, names: list[str]) -> bool:
        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            self.key_path.stat()
        except (OSError, ValueError):
            return False
        if _expiring(cert) or cert.issuer != ca.subject:
            return False
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # any failure to verify: make a new one
            return False
        covered = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = {str(v) for v in covered.get_values_for_type(x509.DNSName)} | {
            str(v) for v in covered.get_values_for_type(x509.IPAddress)
        }
        return set(names) <= have

    def _new_server(
        self, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], names: list[str]
    ) -> None:
        ca_cert, ca_key = ca
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_secret(self.key_path, _private_pem(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expiring(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE < _now()


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_secret(path: Path, data: bytes) -> None:
    """Written with mode 0600 from the start (never readable by others, even briefly)."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    partial.replace(path)
