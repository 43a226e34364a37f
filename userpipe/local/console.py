"""The browser console the local stack serves at ``/`` on its TLS port: the static files ``make
console`` builds into ``userpipe/console/`` from ``console/src``, and JSON endpoints only the
local stack has (on both ports: tools read them too) —

- ``/console/config.json``: the Amplify JS v6 configuration (as ``amplify-config.json``, but
  pointing at the address the browser used: a phone on the LAN opened ``https://<LAN
  address>:4748/``, not 127.0.0.1), the password policy and the Admin group's name;
- ``/console/code?email=``: the newest sign-up code the outbox holds for that address (what
  ``userpipe local codes`` shows; the outbox is a local-only stand-in for email);
- ``/console/status``: ``userpipe status`` as JSON, with the last changes of the User table
  (the newest audit records).
- ``/console/requests``: how many AWS API requests the stack served, per caller and action
  (``userpipe.local.server.RequestCounts``: counts only), for the benchmarks;
- ``/console/settled?timeout=``: answers once every event source has nothing left to deliver
  (``LocalStack.settle``: queues drained, streams read to their end), 504 after ``timeout``
  seconds; the benchmarks start their timers on a settled stack.

Everything else the console does goes through the stack's public endpoints with Amplify JS, as
a frontend against AWS would. Responses carry a Content-Security-Policy that allows this origin
and its own WebSocket only: nothing the console loads or calls leaves the machine.

Opened on the plain HTTP port, the page would load and then fail to sign in: Amplify's
configuration points at the TLS origin and its real-time socket is ``wss://`` only. So a browser
asking that port for the page or its files is sent to the same path on the TLS port, under the
name it used (a phone on the LAN keeps its address). The redirect is temporary (307): the ports
are chosen per run, and a browser must not remember one run's TLS port as permanent.
"""

from __future__ import annotations

import json
import math
import mimetypes
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from contracts.topology import ADMIN_GROUP, USER_POOL
from userpipe.amplify import amplify_config
from userpipe.local.guard import host_name
from userpipe.local.outbox import latest_code
from userpipe.local.server import GRAPHQL_PATH

STATIC: Final = Path(__file__).resolve().parents[1] / "console"
PREFIX: Final = "/console/"
RECENT_CHANGES: Final = 8
#: What the console serves as JSON, on both ports; everything else it serves is the page.
ENDPOINTS: Final = frozenset({"config.json", "code", "status", "requests", "settled"})
#: How long ``settled`` waits at most when the request names no timeout.
SETTLE_SECONDS: Final = 60.0
#: The longest a /console/settled request may wait.
MAX_SETTLE_SECONDS: Final = 600.0


