"""The local stack's GraphQL path over an item in the recipe's shape: the item a recipe app's
post-confirmation Lambda wrote for a user of the pool (no ``owner``, no ``userPoolId``), put into
the User table directly, is read by its owner and by an Admin as the user it stands for, and
its first edit writes what it lacked (docs/architecture.md, "Items in the recipe's shape")."""

from __future__ import annotations

import pytest

from userpipe.aws.queues import wait_until_drained
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery!"
USER = "{ id owner name age _version _deleted createdAt }"
GET_USER = f"query Get($id: ID!) {{ getUser(id: $id) {USER} }}"
ME = f"query {{ me {USER} }}"
LIST_USERS = (
    f"query List($filter: ModelUserFilterInput) {{ listUsers(filter: $filter) {{ items {USER} }} }}"
)
SYNC_USERS = f"query {{ syncUsers(lastSync: 0) {{ items {USER} }} }}"
EDIT = f"mutation Edit($input: UpdateUserInput!) {{ updateUser(input: $input) {USER} }}"


def test_an_item_in_the_recipes_shape_is_read_by_its_owner_and_an_admin_and_edited(
    stack: LocalStack, client: StackClient
) -> None:
    sub, tokens = client.confirmed_user("grace@example.com", PASSWORD)
    _, admin = client.confirmed_user("admin@example.com", PASSWORD, groups=("Admin",))
    wait_until_drained(client.aws.sqs, client.queue_urls, timeout=30)
    stack.settle()  # projected: the recipe's item now takes the place of userpipe's
    table = client.outputs["user_table_name"]
    client.aws.dynamodb.put_item(
        TableName=table,
        Item={
            "id": {"S": sub},
            "__typename": {"S": "User"},
            "email": {"S": "grace@example.com"},
            "name": {"S": "Grace"},
            "createdAt": {"S": "2025-03-01T10:00:00.000Z"},
            "updatedAt": {"S": "2025-04-01T10:00:00.000Z"},
            "_version": {"N": "3"},
            "_lastChangedAt": {"N": "1743501600000"},
        },
    )
    expected = {
        "id": sub,
        "owner": sub,
        "name": "Grace",
        "age": None,
        "_version": 3,
        "_deleted": None,
        "createdAt": "2025-03-01T10:00:00.000Z",
    }

    own = tokens.access
    assert client.graphql(ME, token=own).data == {"me": expected}
    assert client.graphql(GET_USER, {"id": sub}, token=own).data == {"getUser": expected}
    by_id = {"id": {"eq": sub}, "name": {"beginsWith": "Gr"}}
    listed = client.graphql(LIST_USERS, {"filter": by_id}, token=own)
    assert listed.data["listUsers"]["items"] == [expected]
    assert client.graphql(SYNC_USERS, token=own).data["syncUsers"]["items"] == [expected]
    assert client.graphql(GET_USER, {"id": sub}, token=admin.access).data == {"getUser": expected}
    everyone = client.graphql(LIST_USERS, {"filter": None}, token=admin.access)
    assert expected in everyone.data["listUsers"]["items"]

    edit = {"id": sub, "age": 36, "_version": 3}
    edited = client.graphql(EDIT, {"input": edit}, token=own).data["updateUser"]
    assert edited == {**expected, "age": 36, "_version": 4}
    item = client.aws.dynamodb.get_item(TableName=table, Key={"id": {"S": sub}})["Item"]
    assert item["owner"] == {"S": sub} and item["userPoolId"] == {"S": client.pool_id}
