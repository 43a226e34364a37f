"""The projector's store against DynamoDB (moto, in process) — and the fake the other tests use,
held to the same contract: the same calls, the same answers, the same items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts import dynamodb
from contracts.names import REPLAY_MARK
from contracts.user_fields import PROFILE_FIELDS
from services.user_projector.logic import (
    CognitoUser,
    ItemChange,
    email_change,
    profile_change,
    tombstone_change,
    tombstone_item,
)
from services.user_projector.store import CognitoIdentity, DynamoUserStore, change_expressions
from tests.support import FakeProjectorStore, user_deleted_envelope

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"
OTHER_POOL = "us-east-1_Zz98Yy76X"
TABLE = "users"


class MotoStore(DynamoUserStore):
    """``DynamoUserStore`` on a moto table, reading items back for the assertions."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, TABLE)
        self.client = client

    def item(self) -> dict[str, Any] | None:
        found = self.client.get_item(TableName=TABLE, Key={"id": {"S": SUB}}, ConsistentRead=True)
        return found.get("Item")


class Fake(FakeProjectorStore):
    def item(self) -> dict[str, Any] | None:
        return self.items.get(SUB)


@pytest.fixture(params=["dynamodb", "fake"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "fake":
        yield Fake()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield MotoStore(client)


def first_item(pool: str = POOL, **extra: Any) -> dynamodb.Item:
    return dynamodb.to_item(
        {
            "id": SUB,
            "__typename": "User",
            "userPoolId": pool,
            "email": "ada@example.com",
            "owner": SUB,
            "createdAt": "2026-11-28T06:59:59.870Z",
            "updatedAt": "2026-11-28T06:59:59.870Z",
            "_version": 1,
            "_lastChangedAt": 1_795_849_199_870,
            **extra,
        }
    )


def change(
    version: int, *, pool: str = POOL, replay_name: str | None = None, **profile: Any
) -> ItemChange:
    detail = {
        "sub": SUB,
        "userPoolId": pool,
        "name": None,
        "age": None,
        **profile,
        "updatedAt": f"2026-12-01T09:0{version}:00.000Z",
        "_version": version,
        "_lastChangedAt": 1_796_115_600_000 + version,
    }
    return profile_change(detail, {name: detail[name] for name in PROFILE_FIELDS}, replay_name)


def plain(item: dynamodb.Item | None) -> dict[str, Any] | None:
    return None if item is None else dynamodb.from_item(item)


def test_create_writes_once_then_answers_with_the_item_found(store: Any) -> None:
    assert store.create(first_item()) is None
    assert store.create(first_item(OTHER_POOL)) == first_item()
    assert store.item() == first_item()


def test_a_change_sets_the_fields_present_and_removes_the_cleared(store: Any) -> None:
    store.create(first_item(name="Ada", age=36))

    assert store.change(change(2, name="Ada L.")) is None

    item = plain(store.item())
    assert item is not None
    assert (item["name"], "age" in item, item["_version"]) == ("Ada L.", False, 2)
    assert item["updatedAt"] == "2026-12-01T09:02:00.000Z"
    assert item["_lastChangedAt"] == 1_796_115_600_002
    assert item["email"] == "ada@example.com"


def test_a_change_to_no_item_answers_with_nothing_found(store: Any) -> None:
    assert store.change(change(2, name="Ada")) == {}
    assert store.item() is None


@pytest.mark.parametrize("version", [2, 3], ids=["older", "equal"])
def test_a_change_not_above_the_items_version_answers_with_the_item(
    version: int, store: Any
) -> None:
    store.create(first_item())
    store.change(change(3, name="Grace"))
    current = store.item()

    assert store.change(change(version, name="Ada")) == current
    assert store.item() == current


def test_a_change_from_another_pool_answers_with_the_item(store: Any) -> None:
    store.create(first_item())
    assert store.change(change(2, pool=OTHER_POOL, name="Mallory")) == first_item()
    assert store.item() == first_item()


def test_a_replayed_change_writes_the_mark_a_live_one_removes_it(store: Any) -> None:
    store.create(first_item())

    assert store.change(change(2, replay_name="rebuild-1", name="Ada", age=3)) is None
    assert store.item()[REPLAY_MARK] == {"S": "rebuild-1"}

    assert store.change(change(3, name="Ada")) is None
    assert REPLAY_MARK not in store.item()


def test_the_mark_is_removed_only_when_it_holds_the_replays_name(store: Any) -> None:
    store.create(first_item(**{REPLAY_MARK: "rebuild-2"}))

    assert store.remove_mark(SUB, "rebuild-1") is False
    assert store.item()[REPLAY_MARK] == {"S": "rebuild-2"}

    assert store.remove_mark(SUB, "rebuild-2") is True
    assert store.item() == first_item()
    assert store.remove_mark(SUB, "rebuild-2") is False


def test_removing_a_mark_never_creates_an_item(store: Any) -> None:
    assert store.remove_mark(SUB, "rebuild-1") is False
    assert store.item() is None


def test_the_update_expression_sets_removes_and_guards_by_pool_and_version() -> None:
    live = change_expressions(change(4, name="Ada"))
    names: Any = live["ExpressionAttributeNames"]
    assert live["ConditionExpression"] == (
        "attribute_exists(#id) AND #pool = :pool AND #version < :version"
    )
    removed = str(live["UpdateExpression"]).split(" REMOVE ")[1].split(", ")
    assert [names[placeholder] for placeholder in removed] == ["age", REPLAY_MARK]

    replay = change_expressions(change(4, replay_name="r", name="Ada", age=3))
    assert " REMOVE " not in str(replay["UpdateExpression"])  # nothing cleared, the mark SET


def test_a_correction_writes_only_while_the_item_is_as_read(store: Any) -> None:
    store.create(first_item())
    read = {name: first_item()[name] for name in ("createdAt", "_version")}
    earlier = dynamodb.to_item({"createdAt": "2026-11-28T06:59:58.000Z"})
    assert store.correct(SUB, read, earlier) is True
    assert plain(store.item())["createdAt"] == "2026-11-28T06:59:58.000Z"  # type: ignore[index]
    # What was read no longer holds: the item moved on, nothing is written.
    assert store.correct(SUB, read, dynamodb.to_item({"email": "x@example.com"})) is False
    assert plain(store.item())["email"] == "ada@example.com"  # type: ignore[index]


def test_a_live_correction_removes_a_mark_a_replay_left_a_replayed_one_keeps_its_own(
    store: Any,
) -> None:
    """A live write is no replay's: left marked, both stream readers would skip it."""
    store.create(first_item(**{REPLAY_MARK: "rebuild-1"}))
    read = {name: first_item()[name] for name in ("email", "createdAt", "_version")}
    assert store.correct(SUB, read, dynamodb.to_item({"createdAt": "2026-11-28T06:59:58.000Z"}))
    assert REPLAY_MARK not in store.item()
    marked = dynamodb.to_item({"email": "a@example.com", REPLAY_MARK: "rebuild-2"})
    assert store.correct(SUB, {"_version": {"N": "1"}}, marked)
    assert plain(store.item())[REPLAY_MARK] == "rebuild-2"  # type: ignore[index]


def email_to(version: int, email: str | None = "ada.l@example.com") -> ItemChange:
    detail = {
        "sub": SUB,
        "userPoolId": POOL,
        "updatedAt": f"2026-12-01T09:0{version}:00.000Z",
        "_version": version,
        "_lastChangedAt": 1_796_115_600_000 + version,
    }
    return email_change(detail, email)


def test_an_email_change_writes_only_over_the_version_just_before_its_own(store: Any) -> None:
    store.create(first_item(name="Ada"))

    assert store.change(email_to(3)) == first_item(name="Ada")  # version 2 is missing
    assert store.item() == first_item(name="Ada")

    assert store.change(email_to(2)) is None
    item = plain(store.item())
    assert item is not None
    assert (item["email"], item["_version"], item["name"]) == ("ada.l@example.com", 2, "Ada")
    assert store.change(email_to(2)) == store.item()  # a duplicate


def test_an_email_change_without_an_email_removes_it(store: Any) -> None:
    store.create(first_item())
    assert store.change(email_to(2, None)) is None
    assert "email" not in store.item()


def test_the_following_condition_names_the_version_before() -> None:
    expressions = change_expressions(email_to(5))
    assert expressions["ConditionExpression"] == (
        "attribute_exists(#id) AND #pool = :pool AND #version = :follows"
    )
    values: Any = expressions["ExpressionAttributeValues"]
    assert values[":follows"] == {"N": "4"} and ":version" not in values


def test_a_tombstone_removes_every_personal_field(store: Any) -> None:
    store.create(first_item(name="Ada", age=36))
    detail = user_deleted_envelope(2, SUB)["detail"]

    assert store.change(tombstone_change(detail)) is None

    assert plain(store.item()) == {
        "id": SUB,
        "__typename": "User",
        "owner": SUB,
        "userPoolId": POOL,
        "createdAt": detail["createdAt"],
        "updatedAt": detail["updatedAt"],
        "_version": 2,
        "_lastChangedAt": detail["_lastChangedAt"],
        "_deleted": True,
        "_ttl": detail["expiresAt"],
    }
    assert store.change(tombstone_change(detail)) == store.item()  # a duplicate


def test_a_tombstone_without_an_item_is_created_as_the_item_would_become(store: Any) -> None:
    detail = user_deleted_envelope(2, SUB)["detail"]
    assert store.change(tombstone_change(detail)) == {}
    assert store.create(tombstone_item(detail)) is None
    created = store.item()

    assert created == tombstone_item(detail)
    assert "email" not in created and created["_deleted"] == {"BOOL": True}


# --- Cognito, where the email is read ---------------------------------------------------------


@pytest.fixture
def cognito() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("cognito-idp", region_name="eu-west-1")
        pool = client.create_user_pool(PoolName="users", UsernameAttributes=["email"])
        yield client, pool["UserPool"]["Id"]


def sub_of(client: Any, pool: str, username: str) -> str:
    attributes = client.admin_get_user(UserPoolId=pool, Username=username)["UserAttributes"]
    return next(a["Value"] for a in attributes if a["Name"] == "sub")


def test_cognito_answers_with_the_users_email_by_sub(cognito: tuple[Any, str]) -> None:
    client, pool = cognito
    client.admin_create_user(
        UserPoolId=pool,
        Username="ada@example.com",
        UserAttributes=[{"Name": "email", "Value": "ada@example.com"}],
    )
    sub = sub_of(client, pool, "ada@example.com")

    assert CognitoIdentity(client).user(pool, sub) == CognitoUser("ada@example.com")


def test_cognito_without_the_user_answers_none(cognito: tuple[Any, str]) -> None:
    client, pool = cognito
    assert CognitoIdentity(client).user(pool, "0f1e2d3c-4b5a-4697-8877-665544332211") is None


def test_cognito_answers_with_no_email_for_a_user_without_one(cognito: tuple[Any, str]) -> None:
    """A federated user (their username is not their sub: found through ListUsers) whose
    provider shared no email."""
    client, _ = cognito
    pool = client.create_user_pool(PoolName="federated")["UserPool"]["Id"]
    client.admin_create_user(UserPoolId=pool, Username="Google_1234567890")
    sub = sub_of(client, pool, "Google_1234567890")

    assert CognitoIdentity(client).user(pool, sub) == CognitoUser(None)


def adopted_at(version: int) -> ItemChange:
    from services.user_projector.logic import adoption_change

    detail = {
        "sub": SUB,
        "userPoolId": POOL,
        "createdAt": "2025-02-01T10:00:00.000Z",
        "updatedAt": "2025-03-01T10:00:00.000Z",
        "_version": version,
        "_lastChangedAt": 1_740_823_200_000,
        "adoptedFrom": "User-abc-dev",
    }
    return adoption_change(detail, {"name": "Ada", "age": None}, "ada@example.com")


def test_an_adoption_applies_over_a_confirmations_first_item_at_its_own_version_once(
    store: Any,
) -> None:
    store.create(first_item())
    assert store.change(adopted_at(1)) is None  # version 1 over version 1: the adoption wins
    item = plain(store.item())
    assert item is not None
    assert (item["_version"], item["name"], item["_adoptedFrom"]) == (1, "Ada", "User-abc-dev#1")
    assert item["createdAt"] == "2025-02-01T10:00:00.000Z"
    assert store.change(adopted_at(1)) == store.item()  # adopted now: a duplicate, no write


def test_an_adoption_never_applies_at_its_version_over_an_edited_item(store: Any) -> None:
    store.create(first_item(_version=2, name="Ada L."))
    assert store.change(adopted_at(2)) == store.item()
