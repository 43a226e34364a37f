"""The local stack against slow and oversized requests, on its real ports: slow clients cannot
starve the worker threads the functions' own calls need, a client that stalls mid-request is
cut off after the deadline, and a body past its endpoint's limit is answered 413.

The stack here has short deadlines (``DEADLINE`` seconds) and AWS's size limits. Timings are
printed (``-s``), not asserted: only that a cut-off never comes before its deadline."""

from __future__ import annotations

import http.client
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.endpoints import ENDLESS_HEADERS, announced_body, slow_clients
from tests.support import STACK_PASSWORD
from userpipe.local.client import StackClient, wait_for
from userpipe.local.limits import Limits
from userpipe.local.server import WORKERS
from userpipe.local.stack import LocalStack, LocalStackOptions

pytestmark = pytest.mark.integration
DEADLINE = 2.0
#: Longer than any deadline here: a stalled client still connected after it was not cut off.
CUT_OFF_WAIT = 20.0
IAM = "AWS4-HMAC-SHA256 Credential=slow/20260101/eu-west-1/appsync/aws4_request"
DYNAMODB = {
    "X_Amz_Target": "DynamoDB_20120810.ListTables",
    "Authorization": "AWS4-HMAC-SHA256 Credential=slow/20260101/eu-west-1/dynamodb/aws4_request",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("stack")
    limits = Limits(header_seconds=DEADLINE, body_seconds=DEADLINE)
    with LocalStack(LocalStackOptions(state_dir=state, stage="test", limits=limits)) as running:
        yield running


def sign_up_until_projected(client: StackClient) -> float:
    """Sign up and confirm a new user; seconds until the pipeline has written their item."""
    started = time.monotonic()
    sub = client.sign_up(f"slow-{uuid.uuid4().hex[:8]}@example.com", STACK_PASSWORD)
    wait_for(lambda: sub in client.users(), timeout=CUT_OFF_WAIT * 2, what=f"the item of {sub}")
    return time.monotonic() - started


def test_a_sign_up_is_confirmed_while_twenty_slow_clients_hold_the_http_port(
    stack: LocalStack, client: StackClient
) -> None:
    """More slow bodies than a2wsgi has worker threads, and clients that never finish their
    headers: the confirmation's trigger, the projector and the pollers all call the same port."""
    alone = sign_up_until_projected(client)
    bodies = 16
    assert bodies >= WORKERS  # enough to hold every worker, if bodies were read there
    openings = [ENDLESS_HEADERS] * 4 + [
        announced_body("/graphql", 100_000, Authorization=IAM)
        if n % 2
        else announced_body("/", 100_000, **DYNAMODB)
        for n in range(bodies)
    ]
    with slow_clients(stack.port, openings) as slow:
        wait_for(lambda: slow.connected == len(openings), what="every slow client connected")
        time.sleep(0.5)  # each slow body is being read
        crowded = sign_up_until_projected(client)
        assert time.monotonic() < slow.ends_at, "the slow clients gave up before the sign-up"
        held = slow.connected
    print(f"\nsign-up to item: {alone:.2f} s alone, {crowded:.2f} s beside 20 slow clients")
    print(f"slow clients still connected at the end: {held}, cut off and back: {slow.cut_off}")


def read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    connection.settimeout(CUT_OFF_WAIT)
    started, received = time.monotonic(), b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server still held the stalled request after {CUT_OFF_WAIT} s")
    return received, time.monotonic() - started


@pytest.mark.parametrize(
    "stalled",
    [
        pytest.param(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le", id="mid-headers"),
        pytest.param(b"GET / HTTP/1.1\r\n", id="after-the-request-line"),
        pytest.param(b"", id="before-any-byte"),
        pytest.param(announced_body("/graphql", 100, Authorization=IAM) + b"{", id="mid-body"),
        pytest.param(announced_body("/", 100, **DYNAMODB) + b'{"Li', id="mid-body-aws"),
    ],
)
def test_a_client_that_stalls_mid_request_is_cut_off_after_the_deadline(
    stack: LocalStack, stalled: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", stack.port)) as connection:
        connection.sendall(stalled)
        answer, waited = read_until_closed(connection)
    print(f"\ncut off after {waited:.2f} s (deadline {DEADLINE} s): {answer[:40]!r}")
    assert waited >= DEADLINE - 0.25  # never before the deadline
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def test_a_client_trickling_its_headers_is_cut_off_however_steadily_it_sends(
    stack: LocalStack,
) -> None:
    """A deadline on the whole of the headers, not on silence between bytes."""
    with slow_clients(stack.port, [ENDLESS_HEADERS], interval=0.1) as slow:
        wait_for(lambda: slow.cut_off >= 1, timeout=CUT_OFF_WAIT, what="a cut-off")


def test_a_kept_alive_connection_may_idle_between_requests_past_the_header_deadline(
    stack: LocalStack,
) -> None:
    """The header deadline starts at a request's first byte: idling between requests is
    uvicorn's keep-alive timeout's business (5 s), as before."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    for _ in range(2):
        connection.request("GET", "/console/config.json")
        assert connection.getresponse().read()
        time.sleep(DEADLINE + 1.0)
    connection.close()


@pytest.mark.parametrize(
    ("opening", "shape"),
    [
        (announced_body("/graphql", Limits().graphql_body_bytes + 1, Authorization=IAM), "errors"),
        (announced_body("/", Limits().aws_body_bytes + 1, **DYNAMODB), "__type"),
    ],
    ids=["graphql-over-6-MB", "aws-api-over-16-MB"],
)
def test_a_body_announced_past_its_endpoints_limit_is_refused_413_unread(
    stack: LocalStack, opening: bytes, shape: str
) -> None:
    with socket.create_connection(("127.0.0.1", stack.port)) as connection:
        connection.sendall(opening)  # and not one byte of the body
        answer, _ = read_until_closed(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert shape.encode() in body and b"RequestEntityTooLargeException" in body


def test_a_graphql_body_streamed_past_6_mb_is_refused_413(stack: LocalStack) -> None:
    """Without Content-Length (chunked), the limit is counted as the body arrives."""
    limit = Limits().graphql_body_bytes
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: " + IAM.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunks = [1024 * 1024] * (limit // (1024 * 1024)) + [limit % (1024 * 1024) + 1]
    with socket.create_connection(("127.0.0.1", stack.port)) as connection:
        connection.sendall(head)
        for size in chunks:  # limit + 1 bytes in all, then wait: nothing left unread to reset
            connection.sendall(b"%x\r\n%s\r\n" % (size, b"x" * size))
        answer, _ = read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_the_stack_still_answers_after_the_refusals(client: StackClient) -> None:
    assert client.aws.dynamodb.list_tables()["TableNames"]
