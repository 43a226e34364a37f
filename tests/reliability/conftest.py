"""The reliability suite: the local stack under duplicates, store faults, crashes, forged tokens
and a steady load. Each module starts a stack of its own (faults are a stack option)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from contracts.names import ORIGIN_COGNITO, TRIGGER_CONFIRM_SIGN_UP
from contracts.user_confirmed import put_events_entry, user_confirmed_detail
from tests.support import emulated_pool_user
from userpipe.aws.queues import wait_until_drained
from userpipe.local.client import StackClient, wait_for
from userpipe.local.stack import LocalStack


def confirmations(client: StackClient, count: int) -> list[dict[str, Any]]:
    """``count`` PutEvents entries, each a ``UserConfirmed`` of a new user of the stack's pool
    (what the trigger publishes, for a user the pool holds: the projector reads their email)."""
    entries = []
    for _ in range(count):
        sub = emulated_pool_user(client.pool_id, str(uuid.uuid4()), f"{uuid.uuid4().hex}@x.io")
        detail = user_confirmed_detail(
            user_pool_id=client.pool_id,
            sub=sub,
            confirmed_at=datetime.now(UTC),
            origin=ORIGIN_COGNITO,
            client_id=client.client_id,
            trigger_source=TRIGGER_CONFIRM_SIGN_UP,
        )
        entries.append(put_events_entry(detail, client.outputs["event_bus_name"]))
    return entries


def sub_of(entry: dict[str, Any]) -> str:
    sub: str = json.loads(entry["Detail"])["sub"]
    return sub


def publish(client: StackClient, entries: Iterable[dict[str, Any]], *, backlog: int = 100) -> None:
    """PutEvents, ten entries a call (its limit), every entry accepted; held back while a
    subscription's queue holds more than ``backlog`` messages — a producer at a steady rate,
    not a burst: the emulator's SQS walks the whole queue on every call, so a queue thousands
    deep makes it, not userpipe, the thing tested."""
    batch: list[dict[str, Any]] = []
    for entry in [*entries, None]:
        if entry is not None:
            batch.append(entry)
        if batch and (entry is None or len(batch) == 10):
            while any(client.depth(url) > backlog for url in client.queue_urls):
                time.sleep(0.2)
            answer = client.aws.events.put_events(Entries=batch)  # type: ignore[arg-type]
            assert answer["FailedEntryCount"] == 0, answer
            batch = []


def shuffled(items: list[Any], seed: int = 7) -> list[Any]:
    copy = list(items)
    random.Random(seed).shuffle(copy)
    return copy


def converged(
    stack: LocalStack, client: StackClient, done: Callable[[], bool], *, timeout: float, what: str
) -> None:
    """Wait until ``done()``, then until nothing is left to deliver. Looks every 2 s: the stack
    runs in this process, and every look (a scan) takes its time from the pipeline."""
    wait_for(done, timeout=timeout, interval=2.0, what=what)
    wait_until_drained(client.aws.sqs, client.queue_urls, poll_seconds=1.0, timeout=timeout)
    stack.settle(timeout)


def count(client: StackClient, table_output: str) -> int:
    """Items in a table (a ``COUNT`` scan: nothing is read back)."""
    total = 0
    paginator = client.aws.dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=client.outputs[table_output], Select="COUNT"):
        total += page["Count"]
    return total


def inserts_by_user(client: StackClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in client.audit_records():
        if record.event_name == "INSERT":
            counts[record.user_id] = counts.get(record.user_id, 0) + 1
    return counts


#: Figures a reliability test reports (printed at the end of the run).
REPORTS: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for name, figures in REPORTS.items():
        terminalreporter.write_line(f"reliability: {name}: {figures}")
