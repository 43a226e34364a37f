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

Trusting a CA trusts whatever its key signs, so this one is made harmless beyond this machine:
its **name constraints** (RFC 5280 section 4.2.1.10, critical) permit only the loopback names
and addresses, private network ranges (RFC 1918, RFC 4193) and the machine's own names and
addresses — a certificate it signed for any other name is refused by a verifier that trusts it —
and it is valid for two years at most. A CA in the state directory without those constraints,
expired or expiring, or not covering a name the stack serves, is replaced by a new one on the
next start (``created_ca``: trust the new ``ca.pem`` again).
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

from userpipe.local.files import write_secret

CA_DAYS: Final = 730  # two years at most
SERVER_DAYS: Final = 365
RENEW_BEFORE: Final = dt.timedelta(days=30)
DEFAULT_HOSTS: Final = ("localhost", "127.0.0.1", "::1")
#: Address ranges every local CA permits: loopback, and private networks (a LAN bind).
PERMITTED_NETWORKS: Final = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)


@dataclass
class LocalCertificates:
    folder: Path
    created_ca: bool = False  # the last ensure() made a new CA (trust it again)

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
        self.created_ca = ca is None or not permits(ca[0], names)
        if ca is None or self.created_ca:
            ca = self._new_ca(names)
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
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        if lifetime > dt.timedelta(days=CA_DAYS, minutes=5) or _constraints(cert) is None:
            return None  # unconstrained or valid too long: replace it
        return cert, key

    def _new_ca(self, names: list[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
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
            .add_extension(
                x509.NameConstraints(permitted_subtrees=_subtrees(names), excluded_subtrees=None),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        write_secret(self.ca_key_path, _private_pem(key))
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
        write_secret(self.key_path, _private_pem(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _subtrees(names: Iterable[str]) -> list[x509.GeneralName]:
    """What a CA for ``names`` permits: each DNS name (and its subdomains), the permitted
    networks, and each address outside them exactly."""
    subtrees: list[x509.GeneralName] = [x509.IPAddress(net) for net in PERMITTED_NETWORKS]
    for name in sorted(set(names)):
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            subtrees.append(x509.DNSName(name))
            continue
        if not any(ip in net for net in PERMITTED_NETWORKS):
            subtrees.append(x509.IPAddress(ipaddress.ip_network(ip)))
    return subtrees


def _constraints(cert: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def permits(ca: x509.Certificate, names: Iterable[str]) -> bool:
    """Whether ``ca``'s name constraints let it sign for every one of ``names``."""
    constraints = _constraints(ca)
    if constraints is None:
        return False
    permitted = constraints.permitted_subtrees or []
    dns = [str(n.value).lower() for n in permitted if isinstance(n, x509.DNSName)]
    networks = [n.value for n in permitted if isinstance(n, x509.IPAddress)]
    for name in names:
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            lowered = name.lower()
            if not any(lowered == base or lowered.endswith(f".{base}") for base in dns):
                return False
            continue
        if not any(isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network)
                   and ip.version == net.version and ip in net for net in networks):  # fmt: skip
            return False
    return True


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
