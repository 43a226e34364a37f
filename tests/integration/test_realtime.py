"""The local stack's real-time endpoint, spoken to as AppSync's protocol asks (a `websockets`
client over wss://, trusting the local CA): who may subscribe to what, and that changes made
through the API and by the pipeline both arrive."""

from __future__ import annotations

import base64
import json
import logging
import ssl
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support import STACK_PASSWORD, confirmed
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
PASSWORD = STACK_PASSWORD
# What DataStore's subscriptions select (plus email for onCreateUser: the pipeline selects it).
FIELDS = "id name age _version _deleted _lastChangedAt __typename"
ON_UPDATE = f"subscription S($id: String) {{ onUpdateUser(id: $id) {{ {FIELDS} }} }}"
ON_CREATE = f"subscription S($id: String) {{ onCreateUser(id: $id) {{ email {FIELDS} }} }}"
EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age _version _deleted _lastChangedAt }
}"""


class Socket:
    """One real-time connection, as Amplify JS v6 opens it."""

    def __init__(self, stack: LocalStack, token: str, *, query_form: bool = False) -> None:
        outputs = stack.outputs()
        host = outputs["graphql_url"].split("/")[2]
        header = json.dumps({"Authorization": token, "host": host}).encode()
        tls = ssl.create_default_context(cafile=outputs["ca_cert_path"])
        url, protocols = outputs["realtime_url"], ["graphql-ws"]
        if query_form:  # the older form: ?header=<base64>&payload=e30=
            url += f"?header={base64.b64encode(header).decode()}&payload=e30="
        else:
            protocols.append("header-" + base64.urlsafe_b64encode(header).decode().rstrip("="))
        self.token, self.host = token, host
        self._open = ExitStack()
        self.ws: ClientConnection = self._open.enter_context(
            # 30 s: a full-suite run once saw a fresh stack's first handshake wait past 10 s
            # (the stack answers the upgrade before any work; its loop was busy elsewhere).
            connect(url, subprotocols=protocols, ssl=tls, open_timeout=30)  # type: ignore[list-item]
        )
        self.send({"type": "connection_init"})
        ack = self.receive()
        assert ack["type"] == "connection_ack", ack
        self.timeout_ms = ack["payload"]["connectionTimeoutMs"]

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, timeout: float = 10) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
            if message["type"] != "ka":
                return message

    def start(self, query: str, **variables: Any) -> tuple[str, dict[str, Any]]:
        key = str(uuid.uuid4())
        self.send({
            "id": key,
            "type": "start",
            "payload": {
                "data": json.dumps({"query": query, "variables": variables}),
                "extensions": {"authorization": {"Authorization": self.token, "host": self.host}},
            },
        })  # fmt: skip
        return key, self.receive()

    def close(self) -> None:
        self._open.close()


@pytest.fixture
def sockets(stack: LocalStack) -> Iterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for socket in opened:
        socket.close()


def test_an_owner_subscribes_to_their_own_changes_only(
    stack: LocalStack, client: StackClient, sockets: list[Socket]
) -> None:
    _, sub, token = confirmed(client)
    _, other, _ = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    socket = Socket(stack, token)
    sockets.append(socket)
    assert socket.timeout_ms == 300_000

    _, refused = socket.start(ON_UPDATE, id=other)
    assert refused["type"] == "error"
    assert refused["payload"]["errors"][0]["errorType"] == "Unauthorized"
    # Without an id (Gen 2's data client sends none): accepted, the owner's changes only.
    bare, bare_ack = socket.start(ON_UPDATE)
    assert bare_ack == {"type": "start_ack", "id": bare}
    key, ack = socket.start(ON_UPDATE, id=sub)
    assert ack == {"type": "start_ack", "id": key}
    theirs = client.graphql(EDIT, {"input": {"id": other, "name": "Not yours"}}, token=admin)
    assert theirs.status == 200 and not theirs.errors
    edited = client.graphql(
        EDIT, {"input": {"id": sub, "name": "Live", "_version": 1}}, token=token
    )
    assert edited.status == 200 and not edited.errors
    heard = [socket.receive(), socket.receive()]
    assert sorted(data["id"] for data in heard) == sorted([key, bare])  # not the other's edit
    for data in heard:
        assert data["type"] == "data"
        seen = data["payload"]["data"]["onUpdateUser"]
        assert (seen["id"], seen["name"], seen["_version"], seen["__typename"]) == (
            sub,
            "Live",
            2,
            "User",
        )
        assert seen["age"] is None

    for started in (key, bare):
        socket.send({"type": "stop", "id": started})
        assert socket.receive() == {"type": "complete", "id": started}
    client.graphql(EDIT, {"input": {"id": sub, "name": "Quiet", "_version": 2}}, token=token)
    with pytest.raises(TimeoutError):
        socket.receive(timeout=1.5)


FILTERED = (
    "subscription S($id: String, $filter: ModelSubscriptionUserFilterInput) "
    f"{{ onUpdateUser(id: $id, filter: $filter) {{ {FIELDS} }} }}"
)
EDIT_SELECTING_DATES = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age createdAt updatedAt _version _deleted _lastChangedAt }
}"""


