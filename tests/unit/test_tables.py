"""A scan reads a table of any size in calls that each fit the clients' read budget.

The fake endpoint below is a DynamoDB that, like moto behind the local stack, takes longer to
answer a bigger page: it answers a Scan page of up to ``ANSWERABLE_ITEMS`` items and holds
every bigger one unanswered until the client gives up, as a 1 MB page of 2,000+ users outran the
4 s read budget in ``make bench``. Nothing is timed: what a scan gets back is all that is
checked. No network beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

import userpipe.aws.clients
from userpipe.aws.clients import Clients
from userpipe.aws.tables import SCAN_PAGE_ITEMS, scan

#: moto behind the local stack spent up to 4 ms an item on a busy 2-core machine, so 4 s of read
#: budget holds some 1,000 items; the fake answers half of that in time.
ANSWERABLE_ITEMS = 500
#: DynamoDB's page without a Limit: everything up to 1 MB.
PAGE_BYTES = 1024 * 1024
#: More users than the bench's N=2000, each item about the size of a stored user's.
TABLE_ITEMS = 2500


def _item(number: int) -> dict[str, Any]:
    user = f"user-{number:05d}"
    return {
        "id": {"S": user},
        "owner": {"S": user},
        "email": {"S": f"{user}@example.com"},
        "profile": {"S": "x" * 400},
        "_version": {"N": "1"},
    }


class FakeDynamoDB(ThreadingHTTPServer):
    """Scan only, over ``items`` in key order; ``ExclusiveStartKey`` and ``Limit`` as DynamoDB
    reads them. A page it cannot answer in time it never answers (until ``release``)."""

    daemon_threads = True

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _ScanHandler)
        self.items = items
        self.unanswered = 0
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def page(self, request: dict[str, Any]) -> dict[str, Any] | None:
        start = 0
        if "ExclusiveStartKey" in request:
            after = request["ExclusiveStartKey"]["id"]["S"]
            start = next(i for i, item in enumerate(self.items) if item["id"]["S"] > after)
        limit = request.get("Limit", len(self.items))
        page: list[dict[str, Any]] = []
        size = 0
        for item in self.items[start:]:
            size += len(json.dumps(item))
            if len(page) == limit or size > PAGE_BYTES:
                break
            page.append(item)
        if len(page) > ANSWERABLE_ITEMS:
            return None
        answer: dict[str, Any] = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
        if start + len(page) < len(self.items):
            answer["LastEvaluatedKey"] = {"id": page[-1]["id"]}
        return answer


class _ScanHandler(BaseHTTPRequestHandler):
    server: FakeDynamoDB

    def do_POST(self) -> None:
        assert self.headers["X-Amz-Target"] == "DynamoDB_20120810.Scan"
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = self.server.page(request)
        if answer is None:
            self.server.unanswered += 1
            self.server.released.wait()
            return
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def table() -> Iterator[FakeDynamoDB]:
    server = FakeDynamoDB([_item(n) for n in range(TABLE_ITEMS)])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def short_read_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page held unanswered fails in one second per attempt instead of four."""
    monkeypatch.setattr(userpipe.aws.clients, "READ_TIMEOUT_SECONDS", 1)


def test_a_scan_reads_every_item_of_a_table_whose_full_pages_outrun_the_read_budget(
    table: FakeDynamoDB,
) -> None:
    items = list(scan(Clients(table.url).dynamodb, "users"))

    assert [item["id"]["S"] for item in items] == [item["id"]["S"] for item in table.items]
    assert table.unanswered == 0


def test_the_page_size_fits_what_the_slow_emulator_answers_in_time() -> None:
    assert SCAN_PAGE_ITEMS <= ANSWERABLE_ITEMS


def test_the_fake_holds_a_full_page_unanswered(table: FakeDynamoDB) -> None:
    """The guard can fail: a scan asking for 1 MB pages, as ``scan`` once did, times out."""
    with pytest.raises(ReadTimeoutError):
        list(scan(Clients(table.url).dynamodb, "users", Limit=TABLE_ITEMS))
    assert table.unanswered == userpipe.aws.clients.ATTEMPTS
