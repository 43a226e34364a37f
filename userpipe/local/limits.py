"""What one client can make the local stack's ports hold, and for how long.

The functions call the stack's AWS APIs over the same HTTP port as everyone else, and moto runs
in a2wsgi's pool of ``WORKERS`` threads (``userpipe.local.server``), which reads a request's body
from the app's thread. Left to uvicorn and a2wsgi, a client that sends its body slowly holds a
worker until it finishes (a handful of them stall every call the functions make), and a client
that never finishes its headers holds a connection forever: uvicorn's h11 protocol has a
keep-alive timeout after a response and none before a request's headers are complete
(``H11Protocol.data_received`` even cancels the keep-alive timer on the first byte of the next
request). So:

- **Headers**: ``header_deadline_protocol`` closes a connection whose request headers are not
  complete ``header_seconds`` after it opened, or after the first byte of its next request
  (answering 408 first). Their size stays bounded by h11 (16 KiB, answered 400). TLS handshakes
  are asyncio's to bound (60 s).
- **Bodies**: ``RequestGuard`` reads the whole body on the event loop, within ``body_seconds``
  and up to the endpoint's size limit, *before* the app — and a2wsgi's thread pool — sees the
  request: 413 past the limit (without reading, when ``Content-Length`` says so), 408 past the
  deadline. A worker thread is only ever given a request whose body is complete.
- **JSON nested deeper than** ``json_depth``: 400. Python's ``json`` raises ``RecursionError``
  near 1,000 levels, in moto as in the stack's own endpoints; no AWS request nests past a
  hundred (DynamoDB caps an item at 32 levels of maps and lists, two JSON objects each).
- **A NUL in the path**: 404. No route has one; moto's S3 fallback and the console's static files
  would fail on it with 500.
- **Real-time messages**: at most ``realtime_message_bytes`` (uvicorn's ``ws_max_size``; a
  larger one closes the socket with 1009, "message too big").

The size limits are AWS's own:

- ``/graphql``: AppSync's quotas name no request-size quota (they list the 240 kB
  subscription payload, the 1 MB schema, 64 KB mapping templates: AWS General Reference, "AWS
  AppSync endpoints and quotas"). Every field here is resolved by a direct Lambda resolver
  whose event carries the request's arguments and variables, and Lambda takes at most 6 MB
  synchronously (Lambda API reference, ``Invoke``): no larger request could be resolved in AWS.
- The AWS APIs: one generous cap, the largest request a service the stack uses accepts —
  DynamoDB's ``BatchWriteItem``, "up to 16MB of data over the network" (DynamoDB API
  reference). The others are smaller: an SQS message up to 1 MiB (SQS developer guide, message
  quotas: ``MaximumMessageSize`` up to 1,048,576 bytes), EventBridge ``PutEvents`` entries
  under 256 KB (EventBridge user guide, "Calculating PutEvents event entry size"), a Lambda
  ``Invoke`` payload 6 MB (1 MB asynchronous). Those bound a field or an entry, not the HTTP
  body (JSON escaping and the request's envelope make a valid body larger than its payload),
  and the emulator enforces them where it does; the port only needs a bound that keeps one
  request's memory finite without refusing what AWS would accept.
- Real-time: AppSync's "Subscription payload size", 240 kB (AWS General Reference, AppSync
  quotas). It names what AppSync delivers; AppSync documents no size for a client's own
  messages, which a ``start`` carrying a query and its variables never comes near.
"""

from __future__ import annotations

import asyncio
import json
import re
from array import array
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MB: Final = 1024 * 1024
#: A request's headers: SDKs and browsers send theirs at once; 10 s is generous on any link.
HEADER_SECONDS: Final = 10.0
#: A request's body once its headers are in: 16 MB at 5 Mbit/s takes ~27 s.
BODY_SECONDS: Final = 30.0
GRAPHQL_BODY_BYTES: Final = 6 * MB  # Lambda's synchronous payload: see above
AWS_BODY_BYTES: Final = 16 * MB  # DynamoDB's BatchWriteItem: see above
REALTIME_MESSAGE_BYTES: Final = 240 * 1024  # AppSync's subscription payload size
#: DynamoDB nests an item 32 levels deep at most, two JSON objects a level in its wire format,
#: plus the request's own envelope: ~70. Twice that leaves room; Python's json needs < 1,000.
JSON_DEPTH: Final = 128

#: Bodies measured for JSON depth on the event loop itself: anything larger goes to a thread.
_INLINE_BYTES: Final = 256 * 1024

