"""The real-time endpoint's message handler against whatever a client can send: hypothesis
over arbitrary JSON, shapes close to ``start``/``stop``, text that is not JSON and binary
frames. No frame raises; each is answered with exactly one message, a malformed one with an
``error``, and the connection goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from userpipe.local.frames import ClientMessage, MalformedMessageError, read
from userpipe.local.graphql import Caller, Subscription
from userpipe.local.iam import SignedRequest
from userpipe.local.jwt_verification import InvalidTokenError
from userpipe.local.realtime import Connection

GOOD_TOKEN = "good"
QUERY = "subscription S { onUpdateUser { id } }"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KIND = st.sampled_from(["start", "stop", "connection_init", "ka", "data"]) | JSON
REQUEST = st.fixed_dictionaries(
    {"query": st.just(QUERY) | JSON},
    optional={"variables": JSON, "operationName": JSON},
)
DATA = st.builds(json.dumps, REQUEST) | st.builds(json.dumps, JSON) | JSON
AUTHORIZATION = (
    st.fixed_dictionaries({"Authorization": st.just(GOOD_TOKEN) | JSON}, optional={"host": JSON})
    | JSON
)
PAYLOAD = (
    st.just(
        {
            "data": json.dumps({"query": QUERY}),
            "extensions": {"authorization": {"Authorization": GOOD_TOKEN}},
        }
    )
    | st.fixed_dictionaries(
        {"data": DATA},
        optional={"extensions": st.fixed_dictionaries({"authorization": AUTHORIZATION}) | JSON},
    )
    | JSON
)
MESSAGE = st.fixed_dictionaries(
    {"type": KIND}, optional={"id": st.just("s1") | JSON, "payload": PAYLOAD}
)
FRAME = (
    st.builds(lambda m: {"type": "websocket.receive", "text": json.dumps(m)}, MESSAGE | JSON)
    | st.builds(lambda t: {"type": "websocket.receive", "text": t}, st.text(max_size=40))
    | st.builds(lambda b: {"type": "websocket.receive", "bytes": b}, st.binary(max_size=40))
)


class Hub:
    def __init__(self) -> None:
        self.listening: dict[object, Any] = {}

    def add(self, key: object, subscription: Any, send: Any) -> None:
        self.listening[key] = subscription

    def remove(self, key: object) -> bool:
        return self.listening.pop(key, None) is not None


class Endpoint:
    """The GraphQL endpoint as the connection uses it: one good token; ``subscribe`` accepts
    the one query above and answers errors for anything else, as the real one does."""

    def __init__(self) -> None:
        self.hub = Hub()

    def caller(self, request: SignedRequest, remote_address: str) -> Caller:
        if request.header("authorization") != GOOD_TOKEN:
            raise InvalidTokenError("Valid authorization header not provided.", "fake")
        return Caller("aws_cognito_user_pools", {"sub": "u"})

    def subscribe(self, request: Any, caller: Caller, headers: Any) -> Any:
        if request.get("query") != QUERY:
            return [{"errorType": "ValidationError", "message": "not a known subscription"}]
        return Subscription("onUpdateUser", {}, None, None, {}, None)  # type: ignore[arg-type]


async def answers(*frames: dict[str, Any]) -> list[dict[str, Any]]:
    """What the connection posts for ``frames``, one by one."""

    async def send(message: Any) -> None: ...

    connection = Connection(Endpoint(), {"client": ("127.0.0.1", 1)}, send, 60.0)  # type: ignore[arg-type]
    posted: list[dict[str, Any]] = []
    for frame in frames:
        await connection._handle(frame)
        while not connection._outbox.empty():
            message = connection._outbox.get_nowait()
            assert message is not None
            posted.append(message)
    return posted


def answered_once(frame: dict[str, Any]) -> None:
    """The frame raises nothing and gets exactly one answer, JSON, an error saying why."""
    (answer,) = asyncio.run(answers(frame))
    event(answer["type"])  # --hypothesis-show-statistics: how often each answer came
    json.dumps(answer)  # what goes back is JSON, whatever came in
    assert answer["type"] in {"error", "connection_ack", "start_ack", "complete"}
    if answer["type"] == "error":
        assert answer["payload"]["errors"][0]["message"]
        assert isinstance(answer.get("id", ""), str)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(FRAME)
def test_no_frame_raises_and_each_is_answered_once(frame: dict[str, Any]) -> None:
    answered_once(frame)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"type": st.just("start"), "id": st.just("s1") | JSON, "payload": PAYLOAD}
    )
)
def test_no_start_message_raises_and_each_is_answered_once(message: dict[str, Any]) -> None:
    """``start`` alone: its payload is where most of the protocol's shape lies."""
    answered_once({"type": "websocket.receive", "text": json.dumps(message)})


def read_or_refuse(frame: dict[str, Any]) -> ClientMessage | MalformedMessageError:
    try:
        return read(frame)
    except MalformedMessageError as malformed:
        return malformed


@given(JSON)
def test_reading_arbitrary_json_gives_a_message_or_a_malformed_message_error(value: Any) -> None:
    outcome = read_or_refuse({"text": json.dumps(value)})
    if isinstance(outcome, MalformedMessageError):
        assert str(outcome) and outcome.error_type
    else:
        assert outcome.kind in {"connection_init", "start", "stop"}


def start(payload: Any, key: Any = "s1") -> dict[str, Any]:
    return {
        "type": "websocket.receive",
        "text": json.dumps({"type": "start", "id": key, "payload": payload}),
    }


GOOD = {
    "data": json.dumps({"query": QUERY}),
    "extensions": {"authorization": {"Authorization": GOOD_TOKEN}},
}


@pytest.mark.parametrize(
    ("frame", "refusal"),
    [
        (start({**GOOD, "data": {"query": QUERY}}), "payload.data must be a string holding"),
        (start({**GOOD, "data": 5}), "payload.data must be a string holding"),
        (start([GOOD]), "start needs a payload object"),
        (start({**GOOD, "extensions": {"authorization": GOOD_TOKEN}}), "authorization must be"),
        (start({**GOOD, "extensions": "x"}), "payload.extensions must be an object"),
        (start({**GOOD, "data": json.dumps({"query": QUERY, "variables": [1]})}), "variables"),
        (start(GOOD, key=5), "start needs an id"),
        ({"type": "websocket.receive", "text": '{"type": "stop", "id": []}'}, "stop needs the id"),
        ({"type": "websocket.receive", "bytes": b'{"type": "connection_init"}'}, "text frame"),
        ({"type": "websocket.receive", "text": "[" * 100_000}, "a message must be JSON"),
    ],
)
def test_a_malformed_message_is_answered_with_an_error_saying_what_is_wrong(
    frame: dict[str, Any], refusal: str
) -> None:
    (answer,) = asyncio.run(answers(frame))
    assert answer["type"] == "error"
    assert refusal in answer["payload"]["errors"][0]["message"]


def test_after_malformed_messages_a_good_start_is_acknowledged() -> None:
    posted = asyncio.run(answers(start({**GOOD, "data": 5}), start(GOOD), start(GOOD)))
    assert [p["type"] for p in posted] == ["error", "start_ack", "error"]  # the last: a duplicate
    assert posted[1] == {"type": "start_ack", "id": "s1"}


def test_a_well_formed_start_reads_as_its_parts() -> None:
    message = read(start(GOOD, key="k"))
    assert message == ClientMessage(
        "start", "k", {"query": QUERY}, {"Authorization": GOOD_TOKEN}, GOOD["data"]
    )
