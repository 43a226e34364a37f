"""user_sync's adapters: Cognito's ``AdminGetUser`` by sub, the User table (a read and the two
lifecycle writes), the keys table's ``DeleteItem``, and EventBridge's ``PutEvents``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contracts import dynamodb
from contracts.names import USER_KEY, UserConfirmedDetail
from contracts.user_confirmed import put_events_entry
from services.shared import lifecycle
from services.shared.cognito_users import find_by_sub
from services.shared.lifecycle import Outcome
from services.user_sync.logic import CognitoUser

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient


class PublishFailedError(RuntimeError):
    """EventBridge did not accept the ``UserConfirmed``; the record is retried."""

    def __init__(self, sub: str, code: str | None) -> None:
        super().__init__(f"UserConfirmed for user {sub} not published ({code or 'no code'})")


class CognitoDirectory:
    """The pool's users by sub (``services.shared.cognito_users``). ``None`` is Cognito's
    answer that the user is gone from both ``AdminGetUser`` and ``ListUsers``: a federated
    user, whose username is not their sub, is never taken for a deleted one."""

    def __init__(self, client: CognitoIdentityProviderClient, user_pool_id: str) -> None:
        self._client, self._pool = client, user_pool_id

    def user(self, sub: str) -> CognitoUser | None:
        found = find_by_sub(self._client, self._pool, sub)
        if found is None:
            return None
        return CognitoUser(status=found.status, email=found.email, created=found.created)


class DynamoUserItems:
    """The User table through boto3's low-level client: a strongly consistent read, and the
    lifecycle writes of ``services.shared.lifecycle``."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client, self._table = client, table_name

    def get(self, user_id: str) -> Mapping[str, Any] | None:
        found = self._client.get_item(
            TableName=self._table, Key={USER_KEY: {"S": user_id}}, ConsistentRead=True
        )
        item = found.get("Item")
        return dynamodb.from_item(item) if item else None

    def change_email(self, user_id: str, user_pool_id: str, email: str, now: datetime) -> Outcome:
        return lifecycle.change_email(self._client, self._table, user_id, user_pool_id, email, now)

    def tombstone(self, user_id: str, user_pool_id: str, now: datetime) -> Outcome:
        return lifecycle.tombstone(self._client, self._table, user_id, user_pool_id, now)


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client, self._bus = client, bus_name

    def publish(self, detail: UserConfirmedDetail) -> str:
        entry: Any = put_events_entry(detail, self._bus)
        response = self._client.put_events(Entries=[entry])
        result = response["Entries"][0] if response.get("Entries") else {}
        if response.get("FailedEntryCount") or "EventId" not in result:
            raise PublishFailedError(detail["sub"], result.get("ErrorCode"))
        return result["EventId"]
