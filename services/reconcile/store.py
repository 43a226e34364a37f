"""Reconcile's adapters: Cognito's ``ListUsers`` (paged, rate-limited), the User table's
``BatchGetItem`` (unprocessed keys retried with backoff) and ``Scan`` (pages of
``SCAN_PAGE_ITEMS``), EventBridge's ``PutEvents`` (at most 10 entries a call; failed entries
retried, then reported), and the repairs: ``services.shared.lifecycle``'s two writes and the
user's data key (``services.shared.user_keys``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from contracts.names import DELETED_ATTRIBUTE, USER_KEY, UserConfirmedDetail
from contracts.user_confirmed import put_events_entry
from services.reconcile.logic import CognitoUser, ItemState, RepairFailedError
from services.shared import lifecycle

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

#: ListUsers returns at most 60 users a page.
PAGE_SIZE: Final = 60
#: PutEvents takes at most 10 entries.
PUT_EVENTS_BATCH: Final = 10
CONFIRMED_FILTER: Final = 'cognito:user_status = "CONFIRMED"'
#: Items a Scan page holds at most: each call's work stays bounded (``userpipe.aws.tables``
#: explains the number), and so does what a page holds in memory.
SCAN_PAGE_ITEMS: Final = 250
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
        """The CONFIRMED users only (Cognito filters them)."""
        return self._pages(CONFIRMED_FILTER)

    def users(self) -> Iterator[Sequence[CognitoUser]]:
        """Every user, whatever their status: reconcile needs every sub Cognito knows."""
        return self._pages(None)

    def _pages(self, user_filter: str | None) -> Iterator[Sequence[CognitoUser]]:
        token: str | None = None
        last: float | None = None
        while True:
            if last is not None:
                self._sleep(max(0.0, last + self._interval - self._clock()))
            last = self._clock()
            request: dict[str, Any] = {"UserPoolId": self._pool, "Limit": PAGE_SIZE}
            if user_filter:
                request["Filter"] = user_filter
            if token:
                request["PaginationToken"] = token
            page = self._client.list_users(**request)
            yield [
                CognitoUser(
                    username=user["Username"],
                    attributes={a["Name"]: a["Value"] for a in user.get("Attributes", [])},
                    created=user["UserCreateDate"],
                    status=user.get("UserStatus", "UNKNOWN"),
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

    def items(self, ids: Sequence[str]) -> dict[str, ItemState]:
        found: dict[str, ItemState] = {}
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
                        "ProjectionExpression": "#key, #pool, #deleted, #email",
                        "ExpressionAttributeNames": {**_NAMES, "#email": "email"},
                        "ConsistentRead": True,
                    }
                }
            )
            for item in response["Responses"].get(self._table, []):
                state = _state(item)
                found[state.id] = state
            keys = list(response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []))
        if keys:
            raise LookupIncompleteError(
                f"{len(keys)} key(s) still unprocessed after {self._attempts} attempts"
            )
        return found

    def scan(self) -> Iterator[ItemState]:
        paginator = self._client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            ConsistentRead=True,
            PaginationConfig={"PageSize": SCAN_PAGE_ITEMS},
            ProjectionExpression="#key, #pool, #deleted, #createdAt",
            ExpressionAttributeNames={**_NAMES, "#createdAt": "createdAt"},
        )
        for page in pages:
            for item in page.get("Items", []):
                yield _state(item)


_T = TypeVar("_T")
_NAMES: Final = {"#key": USER_KEY, "#pool": "userPoolId", "#deleted": DELETED_ATTRIBUTE}


def _state(item: Any) -> ItemState:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return value if isinstance(value, str) else None

    return ItemState(
        id=item[USER_KEY]["S"],
        user_pool_id=text("userPoolId"),
        deleted=item.get(DELETED_ATTRIBUTE, {}).get("BOOL") is True,
        email=text("email"),
        created_at=text("createdAt"),
    )


class KeyShredder(Protocol):
    def destroy(self, user_id: str) -> bool: ...


class LifecycleRepairs:
    """``logic.Repairs`` through ``services.shared.lifecycle`` (one conditional UpdateItem each)
    and the keys table. A tombstone destroys the user's key unless the item is another pool's:
    also when the item was a tombstone already or is gone (a run that stopped between the two
    writes finishes here)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        user_pool_id: str,
        keys: KeyShredder,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client, self._table, self._pool = client, table, user_pool_id
        self._keys, self._clock = keys, clock

    def change_email(self, user_id: str, email: str) -> bool:
        outcome = self._write(
            user_id,
            lambda: lifecycle.change_email(
                self._client, self._table, user_id, self._pool, email, self._clock()
            ),
        )
        return outcome == lifecycle.Outcome.WRITTEN

    def tombstone(self, user_id: str) -> bool:
        # The key first (the scan found a live item of this pool): the sealed profile in the
        # log is shredded even when the tombstone has to wait for a replay's mark.
        destroyed = self._write(user_id, lambda: self._keys.destroy(user_id))
        outcome = self._write(
            user_id,
            lambda: lifecycle.tombstone(
                self._client, self._table, user_id, self._pool, self._clock()
            ),
        )
        if outcome == lifecycle.Outcome.FOREIGN:
            return False
        return outcome == lifecycle.Outcome.WRITTEN or destroyed

    @staticmethod
    def _write(user_id: str, write: Callable[[], _T]) -> _T:
        try:
            return write()
        except (
            lifecycle.ReplayInFlightError,
            lifecycle.UnexplainedConditionError,
            ClientError,
            BotoCoreError,
        ) as exc:
            raise RepairFailedError(user_id, type(exc).__name__) from exc


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
