"""Misbehaving HTTP endpoints and clients on real local sockets: for testing what a client does
with a bad server, and what a server does with bad clients.

``ScriptedEndpoint`` accepts connections on 127.0.0.1 and answers the n-th request with the
n-th ``Answer`` (the last one repeats): a complete response, or a response that starts and then
trickles one byte at a time, or silence. Everything it opened is closed on exit, so a client
left waiting on it is released. ``SlowClients`` are the reverse: requests that trickle their
headers or their body and never finish.
"""

from __future__ import annotations

import select
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


# --- misbehaving clients ------------------------------------------------------------------------

#: How long slow clients go on at most, so a server that never cuts them off fails its test
#: instead of hanging the suite.
MAX_SLOW_SECONDS = 60.0
#: A request whose headers never end: each trickled byte extends a header line.
ENDLESS_HEADERS = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def announced_body(path: str, size: int, **headers: str) -> bytes:
    """Complete request headers announcing a ``size``-byte JSON body (not sent)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {size}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class SlowClients:
    """Connections to 127.0.0.1:``port`` that each send ``opening`` and then one byte every
    ``interval`` seconds, never finishing their request (``ENDLESS_HEADERS``, or the headers of
    an ``announced_body`` then its body). A client the server cuts off — it answers or closes —
    is counted in ``cut_off`` and reconnects at once, so ``len(openings)`` slow requests are in
    flight the whole time, until ``close()`` or ``ends_at``."""

    def __init__(self, port: int, openings: list[bytes], interval: float = 0.2) -> None:
        self._port = port
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.connected = 0
        self.cut_off = 0
        self.ends_at = time.monotonic() + MAX_SLOW_SECONDS
        self._threads = [
            threading.Thread(target=self._run, args=(opening,), daemon=True) for opening in openings
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, opening: bytes) -> None:
        while not self._stop.is_set() and time.monotonic() < self.ends_at:
            try:
                connection = socket.create_connection(("127.0.0.1", self._port), timeout=5)
            except OSError:
                self._stop.wait(self._interval)
                continue
            with self._lock:
                self.connected += 1
            try:
                if self._trickle(connection, opening):
                    with self._lock:
                        self.cut_off += 1
            finally:
                with self._lock:
                    self.connected -= 1
                connection.close()

    def _trickle(self, connection: socket.socket, opening: bytes) -> bool:
        """Send ``opening``, then a byte per interval; True when the server cut us off."""
        try:
            connection.sendall(opening)
            while not self._stop.wait(self._interval) and time.monotonic() < self.ends_at:
                readable, _, _ = select.select([connection], [], [], 0)
                if readable:  # an answer (408, 413, ...) or the end of the connection
                    return True
                connection.sendall(b"a")
        except OSError:
            return True
        return False

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


@contextmanager
def slow_clients(port: int, openings: list[bytes], interval: float = 0.2) -> Iterator[SlowClients]:
    clients = SlowClients(port, openings, interval)
    try:
        yield clients
    finally:
        clients.close()
