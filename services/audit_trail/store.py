"""The Audit table: one item per stream record, appended; a deleted user's records redacted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from contracts import dynamodb
from contracts.audit_item import AuditEntry, FieldChange
from contracts.names import AUDIT_KEY
from services.audit_trail.logic import StoredChanges
from services.shared.conditional_put import put_if_absent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CHANGES = "changes"


class DynamoAuditStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def append(self, record: AuditEntry) -> bool:
        _, sort_key = AUDIT_KEY
        existing = put_if_absent(self._client, self._table_name, record.to_item(), sort_key)
        return existing is None

    def changes_of(self, user_id: str) -> Iterator[tuple[str, StoredChanges]]:
        partition, sort_key = AUDIT_KEY
        arguments: dict[str, Any] = {
            "TableName": self._table_name,
            "KeyConditionExpression": "#user = :user",
            "ProjectionExpression": "#audit, #changes",
            "ExpressionAttributeNames": {
                "#user": partition,
                "#audit": sort_key,
                "#changes": _CHANGES,
            },
            "ExpressionAttributeValues": {":user": {"S": user_id}},
            # The tombstone's own record was appended a moment ago: it must be read too.
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            for item in page.get("Items", []):
                values = dynamodb.from_item(item)
                yield str(values[sort_key]), values.get(_CHANGES) or {}
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            arguments["ExclusiveStartKey"] = last

    def replace_changes(
        self, user_id: str, audit_id: str, changes: Mapping[str, FieldChange]
    ) -> None:
        partition, sort_key = AUDIT_KEY
        names = {"#changes": _CHANGES, "#audit": sort_key}
        values: dynamodb.Item = {}
        sets = []
        for index, (name, change) in enumerate(changes.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = dynamodb.serialize(change.values())
            sets.append(f"#changes.#f{index} = :f{index}")
        self._client.update_item(
            TableName=self._table_name,
            Key={partition: {"S": user_id}, sort_key: {"S": audit_id}},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(#audit)",  # never create a record
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
