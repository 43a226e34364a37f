"""The User table, as the projector writes it: create if absent, apply a newer change, remove a
replay's mark — each one conditional write that writes only when it changes the item. And
Cognito, where the projector reads a user's email (no event carries it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import dynamodb
from contracts.names import ADOPTED_ATTRIBUTE, REPLAY_MARK, USER_KEY
from services.shared.cognito_users import find_by_sub
from services.shared.conditional_put import put_if_absent
from services.user_projector.logic import CognitoUser, ItemChange

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient

#: A change applies to an item of its pool, below its version: so when it writes, it changes
#: the item (at least ``_version``), and a duplicate or an older change writes nothing.
CHANGE_CONDITION = "attribute_exists(#id) AND #pool = :pool AND #version < :version"
#: Or, for an adoption (``ItemChange.over_first_version``), over a confirmation's first item.
OVER_FIRST_VERSION = (
    "attribute_exists(#id) AND #pool = :pool AND #version = :first "
    "AND attribute_not_exists(#adopted)"
)
#: A change that must follow the item's version exactly (``ItemChange.follows``).
FOLLOWING_CONDITION = "attribute_exists(#id) AND #pool = :pool AND #version = :follows"


def change_expressions(change: ItemChange) -> dict[str, object]:
    """The ``UpdateItem`` arguments of ``change`` (all but the table and the return values)."""
    names = {"#id": USER_KEY, "#pool": "userPoolId", "#version": "_version"}
    values: dynamodb.Item = {":pool": {"S": change.user_pool_id}}
    if change.follows is None:
        condition, values[":version"] = CHANGE_CONDITION, {"N": str(change.version)}
        if change.over_first_version:
            condition = f"({condition}) OR ({OVER_FIRST_VERSION})"
            names["#adopted"], values[":first"] = ADOPTED_ATTRIBUTE, {"N": "1"}
    else:
        condition, values[":follows"] = FOLLOWING_CONDITION, {"N": str(change.follows)}
    sets = []
    for index, (name, value) in enumerate(change.values.items()):
        names[f"#s{index}"], values[f":s{index}"] = name, value
        sets.append(f"#s{index} = :s{index}")
    removed = list(change.cleared)
    if REPLAY_MARK not in change.values:
        removed.append(REPLAY_MARK)  # a live change is no replay's write, whatever came before
    removes = []
    for index, name in enumerate(removed):
        names[f"#r{index}"] = name
        removes.append(f"#r{index}")
    expression = f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else "")
    return {
        "Key": {USER_KEY: {"S": change.user_id}},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


class DynamoUserStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def create(self, item: dynamodb.Item) -> dynamodb.Item | None:
        return put_if_absent(self._client, self._table_name, item, USER_KEY)

    def change(self, change: ItemChange) -> dynamodb.Item | None:
        try:
            self._client.update_item(
                TableName=self._table_name,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **change_expressions(change),  # type: ignore[arg-type]
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            old: dynamodb.Item = getattr(exc, "response", {}).get("Item") or {}
            return old
        return None

    def correct(self, user_id: str, expected: dynamodb.Item, values: dynamodb.Item) -> bool:
        names = {f"#e{i}": name for i, name in enumerate(expected)}
        names |= {f"#s{i}": name for i, name in enumerate(values)}
        given: dynamodb.Item = {f":e{i}": value for i, value in enumerate(expected.values())}
        given |= {f":s{i}": value for i, value in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(values)))
        if REPLAY_MARK not in values:  # a live correction is no replay's write (as in a change)
            names["#mark"] = REPLAY_MARK
            expression += " REMOVE #mark"
        try:
            self._client.update_item(
                TableName=self._table_name,
                Key={USER_KEY: {"S": user_id}},
                UpdateExpression=expression,
                ConditionExpression=" AND ".join(f"#e{i} = :e{i}" for i in range(len(expected))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=given,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def remove_mark(self, user_id: str, replay_name: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table_name,
                Key={USER_KEY: {"S": user_id}},
                UpdateExpression="REMOVE #mark",
                ConditionExpression="#mark = :name",
                ExpressionAttributeNames={"#mark": REPLAY_MARK},
                ExpressionAttributeValues={":name": {"S": replay_name}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class CognitoIdentity:
    """``Identity`` on Cognito: the user by sub (``services.shared.cognito_users``: a local
    user by ``AdminGetUser``, a federated one by ``ListUsers``)."""

    def __init__(self, client: CognitoIdentityProviderClient) -> None:
        self._client = client

    def user(self, user_pool_id: str, sub: str) -> CognitoUser | None:
        found = find_by_sub(self._client, user_pool_id, sub)
        return None if found is None else CognitoUser(email=found.email)
