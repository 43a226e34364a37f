"""Queue depths, and waiting for queues to drain — what replay, rebuild and redrive wait on."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from userpipe.ops.deployment import Deployment
from userpipe.ops.progress import Progress

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


def wait_until_drained(
    deployment: Deployment,
    queue_urls: Sequence[str],
    progress: Progress,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float | None = None,
) -> None:
    """Until every queue reads empty (nothing visible, in flight or delayed) for
    ``deployment.settle_seconds`` in a row — SQS's counts are approximate and lag."""
    deadline = None if timeout is None else clock() + timeout
    empty_since: float | None = None
    with progress.bar("waiting for the queues to drain") as bar:
        while True:
            left = sum(depth(deployment.clients.sqs, url).total for url in queue_urls)
            bar.update(0, description=f"waiting for the queues to drain ({left} left)")
            now = clock()
            if left:
                empty_since = None
            elif empty_since is None:
                empty_since = now
            elif now - empty_since >= deployment.settle_seconds:
                return
            if deadline is not None and now > deadline:
                raise TimeoutError(f"the queues still hold {left} message(s) after {timeout} s")
            sleep(deployment.poll_seconds)
