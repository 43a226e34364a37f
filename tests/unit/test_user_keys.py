"""The users' data keys against DynamoDB (moto, in process) and the in-memory fake, held to one
contract: a missing key reads as None, a key is created once however many writers race, and a
destroyed key is gone for good."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import pytest
from moto import mock_aws

from contracts.dynamodb import Item
from services.shared.key_shredder import DynamoKeyShredder
from services.shared.sealing import UnreadableSealError, open_json, seal_json
from services.shared.user_keys import (
    KEY_BYTES,
    DynamoKeyStore,
    KeyStore,
    KeyVanishedError,
    MemoryKeyStore,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
OTHER_SUB = "0f7e4f2c-1b9d-4c55-a1a2-5d3b8e0c9a61"
TABLE = "UserKeys"
NOW = datetime(2026, 12, 4, 2, 35, 26, 123_000, tzinfo=UTC)


class DynamoKeys(DynamoKeyStore):
    """The store and the shredder on one table: a key's whole life, as the tests follow it."""

    def __init__(self, client: DynamoDBClient, table_name: str, **options: Any) -> None:
        super().__init__(client, table_name, **options)
        self._shredder = DynamoKeyShredder(client, table_name)

    def destroy(self, user_id: str) -> bool:
        return self._shredder.destroy(user_id)


class Keys(KeyStore, Protocol):
    def destroy(self, user_id: str) -> bool: ...


#: Two stores on one table (two function instances), and how to read a raw item back.
Stores = tuple[DynamoKeys | MemoryKeyStore, DynamoKeys | MemoryKeyStore]


def clock() -> datetime:
    return NOW


@pytest.fixture(params=["dynamodb", "memory"])
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[Stores, Callable[[], Item | None]]]:
    if request.param == "memory":
        items: dict[str, Item] = {}
        yield (
            (MemoryKeyStore(items, clock=clock), MemoryKeyStore(items, clock=clock)),
            lambda: items.get(SUB),
        )
        return
    client = request.getfixturevalue("client")

    def item() -> Item | None:
        found = client.get_item(TableName=TABLE, Key={"id": {"S": SUB}}, ConsistentRead=True)
        return found.get("Item")

    yield (
        (DynamoKeys(client, TABLE, clock=clock), DynamoKeys(client, TABLE, clock=clock)),
        item,
    )


@pytest.fixture
def store(stores: tuple[Stores, Callable[[], Item | None]]) -> Keys:
    return stores[0][0]


def test_both_stores_are_key_stores() -> None:
    def accepts(store: KeyStore) -> KeyStore:
        return store

    assert accepts(MemoryKeyStore())
    with mock_aws():
        assert accepts(DynamoKeyStore(boto3.client("dynamodb", region_name="eu-west-1"), TABLE))


def test_a_user_without_a_key_has_none(store: Keys) -> None:
    assert store.get(SUB) is None


def test_a_created_key_is_32_random_bytes_stored_with_its_creation_time(
    stores: tuple[Stores, Callable[[], Item | None]],
) -> None:
    (store, _), item = stores
    key = store.get_or_create(SUB)
    assert isinstance(key, bytes) and len(key) == KEY_BYTES
    assert item() == {
        "id": {"S": SUB},
        "key": {"B": key},
        "createdAt": {"S": "2026-12-04T02:35:26.123Z"},
    }
    assert store.get_or_create(OTHER_SUB) != key


def test_get_or_create_is_idempotent(store: Keys) -> None:
    key = store.get_or_create(SUB)
    assert store.get_or_create(SUB) == key
    assert store.get(SUB) == key


def test_two_writers_racing_to_create_a_key_end_with_the_same_key(
    stores: tuple[Stores, Callable[[], Item | None]],
) -> None:
    """The first writer read no key; before its conditional put, the second created one. The
    first's put fails its condition and it returns the second's key, never its own."""
    (first, second), item = stores
    assert first.get(SUB) is None
    winner = second.get_or_create(SUB)
    assert first.create(SUB) == winner
    assert first.get_or_create(SUB) == winner == second.get(SUB)
    stored = item()
    assert stored is not None and stored["key"]["B"] == winner


def test_a_writer_whose_read_was_stale_still_returns_the_winners_key(
    stores: tuple[Stores, Callable[[], Item | None]],
) -> None:
    """The race through get_or_create itself: its read sees no key (the other writer's lands
    just after), its put then fails, and it answers with the key the table holds."""
    (first, second), _ = stores
    reads = {"count": 0}
    original_get = first.get

    def stale_then_fresh(user_id: str) -> bytes | None:
        reads["count"] += 1
        if reads["count"] == 1:
            second.get_or_create(user_id)
            return None
        return original_get(user_id)

    first.get = stale_then_fresh  # type: ignore[method-assign]
    assert first.get_or_create(SUB) == second.get(SUB)


def test_destroy_says_whether_there_was_a_key(store: Keys) -> None:
    store.get_or_create(SUB)
    assert store.destroy(SUB) is True
    assert store.get(SUB) is None
    assert store.destroy(SUB) is False
    assert store.destroy(OTHER_SUB) is False


def test_a_key_created_after_destroy_is_a_new_key(store: Keys) -> None:
    old = store.get_or_create(SUB)
    store.destroy(SUB)
    assert store.get_or_create(SUB) != old


def test_a_destroyed_key_shreds_what_it_sealed(store: Keys) -> None:
    """Crypto-shredding: once the key is gone, a key created later for the same user (a
    re-registration, a writer racing the erasure) does not open the old copies."""
    context = f"eu-west-1_Ab12Cd34E/{SUB}/2"
    sealed = seal_json(store.get_or_create(SUB), {"name": "Ada", "age": 36}, context=context)
    assert open_json(store.get_or_create(SUB), sealed, context=context)["name"] == "Ada"
    assert store.destroy(SUB)
    with pytest.raises(UnreadableSealError):
        open_json(store.get_or_create(SUB), sealed, context=context)


class AnswersWithoutTheWinner:
    """A DynamoDB client whose PutItem always fails its condition and, as an emulator may, hands
    back no item with the failure: the store must read the winner itself."""

    def __init__(self, client: object) -> None:
        self.client = client

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)

    def put_item(self, **_: object) -> object:
        exceptions = self.client.exceptions  # type: ignore[attr-defined]
        raise exceptions.ConditionalCheckFailedException(
            {"Error": {"Code": "ConditionalCheckFailedException", "Message": ""}}, "PutItem"
        )


@pytest.fixture
def client() -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_a_failed_create_without_the_winner_in_the_answer_reads_it(client: DynamoDBClient) -> None:
    winner = DynamoKeyStore(client, TABLE).get_or_create(SUB)
    store = DynamoKeyStore(AnswersWithoutTheWinner(client), TABLE)  # type: ignore[arg-type]
    assert store.create(SUB) == winner


def test_a_key_destroyed_between_a_failed_create_and_its_read_is_reported(
    client: DynamoDBClient,
) -> None:
    """The winner's key is gone by the time the store reads it: the user is being erased."""
    store = DynamoKeyStore(AnswersWithoutTheWinner(client), TABLE)  # type: ignore[arg-type]
    with pytest.raises(KeyVanishedError, match=SUB) as raised:
        store.create(SUB)
    assert raised.value.user_id == SUB
