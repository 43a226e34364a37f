"""Misbehaving HTTP endpoints on a real local socket, for testing what a client does with them.

``ScriptedEndpoint`` accepts connections on 127.0.0.1 and answers the n-th request with the
n-th ``Answer`` (the last one repeats): a complete response, or a response that starts and then
trickles one byte at a time, or silence. Everything it opened is closed on exit, so a client
left waiting on it is released.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: str = "200 OK"
    body: bytes = b""
    content_type: str = "application/x-amz-json-1.1"
    #: > 0: send the status line, then one header byte every this many seconds, never finishing
    trickle_seconds: float = 0.0
    #: True: read the request and never answer
    silent: bool = False

    def head(self) -> bytes:
        return f"HTTP/1.1 {self.status}\r\nContent-Type: {self.content_type}\r\n".encode()


def ok_json(body: str) -> Answer:
    return Answer(body=body.encode())


TRICKLE = Answer(trickle_seconds=0.5)
SILENT = Answer(silent=True)
#: How long a trickle goes on at most, so a client without an overall deadline fails its test
#: instead of hanging the suite.
MAX_TRICKLE_SECONDS = 12.0


class ScriptedEndpoint:
    def __init__(self, *answers: Answer) -> None:
        self._answers = answers
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self.requests = 0
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            while not self._stop.is_set() and self._read_request(connection):
                answer = self._answers[min(self.requests, len(self._answers) - 1)]
                self.requests += 1
                if answer.silent:
                    self._stop.wait()
                    return
                if answer.trickle_seconds:
                    self._trickle(connection, answer)
                    return
                connection.sendall(
                    answer.head()
                    + f"Content-Length: {len(answer.body)}\r\n\r\n".encode()
                    + answer.body
                )
        except OSError:
            return

    def _trickle(self, connection: socket.socket, answer: Answer) -> None:
        connection.sendall(answer.head() + b"X-Slow: ")
        started = time.monotonic()
        while time.monotonic() - started < MAX_TRICKLE_SECONDS:
            if self._stop.wait(answer.trickle_seconds):
                return
            connection.sendall(b"a")
        connection.close()

    @staticmethod
    def _read_request(connection: socket.socket) -> bool:
        """Read one request (headers, then Content-Length bytes); False when the peer left."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        for connection in self._connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@contextmanager
def scripted_endpoint(*answers: Answer) -> Iterator[ScriptedEndpoint]:
    endpoint = ScriptedEndpoint(*answers)
    try:
        yield endpoint
    finally:
        endpoint.close()
