"""Queue depths, and waiting for queues to drain: what replay and rebuild wait on, and the demo,
the bench and the tests before they look at the tables. The one place that waiting is written."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class Depth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def depth(sqs: SQSClient, queue_url: str) -> Depth:
    answer: Any = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    visible, in_flight, delayed = (int(answer["Attributes"].get(name, 0)) for name in _COUNTS)
    return Depth(visible, in_flight, delayed)


def queue_urls(outputs: Mapping[str, Any]) -> list[str]:
    """Every subscription's queue in a stack's outputs (``*_queue_url``; DLQs are ``*_dlq_url``)."""
    return [str(url) for key, url in outputs.items() if key.endswith("_queue_url")]


def wait_until_drained(
    sqs: SQSClient,
    urls: Sequence[str],
    *,
    settle_seconds: float = 0.0,
    poll_seconds: float = 0.1,
    timeout: float | None = None,
    on_depth: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Until every queue reads empty (nothing visible, in flight or delayed) for
    ``settle_seconds`` in a row — SQS's counts are approximate and lag on AWS
    (``Deployment.settle_seconds``); the emulator's are exact, so 0 there returns at the first
    empty read. ``on_depth`` hears the messages left at every read; without it a read stops at
    the first queue that holds any (the emulator walks a queue to count it, time taken from
    the pipeline being waited on). ``TimeoutError`` after ``timeout`` seconds (``None``: no
    limit)."""
    deadline = None if timeout is None else clock() + timeout
    empty_since: float | None = None
    while True:
        left = 0
        for url in urls:
            left += depth(sqs, url).total
            if left and on_depth is None:
                break
        if on_depth is not None:
            on_depth(left)
        now = clock()
        if left:
            empty_since = None
        else:
            empty_since = now if empty_since is None else empty_since
            if now - empty_since >= settle_seconds:
                return
        if deadline is not None and now > deadline:
            raise TimeoutError(f"the queues still hold messages after {timeout} s")
        sleep(poll_seconds)
