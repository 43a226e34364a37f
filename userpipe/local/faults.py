"""Faults injected into the calls the stack's functions make — for the reliability tests.

Each function's sandbox signs its requests with its own name as the access key id (the
emulator checks no credentials), so the stack knows which function sent a request. A
``FaultPlan`` given to the stack (``LocalStackOptions.faults``) sees every request a function
sends and may answer it instead of the emulator, or after it:

- ``throttle``: 400 ``ThrottlingException`` (DynamoDB's ``ProvisionedThroughputExceededException``)
  — nothing written;
- ``unavailable``: 500 ``InternalServerError`` — nothing written;
- ``lost-answer``: the call is made (a write lands), then 504 — a timeout after the write;
- ``crash``: the call is made, then the function's process is killed — it dies mid-batch;
- ``hang``: the call is made, then the answer never comes before the function's timeout — the
  sandbox times it out mid-batch.

The SDK retries the first three itself (they are what it classes as transient); a crash or a
hang fails the whole invocation, and the event source redelivers the batch.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Fault = Literal["throttle", "unavailable", "lost-answer", "crash", "hang"]
FAULTS: Final[tuple[Fault, ...]] = ("throttle", "unavailable", "lost-answer", "crash", "hang")


@dataclass
class FaultPlan:
    """Inject ``faults`` (chosen at random, seeded) into ``rate`` of the calls that ``functions``
    make to the operations ``targets`` names (``X-Amz-Target`` values, e.g.
    ``DynamoDB_20120810.PutItem``). ``injected`` counts what was done, by (function, fault)."""

    functions: Collection[str]
    targets: Collection[str]
    faults: Sequence[Fault]
    rate: float
    seed: int = 0
    limit: int | None = None  # at most this many faults in all (None: no limit)
    injected: Counter[tuple[str, Fault]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - a test's dice, not a secret
        self._lock = threading.Lock()

    def decide(self, function: str, target: str) -> Fault | None:
        if function not in self.functions or target not in self.targets:
            return None
        with self._lock:
            if self.limit is not None and sum(self.injected.values()) >= self.limit:
                return None
            if self._random.random() >= self.rate:
                return None
            fault = self._random.choice(list(self.faults))
            self.injected[(function, fault)] += 1
            return fault


def caller(environ: dict[str, Any]) -> str | None:
    """The access key id a signed request names (``Credential=<id>/<date>/...``)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    _, found, rest = authorization.partition("Credential=")
    return rest.split("/", 1)[0] if found else None


def error_answer(
    start_response: Callable[..., Any], status: str, code: str, message: str
) -> list[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", code),
        ],
    )
    return [body]


THROTTLED: Final = {
    "DynamoDB": "ProvisionedThroughputExceededException",
}


def apply(
    fault: Fault,
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    call: Callable[[Callable[..., Any]], Any],
    *,
    kill: Callable[[], None],
    timeout_seconds: float,
) -> Any:
    """Answer a request with ``fault``; ``call`` passes it on to the emulator."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if fault == "throttle":
        code = THROTTLED.get(target.split("_", 1)[0], "ThrottlingException")
        return error_answer(start_response, "400 Bad Request", code, "injected: throttled")
    if fault == "unavailable":
        return error_answer(
            start_response, "500 Internal Server Error", "InternalServerError", "injected"
        )
    answer = b"".join(call(lambda *args, **kwargs: None))  # the call is made; its answer dropped
    del answer
    if fault == "crash":
        kill()
    elif fault == "hang":
        time.sleep(timeout_seconds + 1)
    return error_answer(
        start_response, "504 Gateway Timeout", "GatewayTimeout", f"injected: {fault} after the call"
    )
