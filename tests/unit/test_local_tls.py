"""The local CA: made once and kept, a server certificate for the stack's names signed by it
and accepted by a strict TLS client, the private keys readable by their owner only."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

from cryptography import x509

from userpipe.local.tls import LocalCertificates


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


def test_a_wildcard_bind_covers_the_machines_name_and_addresses(tmp_path: Path) -> None:
    from userpipe.local.stack import LocalStack, LocalStackOptions

    names = LocalStack(LocalStackOptions(host="0.0.0.0", state_dir=tmp_path))._certificate_names()  # noqa: S104
    assert names[0] == "127.0.0.1" and socket.gethostname() in names
    assert LocalStack(LocalStackOptions(state_dir=tmp_path))._certificate_names() == ["127.0.0.1"]
    LocalCertificates(tmp_path / "tls").ensure(names)  # every name is a valid SAN
