"""The two writes that change a ``User`` item besides the projector's first one and the API's
edits (``contracts.lifecycle`` says what each one is): an email change and a tombstone. user_sync
and reconcile make them with DynamoDB's low-level client.

Each is one conditional ``UpdateItem`` that writes only when it changes the item, so a call that
finds the item already so writes nothing and the table's stream records nothing (the change
publisher would otherwise announce the same change twice). When the condition fails, DynamoDB
returns the item it found (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), and the ``Outcome``
says why nothing was written. An item carrying a replay's mark is between the projector's two
writes (``contracts.replay_mark``): ``ReplayInFlightError``, retried later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from contracts import dynamodb
from contracts.lifecycle import ERASED_FIELDS, tombstone_expiry
from contracts.names import DELETED_ATTRIBUTE, REPLAY_MARK, USER_KEY, USER_TTL_ATTRIBUTE, iso_utc

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)

#: What both writes require: the item exists, is of the caller's pool, is no tombstone and is
#: not between a replay's two writes.
_LIVE_ITEM_OF_POOL: Final = (
    "attribute_exists(#id) AND #pool = :pool"
    " AND (attribute_not_exists(#deleted) OR #deleted = :false)"
    " AND attribute_not_exists(#mark)"
)
_BOOKKEEPING: Final = (
    "#updatedAt = :updatedAt, #lastChangedAt = :lastChangedAt, #version = #version + :one"
)


class Outcome(StrEnum):
    """What a lifecycle write did."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the item was already so: nothing written
    MISSING = "missing"  # no item
    DELETED = "deleted"  # the item is a tombstone (an email change of a deleted user does nothing)
    FOREIGN = "foreign"  # the item belongs to another pool: never touched


class ReplayInFlightError(RuntimeError):
    """The item carries a replay's mark: the projector's second write has not come yet. The
    write is retried later (a record failure), never made across the replay's."""

    def __init__(self, user_id: str, replay_name: str) -> None:
        self.user_id, self.replay_name = user_id, replay_name
        super().__init__(f"user {user_id} carries replay {replay_name}'s mark; retried later")


class UnexplainedConditionError(RuntimeError):
    """The condition failed on an item that satisfies it as returned: it changed in between.
    Retried."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id} changed during the write; retried")


def epoch_ms(moment: datetime) -> int:
    """``_lastChangedAt`` for ``moment``: whole milliseconds since the epoch, computed exactly
    (a float's ``timestamp() * 1000`` can land a millisecond below ``iso_utc``'s)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return (moment - _EPOCH) // _MILLISECOND


def change_email(
    client: DynamoDBClient,
    table: str,
    user_id: str,
    user_pool_id: str,
    email: str,
    now: datetime,
) -> Outcome:
    """SET ``email`` and the bookkeeping (``_version`` + 1) if the item is a live one of
    ``user_pool_id`` whose email differs."""
    return _update(
        client,
        table,
        user_id,
        user_pool_id,
        expression=f"SET #email = :email, {_BOOKKEEPING}",
        condition=f"{_LIVE_ITEM_OF_POOL} AND (attribute_not_exists(#email) OR #email <> :email)",
        names={"#email": "email"},
        values={":email": {"S": email}},
        now=now,
        already=lambda found: found.get("email") == email,
    )


def tombstone(
    client: DynamoDBClient, table: str, user_id: str, user_pool_id: str, now: datetime
) -> Outcome:
    """Make the item a tombstone (``_deleted``, ``_version`` + 1, ``_ttl``, every erased field
    removed) if it is a live one of ``user_pool_id``. An item already a tombstone is
    ``Outcome.DELETED``: nothing written."""
    removed = {f"#erased{index}": name for index, name in enumerate(ERASED_FIELDS)}
    return _update(
        client,
        table,
        user_id,
        user_pool_id,
        expression=(
            f"SET #deleted = :true, #ttl = :ttl, {_BOOKKEEPING} REMOVE {', '.join(removed)}"
        ),
        condition=_LIVE_ITEM_OF_POOL,
        names={"#ttl": USER_TTL_ATTRIBUTE, **removed},
        values={
            ":true": {"BOOL": True},
            ":ttl": {"N": str(tombstone_expiry(now.timestamp()))},
        },
        now=now,
        already=lambda found: False,
    )


def _update(
    client: DynamoDBClient,
    table: str,
    user_id: str,
    user_pool_id: str,
    *,
    expression: str,
    condition: str,
    names: Mapping[str, str],
    values: dynamodb.Item,
    now: datetime,
    already: Callable[[Mapping[str, Any]], bool],
) -> Outcome:
    try:
        client.update_item(
            TableName=table,
            Key={USER_KEY: {"S": user_id}},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#id": USER_KEY,
                "#pool": "userPoolId",
                "#deleted": DELETED_ATTRIBUTE,
                "#mark": REPLAY_MARK,
                "#updatedAt": "updatedAt",
                "#lastChangedAt": "_lastChangedAt",
                "#version": "_version",
                **names,
            },
            ExpressionAttributeValues={
                ":pool": {"S": user_pool_id},
                ":false": {"BOOL": False},
                ":updatedAt": {"S": iso_utc(now)},
                ":lastChangedAt": {"N": str(epoch_ms(now))},
                ":one": {"N": "1"},
                **values,
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        old = getattr(exc, "response", {}).get("Item") or {}
        return _why_not(user_id, user_pool_id, dynamodb.from_item(old), already)
    return Outcome.WRITTEN


def _why_not(
    user_id: str,
    user_pool_id: str,
    found: Mapping[str, Any],
    already: Callable[[Mapping[str, Any]], bool],
) -> Outcome:
    """Why the condition failed on ``found`` (plain values; ``{}``: no item)."""
    if not found:
        return Outcome.MISSING
    if found.get("userPoolId") != user_pool_id:
        return Outcome.FOREIGN
    if found.get(DELETED_ATTRIBUTE) is True:
        return Outcome.DELETED
    if already(found):
        return Outcome.UNCHANGED
    mark = found.get(REPLAY_MARK)
    if mark is not None:
        raise ReplayInFlightError(user_id, str(mark))
    raise UnexplainedConditionError(user_id)
