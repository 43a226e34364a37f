"""Reading the stack's tables: every item (``scan``), the User table's items and ids (and the ids
of items carrying the replay mark)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from contracts.names import REPLAY_MARK, USER_KEY
from contracts.user_model import User
from userpipe.aws.deployment import Deployment
from userpipe.errors import OperatorError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


#: Items a Scan page holds at most. Without a ``Limit`` a page is everything up to 1 MB, and
#: the time to answer it grows with the items in it. DynamoDB answers 1 MB in well under the
#: clients' 4 s read budget (``clients.READ_TIMEOUT_SECONDS``); moto does not: about 1 ms an item
#: in-process and 2-4 ms behind the local stack on a busy 2-core machine, where one 1 MB page of
#: 1,600 items took 3.8 s and ``make bench`` at N=2000 failed with a ReadTimeoutError. A page
#: bounded by items bounds every call's work on either backend (250 items: about a second on
#: that machine), so the one read budget still means "a dead endpoint, not a slow one" and no
#: scan-specific timeout has to guess an emulator's speed under load. On DynamoDB it costs round
#: trips only: read capacity is charged by the size of the items read (rounded up to 4 KB a
#: call), and the scans of rebuild and reconcile run beside Cognito's ListUsers (60 users a
#: call, 5 calls a second by default), which stays by far the slower half.
SCAN_PAGE_ITEMS: Final = 250


def scan(dynamodb: DynamoDBClient, table: str, **options: Any) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (consistent reads, pages of at most ``SCAN_PAGE_ITEMS`` items
    unless ``options`` give another ``Limit``)."""
    paginator = dynamodb.get_paginator("scan")
    request = {"TableName": table, "ConsistentRead": True, "Limit": SCAN_PAGE_ITEMS, **options}
    for page in paginator.paginate(**request):
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


def marked_item_ids(deployment: Deployment) -> Iterator[str]:
    """The ids of User items that carry the replay mark (``contracts.replay_mark``): the
    projector's replay writes whose second write, the mark's removal, has not happened yet."""
    for item in scan(
        deployment.clients.dynamodb,
        deployment.output("user_table_name"),
        ProjectionExpression="#key",
        FilterExpression="attribute_exists(#mark)",
        ExpressionAttributeNames={"#key": USER_KEY, "#mark": REPLAY_MARK},
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
