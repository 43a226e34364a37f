"""The Audit table: append-only, one item per stream record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.audit_item import AuditEntry
from contracts.names import AUDIT_KEY
from services.shared.conditional_put import put_if_absent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoAuditStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def append(self, record: AuditEntry) -> bool:
        _, sort_key = AUDIT_KEY
        existing = put_if_absent(self._client, self._table_name, record.to_item(), sort_key)
        return existing is None
