"""DynamoDB's create-if-absent write, shared by the stores that append and never overwrite.

The item's attribute values come from ``contracts.dynamodb``; this module only makes the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.dynamodb import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def put_if_absent(client: DynamoDBClient, table_name: str, item: Item, key: str) -> Item | None:
    """Write ``item`` unless an item with its key exists: one conditional write, never an
    overwrite. Returns ``None`` when written, else the item found there — DynamoDB hands it back
    with the failed condition (``ReturnValuesOnConditionCheckFailure``), no second read."""
    try:
        client.put_item(
            TableName=table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(#key)",
            ExpressionAttributeNames={"#key": key},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        existing: Item = getattr(exc, "response", {}).get("Item") or {}
        return existing
    return None