def test_a_filter_at_appsyncs_limits_is_applied_and_one_past_them_is_refused_naming_the_limit(
    stack: LocalStack, client: StackClient, sockets: list[Socket]
) -> None:
    _, sub, token = confirmed(client)
    socket = Socket(stack, token)
    sockets.append(socket)
    six = ["Live", "Lively", "Alive", "Olive", "Liver", "Sliver"]
    _, refused = socket.start(FILTERED, id=sub, filter={"name": {"in": six}})
    assert refused["type"] == "error"
    (error,) = refused["payload"]["errors"]
    assert error["errorType"] == "BadRequest"
    assert error["message"] == (
        "filter.name.in: at most 5 values in `in` (AppSync enhanced subscription filters), got 6"
    )
    _, refused = socket.start(
        FILTERED, id=sub, filter={"or": [{"age": {"eq": n}} for n in range(11)]}
    )
    assert refused["payload"]["errors"][0]["message"].startswith(
        "filter: Filters combination exceed maximum limit of 10"
    )

    # Exactly at the limits: five values in `in`, and four fields ANDed with the id argument.
    at_limits = {
        "name": {"in": six[:5]},
        "createdAt": {"beginsWith": "20"},
        "updatedAt": {"gt": "2000"},
        "_deleted": {"ne": True},
    }
    key, ack = socket.start(FILTERED, id=sub, filter=at_limits)
    assert ack == {"type": "start_ack", "id": key}
    for version, name in enumerate(["Sliver", "Olive"], start=1):  # outside the filter, then in
        edit = {"input": {"id": sub, "name": name, "_version": version}}
        answer = client.graphql(EDIT_SELECTING_DATES, edit, token=token)
        assert answer.status == 200 and not answer.errors
    data = socket.receive()
    assert data["id"] == key and data["payload"]["data"]["onUpdateUser"]["name"] == "Olive"
    with pytest.raises(TimeoutError):
        socket.receive(timeout=1.5)


def test_an_owners_filter_without_an_id_never_reaches_another_users_change(
    stack: LocalStack, client: StackClient, sockets: list[Socket]
) -> None:
    """Gen 2's data client subscribes with a filter and no id: the resolver ANDs the owner's id
    into it, so a filter that matches another user's change (or reaches for their id inside an
    ``or``) still hears only the owner's own."""
    _, sub, token = confirmed(client)
    _, other, _ = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    socket = Socket(stack, token)
    sockets.append(socket)
    wide = {"or": [{"name": {"beginsWith": "Shared"}}, {"age": {"gt": 100}}]}
    key, ack = socket.start(FILTERED, filter=wide)
    assert ack == {"type": "start_ack", "id": key}
    _, refused = socket.start(FILTERED, filter={"or": [{"id": {"eq": other}}]})
    assert refused["type"] == "error"  # the id field twice in one filter: AppSync's rule

    for user, name in ((other, "Shared by another"), (sub, "Shared by me")):
        answer = client.graphql(
            EDIT_SELECTING_DATES, {"input": {"id": user, "name": name}}, token=admin
        )
        assert answer.status == 200 and not answer.errors
    data = socket.receive()
    assert data["id"] == key
    assert data["payload"]["data"]["onUpdateUser"]["id"] == sub
    with pytest.raises(TimeoutError):
        socket.receive(timeout=1.5)


