"""Whether a user has been erased, read from the User table: the one read the change publisher
makes there (``logic.Erased``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.names import DELETED_ATTRIBUTE, USER_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ErasedUsers:
    """A user is erased when their item is gone or a tombstone (a strongly consistent read: a
    tombstone written a moment ago counts)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def __call__(self, user_id: str) -> bool:
        found = self._client.get_item(
            TableName=self._table,
            Key={USER_KEY: {"S": user_id}},
            ConsistentRead=True,
            ProjectionExpression="#deleted",
            ExpressionAttributeNames={"#deleted": DELETED_ATTRIBUTE},
        )
        item = found.get("Item")
        return item is None or item.get(DELETED_ATTRIBUTE, {}).get("BOOL") is True
