"""Each user's data key, in the ``UserKeys`` table: the one place a sealed profile can be opened
from (``services.shared.sealing``). Destroying the key shreds every sealed copy at once.

An item: ``id`` (S, the Cognito sub), ``key`` (B, 32 random bytes), ``createdAt`` (S, ISO-8601
UTC). A key is written once, never overwritten: two writers racing to create a user's first key
end with the one that landed first.

Light on purpose (standard library, contracts, boto3 only under ``TYPE_CHECKING``): no crypto
layer needed to read or create a key. Destroying one is ``services.shared.key_shredder``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from contracts.dynamodb import Item
from contracts.names import KEY_OWNER, iso_utc
from services.shared.conditional_put import put_if_absent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_BYTES: Final = 32  # AES-256
#: The table's partition key and attributes. ``key`` is a DynamoDB reserved word: expressions
#: name it through ``#key``.
USER_ID: Final = KEY_OWNER
KEY: Final = "key"
CREATED_AT: Final = "createdAt"


def new_key() -> bytes:
    """A fresh 256-bit data key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def _now() -> datetime:
    return datetime.now(UTC)


class KeyVanishedError(RuntimeError):
    """A user's key was destroyed between a failed create (another writer's key was there) and
    the read of that key: the user is being erased. Retrying sees no key and creates one only
    if the caller still means to."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"the data key of user {user_id} was destroyed while it was being read")
        self.user_id = user_id


class KeyStore(Protocol):
    def get(self, user_id: str) -> bytes | None:
        """The user's key, or ``None`` when there is none (never created, or destroyed)."""
        ...

    def get_or_create(self, user_id: str) -> bytes:
        """The user's key, created if absent; racing callers all get the same key."""
        ...


def key_item(user_id: str, key: bytes, created_at: datetime) -> Item:
    return {
        USER_ID: {"S": user_id},
        KEY: {"B": key},
        CREATED_AT: {"S": iso_utc(created_at)},
    }


class DynamoKeyStore:
    """``KeyStore`` on the ``UserKeys`` table, through boto3's low-level client; every read is
    strongly consistent, so a key created or destroyed a moment ago is seen."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        clock: Callable[[], datetime] = _now,
        generate: Callable[[], bytes] = new_key,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._generate = generate

    def get(self, user_id: str) -> bytes | None:
        found = self._client.get_item(
            TableName=self._table,
            Key={USER_ID: {"S": user_id}},
            ConsistentRead=True,
            ProjectionExpression="#key",
            ExpressionAttributeNames={"#key": KEY},
        )
        item = found.get("Item")
        return bytes(item[KEY]["B"]) if item else None

    def get_or_create(self, user_id: str) -> bytes:
        # Read first: a key is created once per user and read at every profile change after.
        found = self.get(user_id)
        return found if found is not None else self.create(user_id)

    def create(self, user_id: str) -> bytes:
        """Write a new key unless the user has one (a conditional put); the key the table holds
        afterwards — ours, or the one another writer put there first."""
        key = self._generate()
        existing = put_if_absent(
            self._client, self._table, key_item(user_id, key, self._clock()), USER_ID
        )
        if existing is None:
            return key
        if KEY in existing:  # DynamoDB hands back the winner with the failed condition
            return bytes(existing[KEY]["B"])
        winner = self.get(user_id)  # an emulator that does not: read it, consistently
        if winner is None:
            raise KeyVanishedError(user_id)
        return winner


class MemoryKeyStore:
    """``KeyStore`` over a dict of items, with ``DynamoKeyStore``'s behaviour (the tests hold the
    two to one contract) and ``DynamoKeyShredder``'s ``destroy``. Stores built on one ``items``
    dict see each other's writes, as two functions see one table."""

    def __init__(
        self,
        items: dict[str, Item] | None = None,
        *,
        clock: Callable[[], datetime] = _now,
        generate: Callable[[], bytes] = new_key,
    ) -> None:
        self.items: dict[str, Item] = {} if items is None else items
        self._clock = clock
        self._generate = generate

    def get(self, user_id: str) -> bytes | None:
        item = self.items.get(user_id)
        return bytes(item[KEY]["B"]) if item else None

    def get_or_create(self, user_id: str) -> bytes:
        found = self.get(user_id)
        return found if found is not None else self.create(user_id)

    def create(self, user_id: str) -> bytes:
        item = self.items.setdefault(user_id, key_item(user_id, self._generate(), self._clock()))
        return bytes(item[KEY]["B"])

    def destroy(self, user_id: str) -> bool:
        return self.items.pop(user_id, None) is not None
