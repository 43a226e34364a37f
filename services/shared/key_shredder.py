"""Destroying a user's data key: the erasure of every sealed copy of their profile at once
(crypto-shredding; ``services.shared.user_keys`` holds the keys, ``services.shared.sealing``
seals with them).

Its own module, apart from reading and creating keys: a function's grants follow the calls its
code makes (``tests/unit/test_declaration.py``), and the functions that read keys (the
projector) must not be able to destroy one, nor those that destroy them (user_sync, reconcile)
be able to create one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.names import KEY_OWNER

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoKeyShredder:
    """Deletes keys from the ``UserKeys`` table (``DeleteItem`` only)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def destroy(self, user_id: str) -> bool:
        """Delete the user's key; whether there was one (a second call finds none: erasure is
        idempotent)."""
        deleted = self._client.delete_item(
            TableName=self._table, Key={KEY_OWNER: {"S": user_id}}, ReturnValues="ALL_OLD"
        )
        return bool(deleted.get("Attributes"))