GRAPHQL_PATH: Final = "/graphql"
LAMBDA_INVOKE_PREFIX: Final = "/2015-03-31/functions/"


@dataclass(frozen=True)
class Limits:
    header_seconds: float = HEADER_SECONDS
    body_seconds: float = BODY_SECONDS
    graphql_body_bytes: int = GRAPHQL_BODY_BYTES
    aws_body_bytes: int = AWS_BODY_BYTES
    realtime_message_bytes: int = REALTIME_MESSAGE_BYTES
    json_depth: int = JSON_DEPTH

    def body_bytes(self, path: str) -> int:
        return self.graphql_body_bytes if _is_graphql(path) else self.aws_body_bytes

    def uvicorn_options(self) -> dict[str, Any]:
        """What ``uvicorn.Config`` takes to hold these limits (with ``RequestGuard``)."""
        return {
            "http": header_deadline_protocol(self.header_seconds),
            "ws_max_size": self.realtime_message_bytes,
        }


# --- bodies, paths, JSON: an ASGI layer ---------------------------------------------------------


class RequestGuard:
    """In front of the stack's ASGI app: an HTTP request reaches ``app`` with its whole body
    already read (within the deadline and the size limit), a path without NUL and, when JSON,
    nested no deeper than ``json_depth``; anything else is answered here. WebSockets pass."""

    def __init__(self, app: ASGIApp, limits: Limits | None = None) -> None:
        self._app = app
        self._limits = limits or Limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        refuse = _Refusal(send, path)
        if "\x00" in path:
            await refuse(404, "NotFoundException", "no such path: it has a NUL character")
            return
        limit = self._limits.body_bytes(path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refuse(413, "RequestEntityTooLargeException", _too_large(limit))
            return
        try:
            async with asyncio.timeout(self._limits.body_seconds):
                body = await _read_body(receive, limit)
        except TimeoutError:
            message = f"the request body did not arrive within {self._limits.body_seconds:g} s"
            await refuse(408, "RequestTimeoutException", message)
            return
        except _TooLargeError:
            await refuse(413, "RequestEntityTooLargeException", _too_large(limit))
            return
        except _DisconnectedError:
            return
        if _is_json(scope, path) and await _nests_deeper(body, self._limits.json_depth):
            await refuse(
                400, _malformed(path), f"the JSON body nests deeper than {self._limits.json_depth}"
            )
            return
        await self._app(scope, _replay(body, receive), send)


class _TooLargeError(Exception):
    pass


class _DisconnectedError(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _nests_deeper(body: bytes, depth: int) -> bool:
    """``nests_deeper``, in a thread for a large body: 16 MB of brackets take up to a second of
    CPU (measured here); off the loop, its other connections are served between the steps."""
    if len(body) <= _INLINE_BYTES:
        return nests_deeper(body, depth)
    return await asyncio.to_thread(nests_deeper, body, depth)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The app's ``receive``: the whole body in one message, then the connection's own."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # h11 refuses a malformed one before this
                return None
    return None


def _is_graphql(path: str) -> bool:
    return path.rstrip("/") == GRAPHQL_PATH


def _is_json(scope: Scope, path: str) -> bool:
    """The endpoints whose body is JSON: every JSON content type (AWS's JSON protocols, SES v2,
    GraphQL) and the two the stack parses as JSON whatever the client calls it."""
    if _is_graphql(path) or path.startswith(LAMBDA_INVOKE_PREFIX):
        return True
    return any(name == b"content-type" and b"json" in value for name, value in scope["headers"])


def _too_large(limit: int) -> str:
    return f"the request body is larger than this endpoint's limit of {limit} bytes"


def _malformed(path: str) -> str:
    if _is_graphql(path):
        return "MalformedHttpRequestException"
    if path.startswith(LAMBDA_INVOKE_PREFIX):
        return "InvalidRequestContentException"  # Lambda's answer to a payload it cannot parse
    return "SerializationException"  # AWS's JSON protocols' answer to a body they cannot read


class _Refusal:
    """Answers a request the guard refuses, in its endpoint's shape: AppSync's ``errors`` for
    GraphQL, AWS's JSON error (``__type``, ``message``) elsewhere. The connection is closed:
    the rest of the body is never read."""

    def __init__(self, send: Send, path: str) -> None:
        self._send = send
        self._graphql = _is_graphql(path)

    async def __call__(self, status: int, error_type: str, message: str) -> None:
        shape: dict[str, Any] = (
            {"errors": [{"errorType": error_type, "message": message}]}
            if self._graphql
            else {"__type": error_type, "message": message}
        )
        body = json.dumps(shape).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        if not self._graphql:
            headers.append((b"x-amzn-errortype", error_type.encode()))
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})


