"""A function's own AWS calls never wait behind client calls that wait on that function."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from typing import Any

from userpipe.local.server import WORKERS, AsgiRouter

FUNCTION = "userpipe-local-confirm-trigger"


def _scope(access_key: str) -> dict[str, Any]:
    authorization = f"AWS4-HMAC-SHA256 Credential={access_key}/20261204/eu-west-1/events/aws4"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", authorization.encode())],
        "server": ("127.0.0.1", 4566),
        "client": ("127.0.0.1", 50000),
    }


async def _request(router: AsgiRouter, access_key: str) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await router(_scope(access_key), receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def test_a_functions_call_is_served_while_every_client_thread_waits_on_the_function() -> None:
    """Every client request (a ConfirmSignUp) holds its thread until the function's own call
    (the trigger's PutEvents) has been served, as the local Cognito waits on its trigger."""
    served = threading.Event()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "Credential=operator/" in environ.get("HTTP_AUTHORIZATION", ""):
            if not served.wait(timeout=5):
                start_response("504 Gateway Timeout", [("Content-Length", "0")])
                return [b""]
        else:
            served.set()
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    router = AsgiRouter(app, from_function=lambda key: key == FUNCTION)

    async def run() -> list[int]:
        clients = [asyncio.create_task(_request(router, "operator")) for _ in range(WORKERS)]
        await asyncio.sleep(0.2)  # every client thread is taken
        function = await asyncio.wait_for(_request(router, FUNCTION), timeout=3)
        return [function, *await asyncio.gather(*clients)]

    assert asyncio.run(run()) == [200] * (WORKERS + 1)
