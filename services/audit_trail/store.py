"""The Audit table: append-only, one item per stream record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts import dynamodb
from contracts.items import AUDIT_KEY, AuditRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoAuditStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def append(self, record: AuditRecord) -> bool:
        _, sort_key = AUDIT_KEY
        existing = dynamodb.put_if_absent(
            self._client, self._table_name, record.to_item(), sort_key
        )
        return existing is None