# --- JSON nesting ---------------------------------------------------------------------------------

#: A string, once escapes are gone; the closing quote optional, so an unterminated one ends the
#: scan instead of being retried from every later quote (which would be quadratic).
_STRING = re.compile(rb'"[^"]*"?')
#: Brackets of both kinds as parentheses, quotes kept, everything else deleted.
_MARKS = bytes.maketrans(b"[{]}", b"(())")
_NOT_MARKS = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_STEPS = bytes.maketrans(b"()", b"\x01\xff")  # +1 and -1 as signed bytes
_CHUNK = 64 * 1024


def nests_deeper(data: bytes | str, depth: int) -> bool:
    """Whether ``data`` (JSON) nests arrays and objects deeper than ``depth``, brackets inside
    strings aside; without recursion, in time linear in the body (mostly ``bytes`` operations
    in C), so a body can be judged before any parser that recurses sees it. Strings are found
    as a JSON parser finds them, left to right, so for every prefix a parser reads the two
    agree (past a bracket that does not pair up, a parser reads no further)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= depth:
        return False  # most bodies: too few openers to nest that deep
    # Escapes, paired left to right as a parser pairs them: none can end a string once gone.
    raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = raw.translate(_MARKS, _NOT_MARKS)  # quotes and parentheses only
    # A string without brackets is "" now; so is a string's end next to the next one's start,
    # with nothing but deleted bytes between: dropping those merges neighbours, which keeps
    # every bracket on its side of the quotes. The few strings left are those with brackets.
    parens = _STRING.sub(b"", marks.replace(b'""', b""))
    if parens.count(b"(") <= depth:
        return False
    level = 0
    for start in range(0, len(parens), _CHUNK):  # a chunk at a time: a deep body stops early
        steps = array("b", parens[start : start + _CHUNK].translate(_STEPS))
        levels = list(accumulate(steps, initial=level))
        if max(levels) > depth:
            return True
        level = levels[-1]
    return False


def loads(text: str | bytes, depth: int = JSON_DEPTH) -> Any:
    """``json.loads``, refusing JSON nested deeper than ``depth`` with a ``ValueError`` (where
    ``json`` would raise ``RecursionError`` past ~1,000 levels, or parse a value too deep for
    whoever walks it next)."""
    if nests_deeper(text, depth):
        raise ValueError(f"JSON nested deeper than {depth} levels")
    return json.loads(text)


# --- headers: a uvicorn protocol ------------------------------------------------------------------

_HEADERS_LATE: Final = b"the request headers did not arrive in time"
_REQUEST_TIMEOUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_HEADERS_LATE), _HEADERS_LATE)
)


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, with a deadline on request headers: from the connection's
    opening, and from the first byte of each later request (an idle kept-alive connection is
    uvicorn's keep-alive timeout's to close). A request cut off mid-headers is answered 408; a
    connection that never sent a byte is closed without one, as browsers expect of the sockets
    they open ahead of need. ``header_seconds`` is set by ``header_deadline_protocol``."""

    header_seconds: float = HEADER_SECONDS
    _header_timer: asyncio.TimerHandle | None = None
    _request_begun = False  # a byte of the request the deadline runs for has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of the connection's next request
        self._request_begun = True
        super().data_received(data)
        self._disarm_once_headers_are_in()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already buffered, but not whole, sends no further byte to arm on.
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._arm(begun=True)
        self._disarm_once_headers_are_in()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, *, begun: bool = False) -> None:
        self._disarm()
        self._request_begun = begun
        self._header_timer = self.loop.call_later(self.header_seconds, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _disarm_once_headers_are_in(self) -> None:
        if self._header_timer is not None and not self._awaiting_headers():
            self._disarm()

    def _awaiting_headers(self) -> bool:
        return (
            self.conn.their_state is h11.IDLE
            and not self.transport.is_closing()
            and self.transport.get_protocol() is self  # not upgraded to a WebSocket
        )

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._awaiting_headers():
            if self._request_begun:
                self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


def header_deadline_protocol(seconds: float) -> type[HeaderDeadline]:
    """``HeaderDeadline`` with a deadline of ``seconds`` (uvicorn builds protocols itself)."""
    protocol: type[HeaderDeadline] = type(
        "HeaderDeadline", (HeaderDeadline,), {"header_seconds": seconds}
    )
    return protocol