def test_an_admin_hears_of_a_user_the_pipeline_created(
    stack: LocalStack, client: StackClient, sockets: list[Socket]
) -> None:
    _, _, admin_token = confirmed(client, admin=True)
    socket = Socket(stack, admin_token, query_form=True)
    sockets.append(socket)
    key, ack = socket.start(ON_CREATE)
    assert ack["type"] == "start_ack", ack

    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"
    sub = client.sign_up(email, PASSWORD)
    data = socket.receive(timeout=30)
    seen = data["payload"]["data"]["onCreateUser"]
    assert data["id"] == key
    assert (seen["id"], seen["email"], seen["_version"]) == (sub, email, 1)


def test_refused_credentials_close_the_connection(stack: LocalStack) -> None:
    outputs = stack.outputs()
    header = json.dumps({"Authorization": "not-a-token", "host": "localhost"}).encode()
    protocol = "header-" + base64.urlsafe_b64encode(header).decode().rstrip("=")
    tls = ssl.create_default_context(cafile=outputs["ca_cert_path"])
    with connect(outputs["realtime_url"], subprotocols=["graphql-ws", protocol], ssl=tls) as ws:  # type: ignore[list-item]
        refusal = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert refusal["type"] == "connection_error"
    assert refusal["payload"]["errors"][0]["errorType"] == "UnauthorizedException"


REALTIME_HEADERS = {
    "accept": "application/json, text/javascript",
    "content-encoding": "amz-1.0",
    "content-type": "application/json; charset=UTF-8",
}


def iam_headers(client: StackClient, canonical_uri: str, payload: str) -> dict[str, str]:
    """What Amplify JS v6 sends for IAM (``awsRealTimeIAMHeader``): a signed POST of
    ``payload`` to the GraphQL URL + ``canonical_uri``, as headers."""
    url = client.outputs["graphql_url"] + canonical_uri
    return client.signed_headers(url, payload.encode(), REALTIME_HEADERS)


def test_an_iam_operator_subscribes_with_a_signature_and_a_forged_one_is_refused(
    stack: LocalStack, client: StackClient
) -> None:
    outputs = stack.outputs()
    tls = ssl.create_default_context(cafile=outputs["ca_cert_path"])

    def opened(header: dict[str, str]) -> ClientConnection:
        protocol = "header-" + base64.urlsafe_b64encode(json.dumps(header).encode()).decode()
        return connect(
            outputs["realtime_url"],
            subprotocols=["graphql-ws", protocol.rstrip("=")],  # type: ignore[list-item]
            ssl=tls,
            open_timeout=10,
        )

    with opened(iam_headers(client, "/connect", "{}")) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        data = json.dumps({"query": ON_CREATE, "variables": {}})
        start = {
            "id": "iam-1",
            "type": "start",
            "payload": {
                "data": data,
                "extensions": {"authorization": iam_headers(client, "", data)},
            },
        }
        ws.send(json.dumps(start))
        assert _next(ws) == {"type": "start_ack", "id": "iam-1"}
        tampered = {**start, "id": "iam-2", "payload": {**start["payload"], "data": data + " "}}
        ws.send(json.dumps(tampered))  # signed for another body
        refusal = _next(ws)
        assert refusal["type"] == "error"
        assert refusal["payload"]["errors"][0]["errorType"] == "InvalidSignatureException"

    forged = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/appsync/x",
        "host": outputs["graphql_url"].split("/")[2],
    }
    with opened(forged) as ws:
        refusal = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert refusal["type"] == "connection_error"
    assert refusal["payload"]["errors"][0]["errorType"] == "IncompleteSignatureException"


