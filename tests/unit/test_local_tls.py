"""The local CA: made once and kept, constrained to this machine's names for at most two years,
a server certificate for the stack's names signed by it and accepted by a strict TLS client,
the private keys readable by their owner only."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from contextlib import suppress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from userpipe.local.tls import CA_DAYS, LocalCertificates, permits


def test_a_client_trusting_the_ca_accepts_the_servers_certificate(tmp_path: Path) -> None:
    certificates = LocalCertificates(tmp_path).ensure(["127.0.0.1"])
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificates.cert_path, certificates.key_path)
    client = ssl.create_default_context(cafile=str(certificates.ca_cert_path))
    client.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve() -> None:
            connection, _ = listener.accept()
            with server.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"ok")

        threading.Thread(target=serve, daemon=True).start()
        with (
            socket.create_connection(listener.getsockname()) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.recv(2) == b"ok"


def test_the_ca_is_kept_and_a_new_name_gets_a_new_certificate_from_it(tmp_path: Path) -> None:
    first = LocalCertificates(tmp_path).ensure()
    ca, cert = first.ca_cert_path.read_bytes(), first.cert_path.read_bytes()
    again = LocalCertificates(tmp_path).ensure()
    assert (again.ca_cert_path.read_bytes(), again.cert_path.read_bytes()) == (ca, cert)
    renamed = LocalCertificates(tmp_path).ensure(["192.168.1.20"])
    assert renamed.ca_cert_path.read_bytes() == ca and renamed.cert_path.read_bytes() != cert
    names = x509.load_pem_x509_certificate(renamed.cert_path.read_bytes()).extensions
    sans = names.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {
        "127.0.0.1", "192.168.1.20",
    }  # fmt: skip


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    certificates = LocalCertificates(tmp_path).ensure()
    for key in (certificates.ca_key_path, certificates.key_path):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_wildcard_bind_covers_the_machines_lan_addresses_not_etc_hosts(
    tmp_path: Path,
) -> None:
    """On Debian ``/etc/hosts`` maps the machine's name to 127.0.1.1; a neighbour reaches the
    interfaces' own addresses, which the certificate and the Host check must name."""
    from userpipe.local.guard import machine_names
    from userpipe.local.stack import LocalStack, LocalStackOptions

    machine = machine_names()
    wildcard = LocalStack(LocalStackOptions(host="0.0.0.0", state_dir=tmp_path))  # noqa: S104
    assert socket.gethostname().lower() in wildcard.reach.names
    assert "127.0.1.1" not in wildcard.reach.names
    addresses = {name for name in machine if name[0].isdigit() or ":" in name}
    assert addresses <= wildcard.reach.names
    loopback = LocalStack(LocalStackOptions(state_dir=tmp_path / "loopback"))
    assert loopback.reach.names == {"localhost", "127.0.0.1", "::1"}
    LocalCertificates(tmp_path / "tls").ensure(wildcard.reach.names)  # every name is a valid SAN


def _ca(certificates: LocalCertificates) -> x509.Certificate:
    return x509.load_pem_x509_certificate(certificates.ca_cert_path.read_bytes())


def test_the_ca_is_constrained_to_this_machines_names_and_lives_two_years(
    tmp_path: Path,
) -> None:
    ca = _ca(LocalCertificates(tmp_path).ensure(["127.0.0.1", "devbox", "203.0.113.7"]))
    extension = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert extension.critical
    permitted = {str(name.value) for name in extension.value.permitted_subtrees or []}
    assert {"localhost", "devbox", "127.0.0.0/8", "::1/128", "203.0.113.7/32"} <= permitted
    assert "0.0.0.0/0" not in permitted
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= dt.timedelta(days=731)


def test_a_verifier_trusting_the_ca_refuses_a_certificate_it_signed_for_another_name(
    tmp_path: Path,
) -> None:
    """The name constraints are what make trusting the CA safe: were its key stolen, a
    certificate for a real site made with it is refused (OpenSSL, as Python's ssl uses it)."""
    certificates = LocalCertificates(tmp_path).ensure(["127.0.0.1"])
    forged = LocalCertificates(tmp_path)
    ca = forged._load_ca()
    assert ca is not None
    forged._new_server(ca, ["www.example.com"])  # the CA's own key, another name
    with pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)name constraint|permitted"):
        _handshake(certificates, "www.example.com")


def test_an_unconstrained_or_ten_year_ca_from_an_older_userpipe_is_replaced(
    tmp_path: Path,
) -> None:
    certificates = LocalCertificates(tmp_path).ensure()
    old = _self_signed_ca(years=10)
    certificates.ca_cert_path.write_bytes(old[0])
    certificates.ca_key_path.write_bytes(old[1])
    renewed = LocalCertificates(tmp_path).ensure()
    assert renewed.created_ca and renewed.ca_cert_path.read_bytes() != old[0]
    assert _ca(renewed).extensions.get_extension_for_class(x509.NameConstraints)
    assert not LocalCertificates(tmp_path).ensure().created_ca  # kept from now on


def test_a_name_outside_the_cas_constraints_makes_a_new_ca(tmp_path: Path) -> None:
    first = LocalCertificates(tmp_path).ensure()
    ca = first.ca_cert_path.read_bytes()
    lan = LocalCertificates(tmp_path).ensure(["192.168.1.20"])  # a private range: same CA
    assert not lan.created_ca and lan.ca_cert_path.read_bytes() == ca
    public = LocalCertificates(tmp_path).ensure(["203.0.113.7"])  # not permitted yet
    assert public.created_ca and public.ca_cert_path.read_bytes() != ca
    assert permits(_ca(public), ["203.0.113.7", "127.0.0.1", "localhost"])


def _handshake(certificates: LocalCertificates, name: str) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificates.cert_path, certificates.key_path)
    client = ssl.create_default_context(cafile=str(certificates.ca_cert_path))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve() -> None:
            connection, _ = listener.accept()
            with suppress(ssl.SSLError, OSError):
                server.wrap_socket(connection, server_side=True).close()

        threading.Thread(target=serve, daemon=True).start()
        with (
            socket.create_connection(listener.getsockname()) as raw,
            client.wrap_socket(raw, server_hostname=name),
        ):
            pass


def _self_signed_ca(years: int) -> tuple[bytes, bytes]:
    """A CA as userpipe made them before: no name constraints, ``years`` of validity."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "userpipe local CA (old)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(pem), private


def test_an_expiring_ca_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = LocalCertificates(tmp_path).ensure()
    ca = first.ca_cert_path.read_bytes()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=CA_DAYS - 10)
    monkeypatch.setattr("userpipe.local.tls._now", lambda: later)
    renewed = LocalCertificates(tmp_path).ensure()
    assert renewed.created_ca and renewed.ca_cert_path.read_bytes() != ca
