"""The local stack's ports: every AWS API the stack uses (moto), Cognito's codes and trigger in
front of it, GraphQL at ``/graphql`` and its real-time endpoint at ``/graphql/realtime``
(WebSocket) — the same app over plain HTTP and over TLS (``userpipe.local.tls``).

Served by uvicorn on sockets bound beforehand (a port in use is a clear error before anything
starts) with ``TCP_NODELAY``: without it, a response written in two segments waits for the
client's delayed ACK, 40 ms a request (measured here: 23 requests/s instead of ~1,500). moto's
WSGI app runs in a2wsgi's thread pool.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import uvicorn
from a2wsgi import WSGIMiddleware
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from userpipe.errors import UserpipeError
from userpipe.local import faults, iam
from userpipe.local.faults import FaultPlan, caller
from userpipe.local.guard import Guard, Reach
from userpipe.local.iam import PRINCIPAL_KEY, SignatureError, SignatureVerifier
from userpipe.local.limits import Limits, RequestGuard

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
GRAPHQL_PATH: Final = "/graphql"
REALTIME_PATH: Final = f"{GRAPHQL_PATH}/realtime"
WORKERS: Final = 16
#: Threads for the functions' own calls (requests signed with a sandbox's credentials), apart
#: from the clients'. A client's ``ConfirmSignUp`` holds its thread until the trigger returns,
#: and the trigger's ``PutEvents`` is served by the same app: with one pool, 16 confirmations
#: waiting on the trigger left no thread for its ``PutEvents``, which timed out (the trigger
#: failed, the pollers' calls stalled: ``python -m bench.feel --rates=40``, 2026-12-04). In AWS
#: Cognito's callers never take EventBridge's capacity. Each sandbox makes one call at a time,
#: so the functions never hold more threads than there are sandboxes.
FUNCTION_WORKERS: Final = 16

#: Requests after which a poller has something to do (X-Amz-Target prefixes and operations).
_QUEUE_WORK: Final = ("AmazonSQS.SendMessage", "AWSEvents.PutEvents", "AWSEvents.StartReplay")
_STREAM_WORK: Final = (
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.DeleteItem",
    "DynamoDB_20120810.BatchWriteItem",
    "DynamoDB_20120810.TransactWriteItems",
)


class PortInUseError(UserpipeError, OSError):
    def __init__(self, host: str, port: int, option: str = "--port") -> None:
        super().__init__(
            f"{host}:{port} is already in use: stop what listens there, or choose another "
            f"port with {option} (0 picks a free one)"
        )


def bind(host: str, port: int, option: str = "--port") -> socket.socket:
    """A listening socket; ``option`` is what the error names to choose another port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port, option) from None
        raise
    sock.listen(128)
    return sock


