"""Publishing ``UserConfirmed`` to EventBridge within Cognito's 5 s budget.

Cognito waits 5 s for the trigger, then retries it, three calls at most (Cognito developer
guide, "Customizing user pool workflows with Lambda triggers"). botocore's own retries are
switched off: its backoff can honour a server-sent retry-after of up to 5 s, which alone would
blow the budget. Socket timeouts are not enough either: botocore's read timeout bounds each
socket read, so an endpoint that answers slowly, a byte at a time, keeps a call alive for as
long as it likes. So every attempt runs in a worker thread and is abandoned when its own time is
up, whatever the socket is doing; a second attempt starts only if it can end before the deadline.

An abandoned attempt may still reach EventBridge later (the thread is left to finish on its
own). That publishes a duplicate, never a loss: consumers are idempotent on pool + sub.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from contracts.names import UserConfirmedDetail
from contracts.user_confirmed import put_events_entry

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

CONNECT_TIMEOUT_SECONDS: Final = 0.5
READ_TIMEOUT_SECONDS: Final = 1.0
MAX_ATTEMPTS: Final = 2
MAX_BACKOFF_SECONDS: Final = 0.2
#: The whole publish, retries included, ends by then (Cognito gives up at 5 s).
DEADLINE_SECONDS: Final = 4.0
ATTEMPT_SECONDS: Final = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS

CLIENT_CONFIG: Final = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"total_max_attempts": 1, "mode": "standard"},
    tcp_keepalive=True,
)

_TRANSIENT_CODES: Final = frozenset(
    {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}
)


def worst_case_seconds() -> float:
    """Longest a publish can take: every attempt timing out, every backoff at its maximum."""
    return MAX_ATTEMPTS * ATTEMPT_SECONDS + (MAX_ATTEMPTS - 1) * MAX_BACKOFF_SECONDS


class PutEventsFailedError(RuntimeError):
    """EventBridge did not accept the event. The user is confirmed; reconcile will catch up."""

    def __init__(self, reason: str, *, user_pool_id: str, sub: str, attempts: int) -> None:
        super().__init__(
            f"UserConfirmed not published after {attempts} attempt(s): {reason} "
            f"(userPoolId={user_pool_id}, sub={sub})"
        )
        self.reason = reason
        self.user_pool_id = user_pool_id
        self.sub = sub
        self.attempts = attempts


class _AttemptFailedError(Exception):
    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.transient = transient


def events_client(endpoint_url: str | None = None) -> EventBridgeClient:
    return boto3.client("events", config=CLIENT_CONFIG, endpoint_url=endpoint_url)


class EventBridgePublisher:
    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._clock = clock
        self._sleep = sleep

    def publish(self, detail: UserConfirmedDetail) -> str:
        entry: Any = put_events_entry(detail, self._bus_name)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(entry)
            except _AttemptFailedError as failure:
                backoff = random.uniform(0, MAX_BACKOFF_SECONDS)  # noqa: S311 - jitter only
                elapsed_after_retry = self._clock() - started + backoff + ATTEMPT_SECONDS
                if (
                    not failure.transient
                    or attempt >= MAX_ATTEMPTS
                    or elapsed_after_retry > DEADLINE_SECONDS
                ):
                    raise PutEventsFailedError(
                        str(failure),
                        user_pool_id=detail["userPoolId"],
                        sub=detail["sub"],
                        attempts=attempt,
                    ) from failure
            self._sleep(backoff)

    def _attempt(self, entry: Any) -> str:
        """One ``PutEvents`` call, given ``ATTEMPT_SECONDS`` in all (connect, send, every read);
        past that it is abandoned and counts as a transient failure."""
        outcome: list[str | BaseException] = []

        def call() -> None:
            try:
                outcome.append(self._put(entry))
            except BaseException as exc:  # handed to the waiting thread, re-raised there
                outcome.append(exc)

        worker = threading.Thread(target=call, name="put-events", daemon=True)
        worker.start()
        worker.join(ATTEMPT_SECONDS)
        if not outcome:
            raise _AttemptFailedError(
                f"no complete answer within {ATTEMPT_SECONDS} s; attempt abandoned", transient=True
            )
        (result,) = outcome
        if isinstance(result, BaseException):
            raise result
        return result

    def _put(self, entry: Any) -> str:
        try:
            response = self._client.put_events(Entries=[entry])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            message = exc.response.get("Error", {}).get("Message", "")
            raise _AttemptFailedError(
                f"{code}: {message}", transient=code in _TRANSIENT_CODES or status >= 500
            ) from exc
        except (BotoCoreError, ResponseParserError) as exc:
            # Timeouts, dropped connections and unreadable answers may pass; missing credentials
            # or bad parameters won't.
            transient = isinstance(exc, HTTPClientError | BotoConnectionError | ResponseParserError)
            raise _AttemptFailedError(f"{type(exc).__name__}: {exc}", transient=transient) from exc
        except Exception as exc:
            # botocore itself trips over some bodies a 200 can carry (a JSON array, a string
            # where a list belongs): an unreadable answer, worth another attempt.
            raise _AttemptFailedError(
                f"unreadable PutEvents answer ({type(exc).__name__})", transient=True
            ) from exc
        return _event_id(response)


def _event_id(response: Any) -> str:
    """The id EventBridge gave our one entry. A 200 whose body is not the documented shape (no
    ``Entries``, an empty list, an HTML page from a proxy) is a failed attempt, worth a retry:
    botocore hands such a body over as ``{"message": <body>}`` or as whatever JSON it held."""
    entries = response.get("Entries") if isinstance(response, dict) else None
    result = entries[0] if isinstance(entries, list) and len(entries) == 1 else None
    if not isinstance(result, dict):
        raise _AttemptFailedError(
            "PutEvents answered 200 without exactly one entry result", transient=True
        )
    event_id = result.get("EventId")
    if response.get("FailedEntryCount", 0) or not isinstance(event_id, str) or not event_id:
        code = str(result.get("ErrorCode", "Unknown"))
        raise _AttemptFailedError(
            f"entry rejected: {code}: {str(result.get('ErrorMessage', ''))[:200]}",
            transient=code in _TRANSIENT_CODES or code == "Unknown",
        )
    return event_id
