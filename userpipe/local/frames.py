"""A client's messages on AppSync's real-time protocol, read and checked before the endpoint
(``userpipe.local.realtime``) acts on one: whatever a client sends, ``read`` returns a
``ClientMessage`` of the shape the protocol defines or raises ``MalformedMessageError``, which
the endpoint answers with an ``error`` message, keeping the socket open.

The shapes ("Building a real-time WebSocket client", AppSync developer guide): every message is
a JSON object in a text frame with a string ``type``; ``start`` has a non-empty string ``id``
and ``payload`` ``{data, extensions}``, where ``data`` is a *string* holding the JSON of
``{query, variables, operationName}`` and ``extensions.authorization`` an object of header
strings; ``stop`` names the ``id`` it stops. JSON is read with a depth limit
(``userpipe.local.limits.loads``), so no message makes the parser recurse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from userpipe.local.limits import JSON_DEPTH, loads

BAD_REQUEST: Final = "BadRequestException"
UNSUPPORTED: Final = "UnsupportedOperation"
START_DATA: Final = "payload.data must be a string holding the JSON of {query, variables}"


class MalformedMessageError(ValueError):
    """A message the protocol does not allow: answered ``error`` with ``error_type`` and this
    message, and ``key`` as its ``id`` when the message had a usable one."""

    def __init__(self, message: str, error_type: str = BAD_REQUEST, key: str | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.key = key


@dataclass(frozen=True)
class ClientMessage:
    kind: str  # "connection_init", "start" or "stop"
    key: str = ""  # the subscription's id (start, stop)
    request: dict[str, Any] = field(default_factory=dict)  # start: {query, variables, ...}
    headers: dict[str, str] = field(default_factory=dict)  # start: extensions.authorization
    data: str = ""  # start: payload.data as sent (what an IAM client signs)


def read(frame: Mapping[str, Any], depth: int = JSON_DEPTH) -> ClientMessage:
    """One ASGI ``websocket.receive`` message as a client message; ``MalformedMessageError``
    for anything else."""
    text = frame.get("text")
    if not isinstance(text, str):
        raise MalformedMessageError("send each message as JSON in a text frame", UNSUPPORTED)
    try:
        message = loads(text, depth)
    except ValueError:
        raise MalformedMessageError("a message must be JSON") from None
    if not isinstance(message, dict):
        raise MalformedMessageError("a message must be a JSON object")
    given = message.get("id")
    key = given if isinstance(given, str) and given else None
    kind = message.get("type")
    if kind == "connection_init":
        return ClientMessage(kind)
    if kind == "start":
        return _start(message, key)
    if kind == "stop":
        if key is None:
            raise MalformedMessageError("stop needs the id of a started subscription (a string)")
        return ClientMessage(kind, key)
    raise MalformedMessageError(f"unknown message type {_shown(kind)}", UNSUPPORTED, key)


def _start(message: Mapping[str, Any], key: str | None) -> ClientMessage:
    if key is None:
        raise MalformedMessageError("start needs an id (a non-empty string)")
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise MalformedMessageError("start needs a payload object", key=key)
    data = payload.get("data")
    if not isinstance(data, str):
        raise MalformedMessageError(START_DATA, key=key)
    try:
        request = loads(data)
    except ValueError:
        raise MalformedMessageError(START_DATA, key=key) from None
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        raise MalformedMessageError(START_DATA, key=key)
    if not isinstance(request.get("variables", {}), dict | None):
        raise MalformedMessageError("payload.data's variables must be an object", key=key)
    if not isinstance(request.get("operationName"), str | None):
        raise MalformedMessageError("payload.data's operationName must be a string", key=key)
    extensions = payload.get("extensions")
    if extensions is None:
        extensions = {}
    if not isinstance(extensions, dict):
        raise MalformedMessageError("payload.extensions must be an object", key=key)
    headers = extensions.get("authorization")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise MalformedMessageError(
            "payload.extensions.authorization must be an object of header strings", key=key
        )
    return ClientMessage("start", key, request, headers, data)


def _shown(value: Any) -> str:
    """A value a client sent, short enough to quote back."""
    shown = repr(value)
    return shown if len(shown) <= 64 else shown[:61] + "..."
