"""Who may reach the local stack's ports, checked before any request reaches the emulator, the
GraphQL endpoint or the real-time socket. The stack runs on a developer's machine, next to a
browser that opens any web page, and with ``--host`` on a network of neighbours:

- **Host.** A request whose ``Host`` is not a name the stack serves (its loopback names, the bound
  address, and on a wildcard bind the machine's name and addresses) is refused: a web page
  that points its own domain at 127.0.0.1 (DNS rebinding) gets its name in ``Host``, never ours.
- **Origin.** Browsers name the page that sent a request in ``Origin`` (on every cross-origin
  request, on POSTs and on WebSocket handshakes; Fetch standard, "Origin header"). A request
  from a page of another origin is refused outright — not only left without CORS headers, since a
  "simple" cross-origin POST runs before anyone reads its answer. Allowed: the request's own
  origin, the stack's origins (each name on both ports), and ``--allow-origin`` (a frontend's dev
  server). SDKs and the AWS CLI send no ``Origin`` and are unaffected.
- **CORS.** Preflights from an allowed origin are answered here; answers to an allowed origin
  carry ``Access-Control-Allow-Origin`` naming it (never ``*``), and whatever CORS headers an
  inner app added (moto's server adds ``*`` to everything) are dropped.
- **Local-only endpoints.** The emulator's admin API (``/moto-api/``: reset, state dumps) and the
  console's outbox and status endpoints answer loopback clients only, unless the stack was
  started with ``--allow-remote-admin``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")
#: Paths that only a loopback client may call (unless --allow-remote-admin).
LOCAL_ONLY_PREFIXES: Final = (
    "/moto-api",
    "/console/code",
    "/console/status",
    "/console/requests",
    "/console/settled",
)
CORS_ALLOW_HEADERS: Final = (
    "authorization, content-type, x-amz-date, x-amz-security-token, x-amz-target, "
    "x-amz-user-agent, x-amz-content-sha256, x-amz-invocation-type, x-api-key, "
    "amz-sdk-invocation-id, amz-sdk-request, cache-control"
)
CORS_EXPOSE_HEADERS: Final = (
    "x-amzn-requestid, x-amzn-errortype, x-amzn-errormessage, x-amz-request-id, x-amz-id-2, "
    "x-amz-function-error, date"
)


def host_name(authority: str) -> str:
    """The name in a ``Host`` header or origin authority, without port or brackets,
    lower-case: ``[::1]:4748`` → ``::1``."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority[1:]
    if authority.count(":") == 1:
        return authority.rsplit(":", 1)[0]
    return authority  # a bare name, or an unbracketed IPv6 address


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@dataclass
class Reach:
    """The names the stack serves and the origins it answers (its ports are known once bound)."""

    names: frozenset[str]
    allowed_origins: frozenset[str] = frozenset()  # --allow-origin
    allow_remote_admin: bool = False
    ports: tuple[int, int] | None = None  # (http, tls)
    _origins: frozenset[str] = field(default=frozenset(), init=False)

    def bound(self, http_port: int, tls_port: int) -> None:
        self.ports = (http_port, tls_port)
        origins = set(self.allowed_origins)
        for name in self.names:
            shown = f"[{name}]" if ":" in name else name
            for scheme, port, default in (("http", http_port, 80), ("https", tls_port, 443)):
                origins.add(f"{scheme}://{shown}:{port}")
                if port == default:
                    origins.add(f"{scheme}://{shown}")
        self._origins = frozenset(origins)

    @property
    def origins(self) -> frozenset[str]:
        return self._origins

    def serves(self, authority: str | None) -> bool:
        return authority is not None and host_name(authority) in self.names

    def origin_allowed(self, origin: str, own: str) -> bool:
        return origin == own or origin in self._origins


class Guard:
    """ASGI middleware applying ``Reach`` to HTTP and WebSocket requests (see the module)."""

    def __init__(self, app: ASGIApp, reach: Reach) -> None:
        self._app = app
        self._reach = reach

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host")
        if not self._reach.serves(host):
            names = ", ".join(sorted(self._reach.names))
            await _refuse(
                scope,
                receive,
                send,
                403,
                f"this local stack does not serve the host {host!r} (protection against DNS "
                f"rebinding); use one of: {names}",
            )
            return
        origin = headers.get("origin")
        if origin is not None:
            scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
            if not self._reach.origin_allowed(origin, f"{scheme}://{host}"):
                await _refuse(
                    scope,
                    receive,
                    send,
                    403,
                    f"requests from pages of {origin} are refused: only the stack's own "
                    "origins may call it from a browser (start it with --allow-origin "
                    f"{origin} to let a frontend served there call it)",
                )
                return
        path = scope.get("path", "")
        client = scope.get("client")
        if (
            path.startswith(LOCAL_ONLY_PREFIXES)
            and not self._reach.allow_remote_admin
            and not is_loopback(client[0] if client else None)
        ):
            await _refuse(
                scope,
                receive,
                send,
                403,
                f"{path} answers only this machine (start the stack with --allow-remote-admin "
                "to open it to the network)",
            )
            return
        if scope["type"] == "websocket":
            await self._app(scope, receive, send)
            return
        preflight = scope.get("method") == "OPTIONS" and "access-control-request-method" in headers
        if origin is not None and preflight:
            await _preflight(send, origin)
            return
        await self._app(scope, receive, _with_cors(send, origin))


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]


async def _preflight(send: Send, origin: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                *_cors_headers(origin),
                (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, DELETE, OPTIONS"),
                (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: str | None) -> Send:
    """``send`` with the inner app's CORS headers replaced by ours (none without an origin)."""

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            kept = [
                (name, value)
                for name, value in message.get("headers", ())
                if not name.lower().startswith(b"access-control-")
            ]
            message = {**message, "headers": kept + (_cors_headers(origin) if origin else [])}
        await send(message)

    return sending


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        # Closing before accepting answers the handshake with 403 (ASGI spec, "Close").
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        return
    body = json.dumps({"message": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def served_names(host: str, machine: Iterable[str] = ()) -> frozenset[str]:
    """The names a stack bound to ``host`` serves: the loopback names, the bound address, and
    on a wildcard bind ``machine`` (its name and addresses)."""
    names = {*LOOPBACK_NAMES, host_name(host) if host else ""}
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        names.update(host_name(name) for name in machine)
    names.discard("")
    names.discard("0.0.0.0")  # noqa: S104
    names.discard("::")
    return frozenset(names)


def machine_names() -> list[str]:
    """This machine's names and the addresses of its network interfaces (psutil reads them
    from the system), which a neighbour on the LAN uses. Not ``gethostbyname(hostname)``: on
    Debian and Ubuntu ``/etc/hosts`` maps the machine's name to 127.0.1.1. IPv6 link-local
    addresses are left out (they need a zone to be reached)."""
    import psutil

    hostname = socket.gethostname().lower()
    names = [hostname]
    if "." not in hostname:
        names.append(f"{hostname}.local")  # its mDNS name
    fqdn = socket.getfqdn().lower()
    if fqdn not in names and fqdn != "localhost" and not fqdn.startswith("localhost."):
        names.append(fqdn)
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                ip = ipaddress.ip_address(address.address.split("%", 1)[0])
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                names.append(str(ip))
    return list(dict.fromkeys(names))
