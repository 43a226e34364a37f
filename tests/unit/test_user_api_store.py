"""The API's store against DynamoDB (here moto): a replay's mark on an item is never served,
and an edit removes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts.names import REPLAY_MARK
from contracts.user_model import User
from services.user_api import handler
from services.user_api.logic import UserApi
from services.user_api.page_tokens import PageTokens
from services.user_api.store import DynamoUserApiStore
from tests.support import appsync_event, cognito_identity, unwrap

OWNER = "00000000-0000-4000-8000-00000000000a"


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
        yield client


@pytest.fixture
def call(table: Any, lambda_context: Any) -> Any:
    api = UserApi(DynamoUserApiStore(table, "users", "audit"), PageTokens(b"k" * 32), "Admin")

    def invoke(type_name: str, field: str, **arguments: Any) -> Any:
        event = appsync_event(type_name, field, arguments, cognito_identity(OWNER))
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
