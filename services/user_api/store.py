"""The User and Audit tables as the API sees them: reads, pages, and profile edits under
optimistic concurrency (one conditional UpdateItem on ``_version``).

Every User item is read as the item it stands for (``read_as``): an item in the recipe's shape
(docs/architecture.md, "Items in the recipe's shape": no ``owner``, ``userPoolId`` or, made by
hand, ``__typename``) reads as the user of this API's pool it is, and its first edit writes what
it lacks along with the change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contracts import dynamodb
from contracts.names import (
    AUDIT_KEY,
    DELETED_ATTRIBUTE,
    LAST_CHANGED_ATTRIBUTE,
    LAST_CHANGED_INDEX,
    OWNER_ATTRIBUTE,
    REPLAY_MARK,
    TYPENAME_ATTRIBUTE,
    USER_KEY,
    USER_TYPENAME,
    iso_utc,
)
from contracts.user_fields import PROFILE_FIELDS
from contracts.user_view import served_user
from services.user_api.expressions import Expression, conjunction, within_limits
from services.user_api.logic import (
    ConditionNotMet,
    Page,
    UserErased,
    UserMissing,
    VersionConflict,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from contracts.audit_model import AuditRecord
    from services.user_api.logic import ServedUser


#: The attribute of a User item that names its user pool.
POOL_ATTRIBUTE = "userPoolId"


def read_as(item: Mapping[str, Mapping[str, Any]], user_pool_id: str) -> dynamodb.Item:
    """``item`` as the item it stands for: what it lacks of ``owner`` (Amplify's owner field,
    which in the recipe is ``id`` itself), ``userPoolId`` (the recipe serves one pool, this
    API's) and ``__typename`` (the recipe writes it; an item made by hand may not) is read as
    ``id``, ``user_pool_id`` and ``User``. What an item holds is never replaced: an item of
    another pool stays that pool's, and one whose ``owner`` is not its ``id`` is still refused by
    ``User``. What an ``updateUser`` writes along is the same (``DynamoUserApiStore``)."""
    implied: dynamodb.Item = {
        OWNER_ATTRIBUTE: dict(item[USER_KEY]),
        POOL_ATTRIBUTE: {"S": user_pool_id},
        TYPENAME_ATTRIBUTE: {"S": USER_TYPENAME},
    } if USER_KEY in item else {}  # fmt: skip
    return implied | {name: dict(value) for name, value in item.items()}


class DynamoUserApiStore:
    def __init__(
        self, client: DynamoDBClient, user_table: str, audit_table: str, user_pool_id: str
    ) -> None:
        self._client = client
        self._user_table = user_table
        self._audit_table = audit_table
        self._user_pool_id = user_pool_id

    def get(self, user_id: str) -> ServedUser | None:
        item = self._client.get_item(
            TableName=self._user_table,
            Key={USER_KEY: {"S": user_id}},
            ConsistentRead=True,
        ).get("Item")
        return self._user(item) if item else None

    def _user(self, item: Mapping[str, Mapping[str, Any]]) -> ServedUser:
        return served_user(read_as(item, self._user_pool_id))

    def list_users(
        self,
        limit: int,
        start: dict[str, Any] | None,
        *,
        where: Expression | None = None,
        only: str | None = None,
        changed_after: int | None = None,
    ) -> Page[ServedUser]:
        """One user's item (``only``: a Query by key), the items changed after
        ``changed_after`` (a Query of the changes index, reading only those), or every item
        (a Scan). ``where`` is DynamoDB's filter, applied after ``limit``; with ``only`` it may
        not name the key (DynamoDB refuses it: ``filter_expression(known=...)`` decides those
        clauses first).

        The changes index is keyed on ``__typename``: an item without one (made by hand, not
        by the recipe, which writes it) is not in it, so an Admin's delta sync misses it until
        its first edit writes it (docs/architecture.md, "Items in the recipe's shape")."""
        request = _from(start, TableName=self._user_table, Limit=limit)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters: list[str] = []
        if where is not None and only is not None and USER_KEY in where.names.values():
            raise ValueError("a Query's filter may not name its key: decide it first (known=)")
        if where is not None:
            filters.append(where.text)  # one operand already: wrapping it again is refused
            names |= where.names
            values |= where.values
        if changed_after is not None:
            names["#changed"], values[":after"] = LAST_CHANGED_ATTRIBUTE, {"N": str(changed_after)}
        if only is not None:
            request["KeyConditionExpression"] = "#pk = :pk"
            names["#pk"], values[":pk"] = USER_KEY, {"S": only}
            if changed_after is not None:
                filters.append("#changed > :after")
        elif changed_after is not None:
            request["IndexName"] = LAST_CHANGED_INDEX
            request["KeyConditionExpression"] = "#type = :type AND #changed > :after"
            names["#type"], values[":type"] = TYPENAME_ATTRIBUTE, {"S": USER_TYPENAME}
        if filters:  # DynamoDB's limits count all of it, not only the client's part
            sent = conjunction(filters)
            request["FilterExpression"] = within_limits(sent, where) if where else sent
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        queried = only is not None or changed_after is not None
        response = (self._client.query if queried else self._client.scan)(**request)
        items = [self._user(item) for item in response.get("Items", [])]
        return Page(items, response.get("LastEvaluatedKey"))

    def audit_trail(
        self, user_id: str, limit: int, start: dict[str, Any] | None
    ) -> Page[AuditRecord]:
        partition, _ = AUDIT_KEY
        request = _from(
            start,
            TableName=self._audit_table,
            KeyConditionExpression="#user = :user",
            ExpressionAttributeNames={"#user": partition},
            ExpressionAttributeValues={":user": {"S": user_id}},
            ScanIndexForward=False,  # newest first
            Limit=limit,
        )
        # Imported on the first audit-trail read, not on every cold start: building the audit
        # record's pydantic models is ~25 ms, and most environments never serve auditTrail.
        from contracts.audit_model import AuditRecord

        response = self._client.query(**request)
        records = [AuditRecord.from_item(item) for item in response.get("Items", [])]
        return Page(records, response.get("LastEvaluatedKey"))

    def update_profile(
        self,
        user_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None,
        condition: Expression | None,
        now: datetime,
    ) -> ServedUser:
        """Apply ``changes`` (``None`` clears a field) in one conditional write: the user
        exists, is at ``expected_version`` when one is given, and meets ``condition``; bumps
        ``_version`` and the change timestamps, and writes what an item in the recipe's shape
        lacks (``read_as``) with ``if_not_exists``, which keeps what the item holds (Developer
        Guide, "Update expressions", "Preventing overwrites of an existing attribute"): on a
        complete item that writes nothing new. Which check failed is read from the item
        DynamoDB returns with the failure, with no second read."""
        unknown = set(changes).difference(PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"not profile fields: {', '.join(sorted(unknown))}")
        names = {"#v": "_version", "#changed": "_lastChangedAt", "#id": USER_KEY}
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":now": {"S": iso_utc(now)},
            ":now_ms": {"N": str(int(now.timestamp() * 1000))},
        }
        sets = ["#v = #v + :one", "updatedAt = :now", "#changed = :now_ms"]
        implied = read_as({USER_KEY: {"S": user_id}}, self._user_pool_id)
        for index, (attribute, value) in enumerate(sorted(implied.items())):
            if attribute != USER_KEY:
                names[f"#implied{index}"], values[f":implied{index}"] = attribute, value
                sets.append(f"#implied{index} = if_not_exists(#implied{index}, :implied{index})")
        # A replay's mark, if the projector has not removed it yet: this edit is a change of its
        # own, not the replay's cleanup (``contracts.replay_mark``).
        names["#mark"] = REPLAY_MARK
        removes = ["#mark"]
        for field, value in sorted(changes.items()):
            names[f"#{field}"] = field
            if value is None:
                removes.append(f"#{field}")
            else:
                values[f":{field}"] = dynamodb.serialize(value)
                sets.append(f"#{field} = :{field}")
        # A deleted user's tombstone holds no profile to edit (contracts.lifecycle).
        names["#deleted"] = DELETED_ATTRIBUTE
        values[":deleted"] = {"BOOL": True}
        checks = ["attribute_exists(#id)", "NOT #deleted = :deleted"]
        if expected_version is not None:
            checks.append("#v = :expected")
            values[":expected"] = {"N": str(expected_version)}
        if condition is not None:
            checks.append(condition.text)
            names |= condition.names
            values |= condition.values
        expression = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        checked = conjunction(checks)  # DynamoDB's limits count all of it
        try:
            response = self._client.update_item(
                TableName=self._user_table,
                Key={USER_KEY: {"S": user_id}},
                UpdateExpression=expression,
                ConditionExpression=within_limits(checked, condition) if condition else checked,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            current: dict[str, Any] = getattr(exc, "response", {}).get("Item") or {}
            if not current:
                raise UserMissing(user_id) from None
            if current.get(DELETED_ATTRIBUTE, {}).get("BOOL") is True:
                raise UserErased(user_id) from None
            stored = self._user(current)
            if expected_version is not None and stored["_version"] != expected_version:
                raise VersionConflict(stored) from None
            raise ConditionNotMet() from None
        return self._user(response["Attributes"])


def _from(start: dict[str, Any] | None, **request: Any) -> dict[str, Any]:
    """A Scan or Query request that continues after ``start`` (a LastEvaluatedKey), if any."""
    return {**request, "ExclusiveStartKey": start} if start else request
