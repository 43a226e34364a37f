"""Reconcile's adapters: Cognito's ``ListUsers`` (paged, rate-limited), the User table's
``BatchGetItem`` (unprocessed keys retried with backoff) and EventBridge's ``PutEvents``
(at most 10 entries a call; failed entries retried, then reported)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from contracts.names import USER_KEY, UserConfirmedDetail
from contracts.user_confirmed import put_events_entry
from services.reconcile.logic import CognitoUser

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

#: ListUsers returns at most 60 users a page.
PAGE_SIZE: Final = 60
#: PutEvents takes at most 10 entries.
PUT_EVENTS_BATCH: Final = 10
CONFIRMED_FILTER: Final = 'cognito:user_status = "CONFIRMED"'
#: ListUsers calls a second. Cognito counts ListUsers against a per-category quota shared by
#: every caller in the account and Region (Cognito developer guide, "Quotas in Amazon Cognito"):
#: stay well below it so sign-in pages that list users are not throttled.
DEFAULT_REQUESTS_PER_SECOND: Final = 5.0


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    return float(min(cap, base * 2**attempt))


class CognitoDirectory:
    """Confirmed users, a ``ListUsers`` page at a time, at most ``requests_per_second``
    (Cognito's ``ListUsers`` quota is low and shared with every other caller of the pool)."""

    def __init__(
        self,
        client: CognitoIdentityProviderClient,
        user_pool_id: str,
        *,
        requests_per_second: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be above 0")
        self._client, self._pool = client, user_pool_id
        self._interval = 1.0 / requests_per_second
        self._sleep, self._clock = sleep, clock

    def confirmed_users(self) -> Iterator[Sequence[CognitoUser]]:
        token: str | None = None
        last: float | None = None
        while True:
            if last is not None:
                self._sleep(max(0.0, last + self._interval - self._clock()))
            last = self._clock()
            request: dict[str, Any] = {
                "UserPoolId": self._pool,
                "Filter": CONFIRMED_FILTER,
                "Limit": PAGE_SIZE,
            }
            if token:
                request["PaginationToken"] = token
            page = self._client.list_users(**request)
            yield [
                CognitoUser(
                    username=user["Username"],
                    attributes={a["Name"]: a["Value"] for a in user.get("Attributes", [])},
                    created=user["UserCreateDate"],
                )
                for user in page.get("Users", [])
            ]
            token = page.get("PaginationToken")
            if not token:
                return


class LookupIncompleteError(RuntimeError):
    """DynamoDB kept returning unprocessed keys after every retry."""


class DynamoProjection:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client, self._table, self._attempts, self._sleep = client, table, attempts, sleep

    def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        keys: list[Any] = [{USER_KEY: {"S": user_id}} for user_id in dict.fromkeys(ids)]
        for attempt in range(self._attempts):
            if not keys:
                return found
            if attempt:
                self._sleep(backoff(attempt))
            response: Any = self._client.batch_get_item(
                RequestItems={
                    self._table: {
                        "Keys": keys,
                        "ProjectionExpression": "#key",
                        "ExpressionAttributeNames": {"#key": USER_KEY},
                        "ConsistentRead": True,
                    }
                }
            )
            found |= {item[USER_KEY]["S"] for item in response["Responses"].get(self._table, [])}
            keys = list(response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []))
        if keys:
            raise LookupIncompleteError(
                f"{len(keys)} key(s) still unprocessed after {self._attempts} attempts"
            )
        return found


class EventBridgeBatchPublisher:
    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        *,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client, self._bus, self._attempts, self._sleep = client, bus_name, attempts, sleep

    def publish(self, details: Sequence[UserConfirmedDetail]) -> list[UserConfirmedDetail]:
        failed: list[UserConfirmedDetail] = []
        for start in range(0, len(details), PUT_EVENTS_BATCH):
            failed += self._publish_batch(list(details[start : start + PUT_EVENTS_BATCH]))
        return failed

    def _publish_batch(self, batch: list[UserConfirmedDetail]) -> list[UserConfirmedDetail]:
        pending = batch
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(backoff(attempt))
            entries: Any = [put_events_entry(detail, self._bus) for detail in pending]
            try:
                response = self._client.put_events(Entries=entries)
            except self._client.exceptions.ClientError:
                continue  # the whole call failed: every entry is still pending
            results = response.get("Entries", [])
            pending = [
                detail
                for detail, result in zip(pending, results, strict=False)
                if not result.get("EventId")
            ] + pending[len(results) :]
            if not pending:
                return []
        return pending
