"""The API's store against DynamoDB (here moto): a replay's mark on an item is never served,
and an edit removes it; an item in the recipe's shape (no ``owner``, no ``userPoolId``, maybe no
``__typename``) is read and edited as the user of this pool it stands for, and an item of
another pool stays that pool's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts.names import REPLAY_MARK
from contracts.user_model import User
from services.user_api import handler
from services.user_api.errors import ConflictUnhandled, NotFound, Unauthorized
from services.user_api.logic import UserApi
from services.user_api.page_tokens import PageTokens
from services.user_api.store import DynamoUserApiStore
from tests.support import appsync_event, cognito_identity, iam_identity, unwrap

OWNER = "00000000-0000-4000-8000-00000000000a"
POOL = "eu-west-1_Ab12Cd34E"
OTHER_POOL = "eu-west-1_Zz98Yy76X"
RECIPE = "00000000-0000-4000-8000-00000000000b"  # the recipe's item: no owner, no userPoolId
HANDMADE = "00000000-0000-4000-8000-00000000000d"  # ...nor __typename
FOREIGN = "00000000-0000-4000-8000-00000000000e"  # another pool's
ADMIN = cognito_identity("00000000-0000-4000-8000-00000000000c", ["Admin"])


def recipe_item(sub: str, **more: Any) -> dict[str, Any]:
    """What the recipe's post-confirmation Lambda writes, and DataStore edits
    (docs/architecture.md, "Items in the recipe's shape")."""
    return {
        "id": {"S": sub},
        "__typename": {"S": "User"},
        "email": {"S": f"{sub[-4:]}@example.com"},
        "createdAt": {"S": "2025-03-01T10:00:00.000Z"},
        "updatedAt": {"S": "2025-04-01T10:00:00.000Z"},
        "_version": {"N": "3"},
        "_lastChangedAt": {"N": "1743501600000"},
        "name": {"S": "Grace"},
    } | more


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="users",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = User(
            id=OWNER,
            user_pool_id="eu-west-1_Ab12Cd34E",
            email="000a@example.com",
            owner=OWNER,
            name="Ada",
            created_at="2026-11-28T07:00:00.000Z",
            updated_at="2026-11-28T07:00:00.000Z",
            version=1,
            last_changed_at=1_795_849_200_000,
        ).to_item()
        item[REPLAY_MARK] = {"S": "userpipe-rebuild-1"}  # between the projector's two writes
        client.put_item(TableName="users", Item=item)
        client.put_item(TableName="users", Item=recipe_item(RECIPE))
        handmade = recipe_item(HANDMADE, age={"N": "40"})
        del handmade["__typename"]
        client.put_item(TableName="users", Item=handmade)
        foreign = recipe_item(FOREIGN, userPoolId={"S": OTHER_POOL}, owner={"S": FOREIGN})
        client.put_item(TableName="users", Item=foreign)
        yield client


@pytest.fixture
def call(table: Any, lambda_context: Any) -> Any:
    store = DynamoUserApiStore(table, "users", "audit", POOL)
    api = UserApi(store, PageTokens(b"k" * 32), "Admin")

    def invoke(type_name: str, field: str, *, who: Any = None, **arguments: Any) -> Any:
        event = appsync_event(type_name, field, arguments, who or cognito_identity(OWNER))
        return unwrap(handler.resolve(event, lambda_context, lambda: api))

    return invoke


def test_an_item_carrying_the_replay_mark_is_served_without_it(call: Any) -> None:
    served = call("Query", "me")
    assert served["id"] == OWNER and served["name"] == "Ada"
    assert REPLAY_MARK not in served
    assert REPLAY_MARK not in call("Query", "getUser", id=OWNER)


def test_an_edit_removes_the_replay_mark_so_it_is_a_change_of_its_own(
    call: Any, table: Any
) -> None:
    updated = call("Mutation", "updateUser", input={"id": OWNER, "age": 36, "_version": 1})
    assert updated["age"] == 36 and updated["_version"] == 2
    assert REPLAY_MARK not in updated
    stored = table.get_item(TableName="users", Key={"id": {"S": OWNER}})["Item"]
    assert REPLAY_MARK not in stored
    assert stored["age"] == {"N": "36"} and stored["name"] == {"S": "Ada"}


def test_an_edit_of_an_item_without_the_mark_still_succeeds(call: Any, table: Any) -> None:
    call("Mutation", "updateUser", input={"id": OWNER, "name": "Ada L."})
    again = call("Mutation", "updateUser", input={"id": OWNER, "name": None})
    assert again["name"] is None and again["_version"] == 3


def test_a_deleted_users_tombstone_cannot_be_edited(call: Any, table: Any) -> None:
    """Erasure leaves no profile: an edit of a tombstone is refused by name, never written."""
    table.update_item(
        TableName="users",
        Key={"id": {"S": OWNER}},
        UpdateExpression="SET #d = :t REMOVE email, #n",
        ExpressionAttributeNames={"#d": "_deleted", "#n": "name"},
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    with pytest.raises(Exception, match=f"user {OWNER} was deleted"):
        call("Mutation", "updateUser", input={"id": OWNER, "name": "Ada"})
    stored = table.get_item(TableName="users", Key={"id": {"S": OWNER}})["Item"]
    assert "name" not in stored and "email" not in stored
    assert call("Query", "getUser", id=OWNER)["_deleted"] is True  # DataStore learns of it


def stored(table: Any, sub: str) -> dict[str, Any]:
    item: dict[str, Any] = table.get_item(TableName="users", Key={"id": {"S": sub}})["Item"]
    return item


@pytest.mark.parametrize("sub", [RECIPE, HANDMADE])
def test_an_item_in_the_recipes_shape_reads_as_the_user_it_stands_for(call: Any, sub: str) -> None:
    """owner is its id (the recipe's owner field is id), __typename is User: never an
    InternalFailure, for the owner, an Admin and an IAM operator alike."""
    me = call("Query", "me", who=cognito_identity(sub))
    assert (me["id"], me["owner"], me["__typename"], me["_version"]) == (sub, sub, "User", 3)
    assert me["name"] == "Grace" and me["userPoolId"] == POOL  # AppSync serves no userPoolId
    for who in (cognito_identity(sub), ADMIN, iam_identity()):
        assert call("Query", "getUser", who=who, id=sub) == me
    assert call("Query", "listUsers", who=cognito_identity(sub))["items"] == [me]
    assert call("Query", "syncUsers", who=cognito_identity(sub), lastSync=0)["items"] == [me]
    assert call("Query", "syncUsers", who=cognito_identity(sub), lastSync=1)["items"] == [me]
    everyone = call("Query", "listUsers", who=ADMIN)["items"]
    assert me in everyone and len(everyone) == 4


def test_the_owner_rule_holds_on_an_item_in_the_recipes_shape(call: Any) -> None:
    with pytest.raises(Unauthorized):
        call("Query", "getUser", id=RECIPE)  # OWNER asks for another user's
    with pytest.raises(Unauthorized):
        call("Mutation", "updateUser", input={"id": RECIPE, "name": "Mallory"})
    assert call("Query", "listUsers")["items"][0]["id"] == OWNER  # only their own


def test_an_owners_filter_on_id_selects_an_item_in_the_recipes_shape_as_on_id(call: Any) -> None:
    """An owner's read is a Query by key, whose filter may not name id: its clauses are decided
    with the key's value, so an item without owner answers as any other."""
    who = cognito_identity(RECIPE)
    for filter, selected in [
        ({"id": {"eq": RECIPE}}, [RECIPE]),
        ({"id": {"ne": RECIPE}}, []),
        ({"or": [{"id": {"beginsWith": "nobody"}}, {"name": {"eq": "Grace"}}]}, [RECIPE]),
        ({"not": {"id": {"attributeExists": True}}}, []),
        ({"id": {"size": {"eq": len(RECIPE)}}, "name": {"beginsWith": "Gr"}}, [RECIPE]),
    ]:
        for field, more in (("listUsers", {}), ("syncUsers", {"lastSync": 0})):
            page = call("Query", field, who=who, filter=filter, **more)
            assert [user["id"] for user in page["items"]] == selected, (field, filter)


def test_an_edit_of_an_item_in_the_recipes_shape_writes_what_it_lacked_along(
    call: Any, table: Any
) -> None:
    who = cognito_identity(HANDMADE)
    with pytest.raises(ConflictUnhandled) as conflict:
        call("Mutation", "updateUser", who=who, input={"id": HANDMADE, "age": 41, "_version": 1})
    assert conflict.value.data["owner"] == HANDMADE and conflict.value.data["_version"] == 3
    assert "owner" not in stored(table, HANDMADE)  # nothing written
    edited = call(
        "Mutation", "updateUser", who=who, input={"id": HANDMADE, "age": 41, "_version": 3}
    )
    assert (edited["age"], edited["_version"], edited["owner"]) == (41, 4, HANDMADE)
    item = stored(table, HANDMADE)
    assert item["userPoolId"] == {"S": POOL} and item["owner"] == {"S": HANDMADE}
    assert item["__typename"] == {"S": "User"} and item["name"] == {"S": "Grace"}
    assert item["createdAt"] == {"S": "2025-03-01T10:00:00.000Z"}  # the recipe's, kept


def test_an_edit_of_a_complete_item_changes_nothing_but_the_edit(call: Any, table: Any) -> None:
    before = stored(table, OWNER)
    call("Mutation", "updateUser", input={"id": OWNER, "age": 36})
    after = stored(table, OWNER)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert changed == {"age", "_version", "updatedAt", "_lastChangedAt", REPLAY_MARK}


def test_a_datastore_deleted_item_in_the_recipes_shape_is_read_and_not_edited(
    call: Any, table: Any
) -> None:
    table.put_item(
        TableName="users", Item=recipe_item(RECIPE, _deleted={"BOOL": True}, _ttl={"N": "1"})
    )
    assert call("Query", "getUser", who=ADMIN, id=RECIPE)["_deleted"] is True
    with pytest.raises(NotFound, match=f"user {RECIPE} was deleted"):
        call("Mutation", "updateUser", who=ADMIN, input={"id": RECIPE, "name": "Grace H."})
    assert "userPoolId" not in stored(table, RECIPE)


def test_an_item_of_another_pool_stays_that_pools(call: Any, table: Any) -> None:
    """Only what an item lacks is read as this pool's: another pool's item is neither claimed
    on a read nor stamped by an edit (the resolver serves it as it did before)."""
    store = DynamoUserApiStore(table, "users", "audit", POOL)
    foreign = store.get(FOREIGN)
    assert foreign is not None and foreign["userPoolId"] == OTHER_POOL
    call("Mutation", "updateUser", who=ADMIN, input={"id": FOREIGN, "age": 9})
    assert stored(table, FOREIGN)["userPoolId"] == {"S": OTHER_POOL}