def _next(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a keep-alive."""
    while (message := json.loads(ws.recv(timeout=10)))["type"] == "ka":
        pass
    return message  # type: ignore[no-any-return]


START = {"query": ON_UPDATE}
MALFORMED: list[tuple[str, Any]] = [
    ("payload.data an object", {"type": "start", "id": "a", "payload": {"data": START}}),
    ("payload.data a number", {"type": "start", "id": "b", "payload": {"data": 5}}),
    ("payload.data not JSON", {"type": "start", "id": "c", "payload": {"data": "{query"}}),
    ("payload a list", {"type": "start", "id": "d", "payload": [START]}),
    (
        "authorization a string",
        {"type": "start", "id": "e",
         "payload": {"data": json.dumps(START), "extensions": {"authorization": "token"}}},
    ),
    (
        "a header value an object",
        {"type": "start", "id": "f",
         "payload": {"data": json.dumps(START), "extensions": {"authorization": {"a": {}}}}},
    ),
    (
        "extensions not an object",
        {"type": "start", "id": "g", "payload": {"data": json.dumps(START), "extensions": [1]}},
    ),
    (
        "variables a list",
        {"type": "start", "id": "h",
         "payload": {"data": json.dumps({"query": ON_UPDATE, "variables": [1]})}},
    ),
    ("an id a number", {"type": "start", "id": 7, "payload": {"data": json.dumps(START)}}),
    ("an id an object", {"type": "stop", "id": {"a": 1}}),
    ("a stop without an id", {"type": "stop"}),
    ("a type a list", {"type": ["start"], "id": "i"}),
    ("no type", {"id": "j"}),
    ("a list", [{"type": "connection_init"}]),
    ("a number", 5),
    ("null", None),
]  # fmt: skip
RAW: list[tuple[str, str | bytes]] = [
    ("not JSON", "{type: start}"),
    ("JSON nested 100,000 deep", "[" * 100_000 + "]" * 100_000),
    ("an empty text frame", ""),
    ("a binary frame", b"\x00\xff"),
    ("a binary frame of JSON", json.dumps({"type": "connection_init"}).encode()),
]


def test_malformed_messages_get_an_error_and_the_socket_stays_open(
    stack: LocalStack,
    client: StackClient,
    sockets: list[Socket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, sub, token = confirmed(client)
    socket = Socket(stack, token)
    sockets.append(socket)
    caplog.set_level(logging.DEBUG)
    for what, message in [*MALFORMED, *RAW]:
        if isinstance(message, (str, bytes)):
            socket.ws.send(message)
        else:
            socket.send(message)
        answer = socket.receive()
        assert answer["type"] == "error", (what, answer)
        assert answer["payload"]["errors"][0]["message"], what
    key, ack = socket.start(ON_UPDATE, id=sub)
    assert ack == {"type": "start_ack", "id": key}
    tracebacks = [record.getMessage() for record in caplog.records if record.exc_info]
    assert tracebacks == []


def test_an_authorization_header_nested_too_deep_is_refused_without_a_traceback(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = stack.outputs()
    nested = ("[" * 2000 + "]" * 2000).encode()  # json.loads recursed past its limit on it
    protocol = "header-" + base64.urlsafe_b64encode(nested).decode().rstrip("=")
    tls = ssl.create_default_context(cafile=outputs["ca_cert_path"])
    caplog.set_level(logging.DEBUG)
    with connect(outputs["realtime_url"], subprotocols=["graphql-ws", protocol], ssl=tls) as ws:  # type: ignore[list-item]
        refusal = json.loads(ws.recv(timeout=10))
    assert refusal["type"] == "connection_error"
    assert refusal["payload"]["errors"][0]["errorType"] == "BadRequestException"
    assert [record.getMessage() for record in caplog.records if record.exc_info] == []


def test_a_message_past_appsyncs_240_kb_closes_the_socket_as_too_big(
    stack: LocalStack, client: StackClient, sockets: list[Socket]
) -> None:
    _, _, token = confirmed(client)
    socket = Socket(stack, token)
    sockets.append(socket)
    socket.send({"type": "start", "id": "big", "payload": {"data": "x" * (240 * 1024)}})
    with pytest.raises(ConnectionClosed) as closed:
        socket.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