def emulator() -> WSGIApp:
    """moto's server app: every AWS service, dispatched by host or signature."""
    app: WSGIApp = _Dispatcher(create_backend_app)
    return app


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves a host. moto 5.2.5 answers that by
    listing its own package directory (about 180 ``stat`` calls) for every request, under a
    lock every request shares: 1.3 ms of a 2.4 ms ``ListQueues`` measured here (cProfile,
    ``list_of_moto_modules``), and it serialises the stack's concurrent requests. A host's
    backend cannot change while the process runs, so it is looked up once."""

    def __init__(self, create_app: Callable[..., Any]) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        try:
            return self._backends[host]
        except KeyError:
            backend = self._backends[host] = super().get_backend_for_host(host)
            return backend


class RequestCounts:
    """The AWS API requests the stack served, per caller (``operator`` or a function's name) and
    action (``DynamoDB_20120810.PutItem``; a REST request by method and first path segment). The
    benchmarks read it (``/console/requests``) to count what a command really makes at the
    server, its pollers' and functions' calls included; it holds counts only, never a request's
    content. ``InProcessAws`` calls (Cognito's front, the local CloudTrail) do not pass the
    router and are not counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()

    #: Distinct (caller, action) pairs kept; past it a new pair counts under ``other``, so
    #: unsigned requests to made-up paths cannot grow it without end.
    KEYS_KEPT: Final = 1000

    def add(self, caller: str, action: str) -> None:
        with self._lock:
            if (caller, action) not in self._counts and len(self._counts) >= self.KEYS_KEPT:
                caller, action = "other", "other"
            self._counts[caller, action] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Caller -> action -> requests served since the stack started."""
        with self._lock:
            counts = list(self._counts.items())
        out: dict[str, dict[str, int]] = {}
        for (who, what), count in sorted(counts):
            out.setdefault(who, {})[what] = count
        return out


def action(environ: dict[str, Any]) -> str:
    """What a request asks for: its ``X-Amz-Target`` (the JSON protocols), its query's
    ``Action`` (the query protocol), else its method and the first segment of its path."""
    if target := environ.get("HTTP_X_AMZ_TARGET"):
        return str(target)
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("Action"):
        return str(query["Action"][0])
    segment = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
    return f"{environ.get('REQUEST_METHOD', 'GET')} /{segment}"


class Router:
    """The stack's WSGI app. Until the stack is provisioned everything goes to the emulator;
    then Cognito's front and the GraphQL endpoint take their share. Every AWS API request and
    Lambda ``Invoke`` is authenticated first (``iam.authenticate``: a valid signature, or one of
    Cognito's public operations). After a request that gives a poller work, it is woken at once
    (otherwise it looks again within a second)."""

    def __init__(self, emulator_app: WSGIApp, verifier: SignatureVerifier) -> None:
        self.emulator = emulator_app
        self.verifier = verifier
        self.front: WSGIApp = emulator_app
        self.graphql: WSGIApp | None = None
        self.console: Any = None  # userpipe.local.console.ConsoleApp, once provisioned
        self.lambda_invoke: LambdaInvoke | None = None
        self.on_queue_work: Callable[[], None] = lambda: None
        self.on_stream_work: Callable[[], None] = lambda: None
        self.faults: FaultPlan | None = None  # the reliability tests' (see userpipe.local.faults)
        self.sandbox_named: Callable[[str], Any] = lambda name: None
        self.requests = RequestCounts()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if self.graphql is not None and path.rstrip("/") == GRAPHQL_PATH:
            return self.graphql(environ, start_response)
        if self.console is not None and self.console.matches(environ):
            return self.console(environ, start_response)
        try:
            environ = iam.authenticate(environ, self.verifier)
        except SignatureError as refused:
            return iam.refuse(environ, start_response, refused)
        principal = environ.get(PRINCIPAL_KEY)
        self.requests.add(principal.name if principal else "unsigned", action(environ))
        if self.lambda_invoke is not None and (sandbox := self.lambda_invoke.matches(environ)):
            return self.lambda_invoke(sandbox, environ, start_response)
        try:
            if self.faults is not None and (fault := self._fault(environ)):
                return fault(start_response)
            return self.front(environ, start_response)
        except NotImplementedError as missing:  # the emulator lacks an operation
            return _not_emulated(start_response, str(missing))
        finally:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith(_QUEUE_WORK):
                self.on_queue_work()
            elif target.startswith(_STREAM_WORK):
                self.on_stream_work()

    def _fault(self, environ: dict[str, Any]) -> Callable[[Callable[..., Any]], Any] | None:
        """The fault the plan injects into this request, ready to answer it; ``None``: none."""
        assert self.faults is not None
        function = caller(environ)
        sandbox = self.sandbox_named(function) if function else None
        if sandbox is None:
            return None
        fault = self.faults.decide(sandbox.function_name, environ.get("HTTP_X_AMZ_TARGET", ""))
        if fault is None:
            return None
        return lambda start_response: faults.apply(
            fault,
            environ,
            start_response,
            lambda respond: self.front(environ, respond),
            kill=sandbox.kill,
            timeout_seconds=sandbox.spec.timeout_seconds,
        )


def _not_emulated(start_response: Callable[..., Any], what: str) -> list[bytes]:
    body = json.dumps(
        {"__type": "NotImplementedException", "message": f"not emulated locally: {what}"}
    ).encode()
    start_response(
        "501 Not Implemented",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", "NotImplementedException"),
        ],
    )
    return [body]


class AsgiRouter:
    """HTTP to the WSGI router (in a2wsgi's thread pools: one for the requests a function signs,
    ``from_function`` of their access key id, one for everyone else's; see
    ``FUNCTION_WORKERS``); WebSockets at ``REALTIME_PATH`` to the real-time endpoint, once there
    is one; any other WebSocket is refused. The pool is chosen by the key a request names, before
    its signature is checked: a client naming a function's key only changes which threads
    refuse it."""

    def __init__(
        self,
        app: WSGIApp,
        realtime: ASGIApp | None = None,
        *,
        from_function: Callable[[str], bool] | None = None,
    ) -> None:
        self._http = WSGIMiddleware(app, workers=WORKERS)  # type: ignore[arg-type]
        self._functions_http = WSGIMiddleware(app, workers=FUNCTION_WORKERS)  # type: ignore[arg-type]
        self._from_function = from_function or (lambda _key: False)
        self.realtime = realtime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            if self.realtime is not None and scope.get("path", "").rstrip("/") == REALTIME_PATH:
                await self.realtime(scope, receive, send)
                return
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        key = _access_key(scope)
        http = self._functions_http if key and self._from_function(key) else self._http
        await http(scope, receive, send)


def _access_key(scope: Any) -> str | None:
    """The access key id an HTTP request's ``Authorization`` names (``Credential=<id>/...``)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            _, found, rest = value.decode("latin-1").partition("Credential=")
            return rest.split("/", 1)[0] if found else None
    return None


class Server:
    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        *,
        certificate: tuple[str, str] | None = None,  # (cert, key) PEM paths: serve TLS
        limits: Limits | None = None,  # deadlines and sizes (userpipe.local.limits)
        reach: Reach | None = None,  # who may reach the port (userpipe.local.guard)
    ) -> None:
        self._sock = sock
        limits = limits or Limits()
        # Bodies are read whole on the loop, before the WSGI pool; a request from a host or
        # origin the stack does not serve is refused before its body is read.
        guarded: ASGIApp = RequestGuard(app, limits)
        if reach is not None:
            guarded = Guard(guarded, reach)
        config = uvicorn.Config(
            guarded,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            ws="websockets-sansio",
            ws_ping_interval=None,  # the protocol's own "ka" messages keep sockets alive
            ssl_certfile=certificate[0] if certificate else None,
            ssl_keyfile=certificate[1] if certificate else None,
            **limits.uvicorn_options(),
        )
        self._server = uvicorn.Server(config)
        name = "local-stack-https" if certificate else "local-stack-http"
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local stack's HTTP server did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # graceful shutdown took too long: close regardless
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()


class LambdaInvoke:
    """Lambda's ``Invoke`` (REST: ``POST /2015-03-31/functions/<name>/invocations``) for the
    stack's own functions, run in their sandboxes — moto would need Docker. A synchronous call
    answers the function's result, or its error with ``X-Amz-Function-Error: Unhandled``, as
    Lambda does; ``Event`` calls are accepted (202) and run before the answer."""

    PREFIX: Final = "/2015-03-31/functions/"

    def __init__(self, sandboxes: Callable[[str], Any]) -> None:
        self._sandbox = sandboxes  # function name (or ARN) -> sandbox, or None

    def matches(self, environ: dict[str, Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(self.PREFIX):
            return None
        name, _, rest = path[len(self.PREFIX) :].partition("/")
        return self._sandbox(urllib.parse.unquote(name)) if rest == "invocations" else None

    def __call__(
        self, sandbox: Any, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            event = json.loads(body or b"{}")
        except ValueError:
            return _payload_not_json(start_response)
        invocation = sandbox.invoke(event)
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            start_response("202 Accepted", [*headers, ("Content-Length", "0")])
            return [b""]
        payload = invocation.result if invocation.ok else invocation.error
        data = json.dumps(payload).encode()
        if not invocation.ok:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
        return [data]


def _payload_not_json(start_response: Callable[..., Any]) -> list[bytes]:
    """Lambda's answer to an ``Invoke`` payload that is not JSON."""
    data = json.dumps(
        {"Type": "User", "message": "Could not parse request body into json"}
    ).encode()
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("x-amzn-ErrorType", "InvalidRequestContentException"),
        ],
    )
    return [data]
