"""The local stream poller hands records to a function the way Lambda's stream poller does."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from contracts.topology import AUDIT_SOURCE
from userpipe.local.sandbox import Invocation
from userpipe.local.sources import StreamPoller

STREAM = "arn:aws:dynamodb:eu-west-1:123456789012:table/Users/stream/2026-11-28T00:00:00.000"


class Shard:
    """A one-shard stream that reads from after the poller's checkpoint."""

    def __init__(self, count: int) -> None:
        self.records = [
            {
                "eventID": str(n),
                "eventName": "INSERT",
                "dynamodb": {
                    "SequenceNumber": f"{n:021d}",
                    "ApproximateCreationDateTime": 1_790_000_000,
                    "Keys": {"id": {"S": f"user-{n}"}},
                },
            }
            for n in range(1, count + 1)
        ]

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-0"}]}}

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        return {"ShardIterator": request.get("SequenceNumber", "")}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        after = [r for r in self.records if r["dynamodb"]["SequenceNumber"] > ShardIterator]
        return {"Records": after[:Limit]}


class Function:
    """A sandbox stand-in: ``fails(batch)`` decides whether an invocation errors as a whole."""

    arn = "arn:aws:lambda:eu-west-1:123456789012:function:audit"

    def __init__(self, fails: Callable[[Sequence[str]], bool]) -> None:
        self.fails = fails
        self.done: list[str] = []
        self.batch_sizes: list[int] = []
        self._ids = itertools.count()

    def invoke(self, event: dict[str, Any]) -> Invocation:
        keys = [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]
        self.batch_sizes.append(len(keys))
        request_id = str(next(self._ids))
        if self.fails(keys):
            return Invocation(request_id, error={"errorType": "Sandbox.Timedout"})
        self.done += keys
        return Invocation(request_id, result={"batchItemFailures": []})


class OnFailureQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803
        self.messages.append(json.loads(MessageBody))


def poller(shard: Shard, function: Function, queue: OnFailureQueue) -> StreamPoller:
    return StreamPoller(
        shard,  # type: ignore[arg-type]
        STREAM,
        function,  # type: ignore[arg-type]
        AUDIT_SOURCE,
        sqs=queue,  # type: ignore[arg-type]
        on_failure={"url": "http://queue/audit-dlq"},
    )


def test_a_batch_that_times_out_whole_is_halved_until_every_record_gets_through() -> None:
    """A function that times out on more than 10 records still audits all 100, and nothing
    reaches the on-failure queue: without bisection the first record would be discarded."""
    shard, queue = Shard(100), OnFailureQueue()
    function = Function(fails=lambda batch: len(batch) > 10)
    assert poller(shard, function, queue).poll() == 100
    assert function.done == [f"user-{n}" for n in range(1, 101)]  # in order, each once
    assert queue.messages == []
    assert function.batch_sizes[0] == AUDIT_SOURCE.batch_size


def test_a_record_that_always_fails_is_isolated_and_only_it_is_discarded() -> None:
    shard, queue = Shard(100), OnFailureQueue()
    function = Function(fails=lambda batch: "user-37" in batch)
    discarded = poller(shard, function, queue)
    discarded.poll()
    assert function.done == [f"user-{n}" for n in range(1, 101) if n != 37]
    assert [m["DDBStreamBatchInfo"]["startSequenceNumber"] for m in queue.messages] == [
        f"{37:021d}"
    ]
    assert queue.messages[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert discarded.discarded == 1


def test_without_bisection_a_failing_batch_is_retried_whole() -> None:
    shard, queue = Shard(4), OnFailureQueue()
    function = Function(fails=lambda batch: "user-3" in batch)
    source = dataclasses.replace(AUDIT_SOURCE, bisect_batch_on_error=False)
    whole = poller(shard, function, queue)
    whole.source = source
    whole.poll()
    assert set(function.batch_sizes[: source.max_retry_attempts + 1]) == {4}
