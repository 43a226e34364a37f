"""The local stack's request limits without a socket: ``RequestGuard`` (an ASGI layer) with
scripted ``receive``/``send``, ``HeaderDeadline`` (a uvicorn protocol) with a fake transport,
and the JSON nesting measure against a recursive one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.server import ServerState

from userpipe.local.limits import (
    Limits,
    RequestGuard,
    header_deadline_protocol,
    loads,
    nests_deeper,
)

LIMITS = Limits(body_seconds=0.2, graphql_body_bytes=100, aws_body_bytes=1000, json_depth=8)
Message = dict[str, Any]


class App:
    """The app behind the guard: records what reached it, answers 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Message]]] = []

    async def __call__(
        self, scope: Any, receive: Callable[[], Awaitable[Message]], send: Any
    ) -> None:
        first = await receive()
        self.calls.append((scope["path"], [first]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def scope(
    path: str = "/", content_type: bytes = b"application/json", length: int | None = None
) -> Message:
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "path": path, "headers": headers}


def guard(app: App, request: Message, chunks: list[bytes], *, stall: bool = False) -> list[Message]:
    """Run one request through the guard; what it sent. ``stall``: after ``chunks`` the
    client sends nothing more, ever."""
    sent: list[Message] = []
    pending = [
        {"type": "http.request", "body": chunk, "more_body": stall or n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # a client that never sends again
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(RequestGuard(app, LIMITS)(request, receive, send))
    return sent


def status(sent: list[Message]) -> tuple[int, Any]:
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_the_app_gets_the_whole_body_in_one_message_once_it_has_all_arrived() -> None:
    app = App()
    sent = guard(app, scope(), [b'{"a"', b": ", b"1}"])
    assert app.calls == [("/", [{"type": "http.request", "body": b'{"a": 1}', "more_body": False}])]
    assert sent[0]["status"] == 200


@pytest.mark.parametrize(("path", "limit"), [("/graphql", 100), ("/graphql/", 100), ("/", 1000)])
def test_a_body_announced_past_the_limit_is_refused_413_without_reading_it(
    path: str, limit: int
) -> None:
    app = App()
    code, body = status(guard(app, scope(path, length=limit + 1), [], stall=True))
    assert code == 413 and app.calls == []
    assert "RequestEntityTooLargeException" in json.dumps(body)


def test_a_body_at_the_limit_is_accepted() -> None:
    app = App()
    guard(app, scope("/graphql", length=100), [b"x" * 100])
    assert len(app.calls) == 1


def test_a_streamed_body_is_counted_as_it_arrives() -> None:
    app = App()
    sent = guard(app, scope("/graphql"), [b"x" * 60, b"x" * 41])
    assert status(sent)[0] == 413 and app.calls == []
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_body_that_stops_arriving_is_answered_408_after_the_deadline() -> None:
    app = App()
    code, body = status(guard(app, scope(), [b'{"a"'], stall=True))
    assert code == 408 and app.calls == []
    assert body["__type"] == "RequestTimeoutException"


def test_refusals_take_the_endpoints_shape() -> None:
    graphql = status(guard(App(), scope("/graphql", length=101), [], stall=True))[1]
    aws = status(guard(App(), scope("/", length=1001), [], stall=True))[1]
    assert graphql["errors"][0]["errorType"] == "RequestEntityTooLargeException"
    assert aws["__type"] == "RequestEntityTooLargeException"


def test_a_client_that_leaves_mid_body_never_reaches_the_app() -> None:
    app = App()
    sent: list[Message] = []
    messages = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(RequestGuard(app, LIMITS)(scope(), receive, send))
    assert app.calls == [] and sent == []


@pytest.mark.parametrize(
    "path",
    ["/graphql\x00", "/\x00", "/console/app.js\x00", "/2015-03-31/functions/f\x00/invocations"],
)
def test_a_nul_in_the_path_is_404_on_every_route(path: str) -> None:
    app = App()
    assert status(guard(app, scope(path), [b"{}"]))[0] == 404
    assert app.calls == []


@pytest.mark.parametrize(
    ("path", "content_type", "error_type"),
    [
        ("/graphql", b"application/json", "MalformedHttpRequestException"),
        ("/2015-03-31/functions/f/invocations", b"", "InvalidRequestContentException"),
        ("/", b"application/x-amz-json-1.0", "SerializationException"),
        ("/v2/email/outbound-emails", b"application/json", "SerializationException"),
    ],
)
def test_json_nested_past_the_depth_is_400_where_the_body_is_json(
    path: str, content_type: bytes, error_type: str
) -> None:
    app = App()
    code, body = status(guard(app, scope(path, content_type), [b"[" * 9 + b"]" * 9]))
    assert code == 400 and app.calls == []
    assert error_type in json.dumps(body)


def test_json_at_the_depth_and_bodies_that_are_not_json_pass() -> None:
    app = App()
    guard(app, scope("/graphql"), [b"[" * 8 + b"]" * 8])
    guard(app, scope("/bucket/key", b"application/octet-stream"), [b"[" * 900])
    assert len(app.calls) == 2


def test_websockets_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(RequestGuard(app, LIMITS)({"type": "websocket", "path": "/\x00"}, None, None))  # type: ignore[arg-type]
    assert seen == ["websocket"]


# --- JSON nesting -----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\a ')),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet=st.sampled_from('[]{}"\\k')), inner, max_size=3)
    ),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(JSON, st.integers(min_value=0, max_value=6))
def test_nesting_counts_arrays_and_objects_brackets_in_strings_aside(
    value: Any, limit: int
) -> None:
    text = json.dumps(value)
    assert nests_deeper(text, limit) is nests_deeper(text.encode(), limit) is (depth(value) > limit)


def test_a_body_nested_100_000_deep_is_measured_without_recursion() -> None:
    assert nests_deeper(b"[" * 100_000 + b"]" * 100_000, 99_999)
    assert not nests_deeper(b"[" * 100_000 + b"]" * 100_000, 100_000)
    with pytest.raises(ValueError, match="nested deeper than 128"):
        loads("[" * 100_000 + "]" * 100_000)
    assert loads('{"a": [1, {"b": "[[["}]}') == {"a": [1, {"b": "[[["}]}


# --- header deadline ------------------------------------------------------------------------------


class Transport(asyncio.Transport):
    """Enough of a socket transport for uvicorn's h11 protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 4747)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


def connect(deadline: float) -> tuple[Any, Transport, asyncio.AbstractEventLoop]:
    """A ``HeaderDeadline`` protocol on a fake connection, answering every request 204."""

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config(answer, lifespan="off", ws="none", log_level="critical")
    config.load()
    loop = asyncio.new_event_loop()
    protocol = header_deadline_protocol(deadline)(config, ServerState(), {}, _loop=loop)
    transport = Transport()
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return protocol, transport, loop


def settle(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


@pytest.mark.parametrize("sent", [[b"GET / HTTP/1.1\r\nHo"], [b"GET / HTTP/1.1\r\n", b"A"]])
def test_headers_not_complete_by_the_deadline_are_answered_408_and_closed(
    sent: list[bytes],
) -> None:
    protocol, transport, loop = connect(0.05)
    for data in sent:
        protocol.data_received(data)
    settle(loop, 0.2)
    assert transport.closed
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    loop.close()


def test_a_connection_that_never_sent_a_byte_is_closed_without_an_answer() -> None:
    """What a browser's socket opened ahead of need expects: no 408 it could take for the
    answer to a request it sends as the server gives up."""
    _, transport, loop = connect(0.05)
    settle(loop, 0.2)
    assert transport.closed and transport.written == b""
    loop.close()


def test_complete_headers_disarm_the_deadline_and_an_idle_kept_alive_connection_stays() -> None:
    protocol, transport, loop = connect(0.05)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    settle(loop, 0.2)  # answered, then idle past the deadline: no request under way
    assert transport.written.startswith(b"HTTP/1.1 204 ")
    assert not transport.closed
    protocol.data_received(b"GET / HTTP/1.1\r\n")  # a next request's first bytes: armed again
    settle(loop, 0.2)
    assert transport.closed and transport.written.count(b"HTTP/1.1 408 ") == 1
    loop.close()


def test_a_websocket_upgrade_is_not_cut_off_by_the_header_deadline() -> None:
    _, transport, loop = connect(0.05)
    transport.set_protocol(object())  # what uvicorn does when it upgrades the connection
    settle(loop, 0.2)
    assert not transport.closed and transport.written == b""
    loop.close()


def test_an_unterminated_string_of_escaped_quotes_is_measured_in_linear_time() -> None:
    """A scan that retried every quote took seconds here and grows with the square of the
    size; the bound is a thousand times what a linear scan needs, so it never flakes."""
    body = b'["' + b'\\"' * 200_000
    started = time.monotonic()
    assert nests_deeper(body, 0)  # one array; the rest is one unterminated string
    assert not nests_deeper(body, 1)
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("text", "deepest"),
    [
        (r'["\"", [[]]]', 3),  # an escaped quote does not end the string
        (r'["a\\", "[[[["]', 1),  # an escaped backslash does not escape the quote after it
        (r'["\\\"[[[[", []]', 2),  # both
        (r'[{"a": "]]]]"}, [[{}]]]', 4),  # closers in a string close nothing
        ('["unterminated [[[[[[', 1),  # a parser reads nothing past the open string
    ],
)
def test_strings_and_escapes_are_read_as_a_json_parser_reads_them(text: str, deepest: int) -> None:
    assert nests_deeper(text, deepest - 1) and not nests_deeper(text, deepest)
