"""AppSync's real-time endpoint for GraphQL subscriptions, at the GraphQL URL + ``/realtime``
(where Amplify JS v6 looks for it on a host that is not AppSync's: ``getRealtimeEndpointUrl`` in
``@aws-amplify/api-graphql``), over WebSocket, on both of the local stack's ports.

The protocol, as AppSync speaks it ("Building a real-time WebSocket client", AppSync developer
guide) and Amplify JS v6 sends it (``AWSWebSocketProvider``, ``AWSAppSyncRealTimeProvider``):

- The socket asks for the ``graphql-ws`` subprotocol. Authorization comes as a second
  subprotocol ``header-<base64url(JSON)>`` (Amplify v6) or, in the older form, as the query
  parameters ``header=<base64(JSON)>&payload=e30=``. The JSON holds ``Authorization`` (a Cognito
  token, verified as for queries, or a SigV4 signature: an IAM caller) and ``host``. An IAM
  client signs a POST to the GraphQL URL + ``/connect`` with the body ``{}`` to connect, and a
  POST to the GraphQL URL with ``payload.data`` as the body to start a subscription (Amplify JS
  v6, ``awsRealTimeIAMHeader``); the same headers travel in the JSON, and the signature is
  verified against them (``userpipe.local.iam``).
- ``connection_init`` → ``connection_ack`` with ``connectionTimeoutMs``; then ``ka`` every
  ``KEEP_ALIVE_SECONDS`` (the client closes when none comes within the timeout).
- ``start`` (``id``, ``payload.data``: the JSON ``{query, variables}``,
  ``payload.extensions.authorization``: headers, verified again) → the subscription's resolver
  decides; ``start_ack`` or ``error`` with ``payload.errors`` (``errorType``, ``message``).
- ``data`` (``id``, ``payload.data``) for each matching change; ``stop`` → ``complete``.
- Refused credentials at connect: ``connection_error`` with ``UnauthorizedException``, then the
  socket closes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

from userpipe.local import frames
from userpipe.local.graphql import Caller, GraphqlEndpoint, Subscription
from userpipe.local.iam import SignatureError, SignedRequest
from userpipe.local.jwt_verification import InvalidTokenError
from userpipe.local.limits import loads
from userpipe.local.server import GRAPHQL_PATH

PROTOCOL: Final = "graphql-ws"
HEADER_PREFIX: Final = "header-"
CONNECTION_TIMEOUT_MS: Final = 300_000  # what AppSync announces
KEEP_ALIVE_SECONDS: Final = 60.0
CONNECT_PATH: Final = f"{GRAPHQL_PATH}/connect"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
logger = logging.getLogger(__name__)


class RealtimeEndpoint:
    """An ASGI app for WebSocket scopes; one ``Connection`` per socket."""

    def __init__(
        self, graphql: Callable[[], GraphqlEndpoint | None], keep_alive: float = KEEP_ALIVE_SECONDS
    ) -> None:
        self._graphql = graphql  # the stack's endpoint, once it is provisioned
        self._keep_alive = keep_alive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        graphql = self._graphql()
        if graphql is None or PROTOCOL not in scope.get("subprotocols", ()):
            await send({"type": "websocket.close", "code": 1002})  # refuses the handshake
            return
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        connection = Connection(graphql, scope, send, self._keep_alive)
        try:
            authorization = _connect_authorization(scope)
            connection.caller = graphql.caller(
                _signed(authorization, CONNECT_PATH, b"{}"), _client_address(scope)
            )
        except InvalidTokenError as refused:
            await connection.close_with(
                "connection_error", "UnauthorizedException", refused.message
            )
            return
        except SignatureError as refused:
            await connection.close_with("connection_error", refused.code, refused.message)
            return
        except ValueError as malformed:
            await connection.close_with("connection_error", "BadRequestException", str(malformed))
            return
        await connection.run(receive)


class Connection:
    def __init__(
        self, graphql: GraphqlEndpoint, scope: Scope, send: Send, keep_alive: float
    ) -> None:
        self.caller: Caller | None = None
        self._graphql = graphql
        self._scope = scope
        self._send = send
        self._keep_alive = keep_alive
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscriptions: set[str] = set()

    async def run(self, receive: Receive) -> None:
        sender = asyncio.create_task(self._send_all())
        keep_alive: asyncio.Task[None] | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                started = await self._handle(message)
                if started and keep_alive is None:
                    keep_alive = asyncio.create_task(self._keep_alive_loop())
        finally:
            for key in self._subscriptions:
                self._graphql.hub.remove((id(self), key))
            if keep_alive is not None:
                keep_alive.cancel()
            self._outbox.put_nowait(None)
            await asyncio.gather(sender, return_exceptions=True)

    async def _handle(self, frame: Mapping[str, Any]) -> bool:
        """One client message; True once the connection is acknowledged. A malformed one is
        answered ``error`` and the socket stays open (``userpipe.local.frames``)."""
        try:
            message = frames.read(frame)
        except frames.MalformedMessageError as malformed:
            self.post(_error(malformed.key, malformed.error_type, str(malformed)))
            return False
        if message.kind == "connection_init":
            self.post({"type": "connection_ack",
                       "payload": {"connectionTimeoutMs": CONNECTION_TIMEOUT_MS}})  # fmt: skip
            return True
        if message.kind == "start":
            await self._start(message)
        else:  # stop
            self._subscriptions.discard(message.key)
            self._graphql.hub.remove((id(self), message.key))
            self.post({"type": "complete", "id": message.key})
        return False

    async def _start(self, message: frames.ClientMessage) -> None:
        key, request, headers = message.key, message.request, message.headers
        if key in self._subscriptions:
            self.post(_error(key, "BadRequestException", f"subscription {key} already started"))
            return
        try:
            caller = self._graphql.caller(
                _signed(headers, GRAPHQL_PATH, message.data.encode()),
                _client_address(self._scope),
            )
        except InvalidTokenError as refused:
            self.post(_error(key, "UnauthorizedException", refused.message))
            return
        except SignatureError as refused:
            self.post(_error(key, refused.code, refused.message))
            return
        # The subscription's resolver is a function invocation: off the event loop.
        outcome = await asyncio.to_thread(
            self._graphql.subscribe,
            request,
            caller,
            {k.lower(): v for k, v in headers.items()},
        )
        if not isinstance(outcome, Subscription):
            self.post({"type": "error", "id": key, "payload": {"errors": outcome}})
            return
        self._subscriptions.add(key)
        self._graphql.hub.add(
            (id(self), key), outcome, lambda data: self.post_threadsafe(key, data)
        )
        self.post({"type": "start_ack", "id": key})

    # --- sending --------------------------------------------------------------------------------

    def post(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    def post_threadsafe(self, key: str, payload: dict[str, Any]) -> None:
        """A delivery, from the thread that ran the mutation. A socket whose server is
        stopping is skipped: its loop is gone, and the mutation must still answer."""
        message = {"type": "data", "id": key, "payload": payload}
        try:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, message)
        except RuntimeError:  # the event loop is closed
            logger.debug("delivery to a closed connection dropped")

    async def _send_all(self) -> None:
        while (message := await self._outbox.get()) is not None:
            await self._send({"type": "websocket.send", "text": json.dumps(message)})

    async def _keep_alive_loop(self) -> None:
        while True:
            self.post({"type": "ka"})
            await asyncio.sleep(self._keep_alive)

    async def close_with(self, kind: str, error_type: str, message: str) -> None:
        body = {
            "type": kind,
            "payload": {"errors": [{"errorType": error_type, "message": message}]},
        }
        await self._send({"type": "websocket.send", "text": json.dumps(body)})
        await self._send({"type": "websocket.close", "code": 1000})


def _error(key: Any, error_type: str, message: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "payload": {"errors": [{"errorType": error_type, "message": message}]},
    }
    if key is not None:
        body["id"] = key
    return body


def _connect_authorization(scope: Scope) -> dict[str, Any]:
    """The connection's authorization headers: the ``header-`` subprotocol (base64url, maybe
    unpadded), else the ``header`` query parameter (base64)."""
    for protocol in scope.get("subprotocols", ()):
        if protocol.startswith(HEADER_PREFIX):
            return _decoded(protocol[len(HEADER_PREFIX) :], "the header- subprotocol")
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("header"):
        return _decoded(query["header"][0], "the header query parameter")
    raise ValueError("no authorization: send it as a header- subprotocol or ?header=")


def _decoded(text: str, where: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(
            text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
        )
        value = loads(raw)  # depth-limited: json would recurse past its limit on a deep one
    except (binascii.Error, ValueError):
        raise ValueError(f"{where} is not base64 of a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not base64 of a JSON object")
    return value


def _signed(headers: Mapping[str, Any], path: str, body: bytes) -> SignedRequest:
    """The request an IAM client signed for this message (see the module)."""
    lowered = {str(key).lower(): str(value) for key, value in headers.items()}
    return SignedRequest("POST", lowered.get("host", ""), path, "", lowered, body)


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "127.0.0.1"
