"""Reading the stack's tables: every item (``scan``), the User table's items and ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from contracts.names import USER_KEY
from contracts.user_model import User
from userpipe.aws.deployment import Deployment
from userpipe.errors import OperatorError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def scan(dynamodb: DynamoDBClient, table: str, **options: Any) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (consistent reads, page by page)."""
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=table, ConsistentRead=True, **options):
        yield from page.get("Items", [])


def user_items(deployment: Deployment) -> dict[str, User]:
    return {
        user.id: user
        for user in map(
            User.from_item,
            scan(deployment.clients.dynamodb, deployment.output("user_table_name")),
        )
    }


def user_ids(deployment: Deployment) -> Iterator[str]:
    for item in scan(
        deployment.clients.dynamodb,
        deployment.output("user_table_name"),
        ProjectionExpression="#key",
        ExpressionAttributeNames={"#key": USER_KEY},
    ):
        yield str(item[USER_KEY]["S"])


def is_empty(deployment: Deployment, table: str) -> bool:
    # Without a filter, a scan of one item returns it if the table has any.
    response = deployment.clients.dynamodb.scan(TableName=table, Limit=1, ConsistentRead=True)
    return not response.get("Items")


def empty_user_table(deployment: Deployment) -> int:
    """Delete every item of the User table — the local stack's only: on AWS a delete cannot be
    undone and the API would serve nobody meanwhile (docs/operations.md)."""
    if not deployment.local:
        raise OperatorError("emptying the User table is for the local stack only")
    table = deployment.output("user_table_name")
    deleted = 0
    for user_id in list(user_ids(deployment)):
        deployment.clients.dynamodb.delete_item(TableName=table, Key={USER_KEY: {"S": user_id}})
        deleted += 1
    return deleted
