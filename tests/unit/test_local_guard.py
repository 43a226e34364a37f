"""Who may reach the local stack's ports (``userpipe.local.guard``): the stack's own names, its own
origins and the ones it was told to allow, loopback for the local-only endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from userpipe.local.guard import Guard, Reach, host_name, is_loopback, served_names

HTTP, TLS = 4747, 4748


def reach(**options: Any) -> Reach:
    reached = Reach(served_names("127.0.0.1"), **options)
    reached.bound(HTTP, TLS)
    return reached


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    """What the stack would answer: 200, with the CORS header moto's server adds."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"access-control-allow-origin", b"*"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


def call(
    guard: Guard,
    *,
    host: str | None = f"127.0.0.1:{HTTP}",
    origin: str | None = None,
    method: str = "POST",
    path: str = "/",
    client: str = "127.0.0.1",
    kind: str = "http",
    scheme: str = "http",
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> list[MutableMapping[str, Any]]:
    headers = [*extra]
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {
        "type": kind,
        "method": method,
        "path": path,
        "scheme": scheme,
        "headers": headers,
        "client": (client, 50000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect" if kind == "websocket" else "http.request"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    return sent


def status(sent: list[MutableMapping[str, Any]]) -> int:
    return int(sent[0]["status"])


def header(sent: list[MutableMapping[str, Any]], name: bytes) -> bytes | None:
    return dict(sent[0].get("headers", ())).get(name)


def test_names_the_stack_serves_are_let_through_on_any_port() -> None:
    guard = Guard(_inner, reach())
    for host in (f"127.0.0.1:{HTTP}", f"localhost:{TLS}", f"[::1]:{HTTP}", "127.0.0.1:9000"):
        assert status(call(guard, host=host)) == 200


@pytest.mark.parametrize("host", ["evil.example:4747", "rebind.attacker.test", "", None])
def test_another_host_is_refused_as_dns_rebinding(host: str | None) -> None:
    sent = call(Guard(_inner, reach()), host=host)
    assert status(sent) == 403 and b"DNS" in sent[1]["body"]


def test_a_page_of_another_origin_is_refused_before_the_request_runs() -> None:
    ran: list[bool] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        ran.append(True)
        await _inner(scope, receive, send)

    guard = Guard(inner, reach())
    for origin in ("https://evil.example", "http://localhost:5173", "null"):
        sent = call(guard, origin=origin)
        assert status(sent) == 403 and header(sent, b"access-control-allow-origin") is None
    assert not ran  # a "simple" cross-origin POST never reaches the stack


def test_the_stacks_own_origins_get_cors_naming_them_never_a_star() -> None:
    guard = Guard(_inner, reach())
    for origin in (f"https://127.0.0.1:{TLS}", f"http://localhost:{HTTP}", f"https://[::1]:{TLS}"):
        sent = call(guard, origin=origin)
        assert status(sent) == 200
        assert header(sent, b"access-control-allow-origin") == origin.encode()
        assert dict(sent[0]["headers"]).get(b"vary") == b"Origin"


def test_a_same_origin_request_is_allowed_through_a_forwarded_port() -> None:
    sent = call(
        Guard(_inner, reach()), host="127.0.0.1:9443", origin="https://127.0.0.1:9443",
        scheme="https",
    )  # fmt: skip
    assert status(sent) == 200


def test_an_allowed_dev_server_origin_gets_cors() -> None:
    guard = Guard(_inner, reach(allowed_origins=frozenset({"http://localhost:5173"})))
    sent = call(guard, origin="http://localhost:5173")
    assert header(sent, b"access-control-allow-origin") == b"http://localhost:5173"


def test_requests_without_an_origin_get_no_cors_headers() -> None:
    """SDKs and the AWS CLI send no Origin; moto's ``*`` never reaches anyone."""
    sent = call(Guard(_inner, reach()))
    assert status(sent) == 200 and header(sent, b"access-control-allow-origin") is None


def test_a_preflight_from_an_own_origin_is_answered_here() -> None:
    origin = f"https://127.0.0.1:{TLS}"
    sent = call(
        Guard(_inner, reach()), method="OPTIONS", origin=origin,
        extra=((b"access-control-request-method", b"POST"),),
    )  # fmt: skip
    assert status(sent) == 204
    assert header(sent, b"access-control-allow-origin") == origin.encode()
    assert b"x-amz-target" in (header(sent, b"access-control-allow-headers") or b"")


@pytest.mark.parametrize("path", ["/moto-api/reset", "/moto-api/data.json", "/console/code"])
def test_local_only_endpoints_refuse_a_neighbour(path: str) -> None:
    guard = Guard(_inner, reach())
    assert status(call(guard, path=path, client="192.168.1.30")) == 403
    assert status(call(guard, path=path, client="127.0.0.1")) == 200
    assert status(call(guard, path=path, client="::ffff:127.0.0.1")) == 200
    opened = Guard(_inner, reach(allow_remote_admin=True))
    assert status(call(opened, path=path, client="192.168.1.30")) == 200


def test_a_websocket_from_another_origin_or_host_is_refused_at_the_handshake() -> None:
    guard = Guard(_inner, reach())
    refused = call(guard, kind="websocket", origin="https://evil.example")
    assert refused[0]["type"] == "websocket.close"
    rebound = call(guard, kind="websocket", host="evil.example")
    assert rebound[0]["type"] == "websocket.close"
    accepted = call(guard, kind="websocket", origin=f"https://localhost:{TLS}", scheme="wss")
    assert accepted[0]["type"] == "websocket.accept"


def test_names_and_addresses_are_compared_without_port_brackets_or_case() -> None:
    assert host_name("[::1]:4748") == "::1"
    assert host_name("LocalHost:4747") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert is_loopback("127.0.0.5") and is_loopback("::1") and not is_loopback("10.0.0.1")
    assert served_names("0.0.0.0", ["devbox", "192.168.1.20"]) >= {"devbox", "192.168.1.20"}  # noqa: S104
    assert "0.0.0.0" not in served_names("0.0.0.0", [])  # noqa: S104
