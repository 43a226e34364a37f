"""The User and Audit tables as the API sees them: reads, pages, and profile edits under
optimistic concurrency (one conditional UpdateItem on ``_version``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from contracts import dynamodb
from contracts.audit_model import AuditRecord
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
from contracts.user_model import User
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

ItemT = TypeVar("ItemT", User, AuditRecord)


class DynamoUserApiStore:
    def __init__(self, client: DynamoDBClient, user_table: str, audit_table: str) -> None:
        self._client = client
        self._user_table = user_table
        self._audit_table = audit_table

    def get(self, user_id: str) -> User | None:
        item = self._client.get_item(
            TableName=self._user_table,
            Key={USER_KEY: {"S": user_id}},
            ConsistentRead=True,
        ).get("Item")
        return User.from_item(item) if item else None

    def list_users(
        self,
        limit: int,
        start: dict[str, Any] | None,
        *,
        where: Expression | None = None,
        only: str | None = None,
        changed_after: int | None = None,
    ) -> Page[User]:
        """One user's item (``only``: a Query by key), the items changed after
        ``changed_after`` (a Query of the changes index, reading only those), or every item
        (a Scan). ``where`` is DynamoDB's filter, applied after ``limit``."""
        request = _from(start, TableName=self._user_table, Limit=limit)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters: list[str] = []
        if where is not None and only is not None:
            where = _filtering_by_owner(where, key_value=":pk")
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
        return _page(response, User)

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
        return _page(self._client.query(**request), AuditRecord)

    def update_profile(
        self,
        user_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None,
        condition: Expression | None,
        now: datetime,
    ) -> User:
        """Apply ``changes`` (``None`` clears a field) in one conditional write: the user
        exists, is at ``expected_version`` when one is given, and meets ``condition``; bumps
        ``_version`` and the change timestamps. Which check failed is read from the item
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
            stored = User.from_item(current)
            if expected_version is not None and stored.version != expected_version:
                raise VersionConflict(stored) from None
            raise ConditionNotMet() from None
        return User.from_item(response["Attributes"])


def _filtering_by_owner(where: Expression, *, key_value: str) -> Expression:
    """``where`` for a Query by key, whose key value is the placeholder ``key_value``.

    DynamoDB refuses a key attribute in a Query's filter (API reference, Query,
    ``FilterExpression``: "A FilterExpression does not allow key attributes. You cannot define a
    filter expression based on a partition key or a sort key."), so where the client named
    ``id`` this filter names ``owner``. Every User item holds the same string in both: the
    projector writes both from the sub, the API never writes either, and ``User`` refuses an
    item where they differ. Same type, same value: every comparison, function and type test
    answers alike, and DynamoDB still decides them all. The key condition alone decides whose
    item is read: this can change whether the caller's own item matches, never whose is read.

    The other ways were worse: a Scan may filter on the key but reads the whole table for one
    item; evaluating the filter in Python would re-implement DynamoDB's comparisons; an index
    keyed on ``owner`` costs a write per change and reads eventually consistent.

    It also lets through an item whose ``owner`` is not the queried id, whatever the client's
    clauses say, so reading it fails (``User`` refuses it) instead of the answer quietly
    depending on an attribute that no longer mirrors the key.
    """
    key = next((name for name, attribute in where.names.items() if attribute == USER_KEY), None)
    if key is None:
        return where
    return replace(
        where,
        text=f"(NOT {key} = {key_value} OR {where.text})",
        names={**where.names, key: OWNER_ATTRIBUTE},
    )


def _from(start: dict[str, Any] | None, **request: Any) -> dict[str, Any]:
    """A Scan or Query request that continues after ``start`` (a LastEvaluatedKey), if any."""
    return {**request, "ExclusiveStartKey": start} if start else request


def _page(response: Mapping[str, Any], model: type[ItemT]) -> Page[ItemT]:
    items = [model.from_item(item) for item in response.get("Items", [])]
    return Page(items, response.get("LastEvaluatedKey"))