class ConsoleApp:
    def __init__(
        self,
        outputs: Callable[[], Mapping[str, Any]],
        status: Callable[[], dict[str, Any]],
        tls_port: int,
        static: Path = STATIC,
        *,
        requests: Callable[[], dict[str, dict[str, int]]] | None = None,
        settle: Callable[[float], None] | None = None,  # raises TimeoutError
    ) -> None:
        self._outputs = outputs
        self._status = status
        self._tls_port = tls_port
        self._static = static
        self._requests = requests
        self._settle = settle

    @staticmethod
    def matches(environ: Mapping[str, Any]) -> bool:
        path = environ.get("PATH_INFO", "")
        return environ.get("REQUEST_METHOD") in ("GET", "HEAD") and (
            path in ("/", "/index.html") or path.startswith(PREFIX)
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        name = "index.html" if path in ("/", "/index.html") else path[len(PREFIX) :]
        if name not in ENDPOINTS and environ.get("wsgi.url_scheme") != "https":
            return self._to_tls(environ, start_response)
        if name == "config.json":
            return _json(start_response, self.config(_origin(environ)))
        if name == "code":
            email = (query.get("email") or [""])[0]
            outbox = Path(self._outputs()["outbox_path"])
            return _json(start_response, {"code": latest_code(outbox, email) if email else None})
        if name == "status":
            return _json(start_response, self._status())
        if name == "requests" and self._requests is not None:
            return _json(start_response, self._requests())
        if name == "settled" and self._settle is not None:
            return self._settled(query, start_response)
        return self._file(name, environ, start_response)

    def config(self, origin: str | None = None) -> dict[str, Any]:
        """``origin``: the TLS origin the browser loaded the console from (its ``Host`` was
        checked by the port: ``userpipe.local.guard``); the configuration points there."""
        policy = USER_POOL.password
        outputs = dict(self._outputs())
        if origin is not None:
            outputs["tls_endpoint_url"] = origin
            outputs["graphql_url"] = f"{origin}{GRAPHQL_PATH}"
        return {
            "amplify": amplify_config(outputs),
            "password": {
                "minLength": policy.min_length,
                "requireLowercase": policy.require_lowercase,
                "requireUppercase": policy.require_uppercase,
                "requireDigits": policy.require_digits,
                "requireSymbols": policy.require_symbols,
            },
            "adminGroup": ADMIN_GROUP,
        }

    def _settled(
        self, query: Mapping[str, list[str]], start_response: Callable[..., Any]
    ) -> list[bytes]:
        assert self._settle is not None
        try:
            timeout = float(query["timeout"][0]) if query.get("timeout") else SETTLE_SECONDS
        except ValueError:
            timeout = math.nan
        if not (math.isfinite(timeout) and 0 <= timeout <= MAX_SETTLE_SECONDS):
            # nan and inf would never time out, each holding one of the server's threads.
            reason = f"timeout: seconds, 0 to {MAX_SETTLE_SECONDS}".encode()
            return _respond(start_response, "400 Bad Request", reason, "text/plain")
        started = time.monotonic()
        try:
            self._settle(timeout)
        except TimeoutError as unsettled:
            body = json.dumps({"settled": False, "why": str(unsettled)}).encode()
            return _respond(start_response, "504 Gateway Timeout", body, "application/json")
        return _json(start_response, {"settled": True, "seconds": time.monotonic() - started})

    def _to_tls(
        self, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        """A redirect to the same path and query on the TLS port, under the name the browser
        used (its ``Host`` was checked by the port: ``userpipe.local.guard``)."""
        name = host_name(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""))
        shown = f"[{name}]" if ":" in name else name
        target = f"https://{shown}:{self._tls_port}{urllib.parse.quote(environ['PATH_INFO'])}"
        if environ.get("QUERY_STRING"):
            target += f"?{environ['QUERY_STRING']}"
        start_response(
            "307 Temporary Redirect",
            [
                ("Location", target),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "0"),
                ("Cache-Control", "no-store"),
            ],
        )
        return [b""]

    def _file(
        self, name: str, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        path = (self._static / name).resolve()
        if path.parent != self._static or not path.is_file():  # no ../, no folders
            return _respond(start_response, "404 Not Found", b"not found", "text/plain")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        host = environ.get("HTTP_HOST", "")
        return _respond(start_response, "200 OK", path.read_bytes(), kind, host)


def _origin(environ: Mapping[str, Any]) -> str | None:
    """The HTTPS origin of the request (``None`` on the plain HTTP port)."""
    host = environ.get("HTTP_HOST")
    return f"https://{host}" if host and environ.get("wsgi.url_scheme") == "https" else None


def _json(start_response: Callable[..., Any], body: Any) -> list[bytes]:
    return _respond(start_response, "200 OK", json.dumps(body, default=str).encode(),
                    "application/json")  # fmt: skip


def _respond(
    start_response: Callable[..., Any], status: str, body: bytes, kind: str, host: str = ""
) -> list[bytes]:
    realtime = f" wss://{host}" if host else ""
    start_response(
        status,
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            (
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                f"connect-src 'self'{realtime}; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
    )
    return [body]


def recent_changes(audit_items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The newest audit records, newest first, as the console lists them."""
    newest = sorted(audit_items, key=lambda item: item.get("at", ""), reverse=True)
    keep = ("at", "eventName", "userId", "newVersion")
    return [{key: item.get(key) for key in keep} for item in newest[:RECENT_CHANGES]]
