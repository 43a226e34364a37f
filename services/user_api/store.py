"""The User table as the API sees it: reads, and profile edits under optimistic concurrency."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contracts import dynamodb
from contracts.items import User
from contracts.names import iso_utc
from contracts.topology import USER_TABLE_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The only attributes the API ever writes on a user's behalf.
PROFILE_FIELDS = frozenset({"name", "age"})


class UserNotFoundError(LookupError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"no user {user_id}")
        self.user_id = user_id


class VersionConflictError(RuntimeError):
    """``expectedVersion`` is not the stored ``_version`` (someone else changed the user)."""

    def __init__(self, user_id: str, expected: int, current: int) -> None:
        super().__init__(f"user {user_id} is at version {current}, not {expected}")
        self.user_id, self.expected, self.current = user_id, expected, current


class DynamoProfileStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def get(self, user_id: str) -> User | None:
        item = self._client.get_item(
            TableName=self._table_name,
            Key={USER_TABLE_KEY: {"S": user_id}},
            ConsistentRead=True,
        ).get("Item")
        return User.from_item(item) if item else None

    def update_profile(
        self, user_id: str, changes: Mapping[str, Any], *, expected_version: int, now: datetime
    ) -> User:
        """Apply ``changes`` (``None`` clears a field) if the user is at ``expected_version``;
        bumps ``_version`` and the change timestamps. One conditional write."""
        unknown = set(changes) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {', '.join(sorted(unknown))}")
        names = {"#v": "_version", "#changed": "_lastChangedAt", "#id": USER_TABLE_KEY}
        values: dict[str, Any] = {
            ":expected": {"N": str(expected_version)},
            ":one": {"N": "1"},
            ":now": {"S": iso_utc(now)},
            ":now_ms": {"N": str(int(now.timestamp() * 1000))},
        }
        sets = ["#v = #v + :one", "updatedAt = :now", "#changed = :now_ms"]
        removes = []
        for field, value in sorted(changes.items()):
            names[f"#{field}"] = field
            if value is None:
                removes.append(f"#{field}")
            else:
                values[f":{field}"] = dynamodb.serialize(value)
                sets.append(f"#{field} = :{field}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            response = self._client.update_item(
                TableName=self._table_name,
                Key={USER_TABLE_KEY: {"S": user_id}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(#id) AND #v = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            current: dict[str, Any] = getattr(exc, "response", {}).get("Item") or {}
            if not current:
                raise UserNotFoundError(user_id) from None
            version = int(dynamodb.deserialize(current["_version"]))
            raise VersionConflictError(user_id, expected_version, version) from None
        return User.from_item(response["Attributes"])
