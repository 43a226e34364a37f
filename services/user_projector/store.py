"""The User table, as the projector sees it: create-if-absent only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import dynamodb
from contracts.names import USER_KEY
from services.shared.conditional_put import put_if_absent
from services.user_projector.logic import FoundItem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoUserStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def create(self, item: dynamodb.Item) -> FoundItem | None:
        existing = put_if_absent(self._client, self._table_name, item, USER_KEY)
        if existing is None:
            return None
        pool = existing.get("userPoolId", {}).get("S")
        return FoundItem(user_pool_id=pool)
