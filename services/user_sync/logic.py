"""One user's reconcile, after Cognito told CloudTrail that a call may have changed the user
(``contracts.names.USER_LIFECYCLE_CALLS``): read the user from Cognito again and bring the
``User`` item in line. No AWS here: Cognito, the table, the keys and the bus are passed in.

The event is never trusted beyond two identifiers: the user pool and the sub
(``detail.additionalEventData.sub``: Cognito records the user's sub, not the username, in
CloudTrail — developer guide, "Amazon Cognito logging in AWS CloudTrail"). Whatever it says about
values (hidden or not) is ignored: Cognito's answer now is the truth, so events arriving late,
twice or out of order all end in the same state.

- Cognito has no such user → the item becomes a tombstone (``services.shared.lifecycle``) and
  the user's data key is destroyed — always, even when the item was already a tombstone or
  missing: erasure is idempotent, and a retry after a failed destruction completes it.
- A confirmed user (``CONFIRMED`` or ``EXTERNAL_PROVIDER``) without an item → ``UserConfirmed``
  (origin ``sync``); the projector creates the item.
- The item's email differs from Cognito's → the email change.
- Anything else → nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from contracts.lifecycle import is_tombstone
from contracts.names import (
    CLOUDTRAIL_DETAIL_TYPE,
    CLOUDTRAIL_SOURCE,
    ORIGIN_SYNC,
    USER_LIFECYCLE_CALLS,
    UserConfirmedDetail,
)
from contracts.rules import is_sub, is_user_pool_id
from contracts.user_confirmed import user_confirmed_detail
from services.shared.lifecycle import Outcome

#: The statuses of a user who has arrived: signed up and confirmed, or signed in through an
#: identity provider (a federated user is created ``EXTERNAL_PROVIDER`` and is never
#: ``UNCONFIRMED``).
ARRIVED: Final = frozenset({"CONFIRMED", "EXTERNAL_PROVIDER"})
_USER_POOL_ARN_MARK: Final = ":userpool/"


# --- the event ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CognitoCall:
    """The two identifiers user_sync takes from a CloudTrail event, and the call's name."""

    event_name: str
    user_pool_id: str
    sub: str


@dataclass(frozen=True)
class NotOurs:
    """An event that can never be synced: no retry could change that, so it is logged (with
    ids only) and dropped, never reported as a failure. ``reason`` names fields, never values
    beyond ids."""

    reason: str
    event_name: str | None = None
    user_pool_id: str | None = None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pools(event: Mapping[str, Any], detail: Mapping[str, Any]) -> set[str]:
    """Every user pool the event names: the request's (admin calls), ``additionalEventData``'s,
    and the user pool ARNs among the event's and the call's resources (access-token calls name
    no pool in their request)."""
    found: list[Any] = [
        _object(detail.get("requestParameters")).get("userPoolId"),
        _object(detail.get("additionalEventData")).get("userPoolId"),
    ]
    arns: list[Any] = list(event.get("resources") or [])
    arns += [_object(r).get("ARN") for r in detail.get("resources") or [] if isinstance(r, dict)]
    for arn in arns:
        if isinstance(arn, str) and _USER_POOL_ARN_MARK in arn:
            found.append(arn.rsplit(_USER_POOL_ARN_MARK, 1)[1])
    return {pool for pool in found if pool is not None}


def read_call(body: str | bytes, user_pool_id: str) -> CognitoCall | NotOurs:
    """The call an SQS message body (an EventBridge event) reports, if it is one of this pool's
    user lifecycle calls that succeeded and names a well-formed sub."""
    try:
        event = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        return NotOurs("message: not a JSON document")
    if not isinstance(event, dict):
        return NotOurs("message: not a JSON object")
    if event.get("source") != CLOUDTRAIL_SOURCE or event.get("detail-type") != (
        CLOUDTRAIL_DETAIL_TYPE
    ):
        return NotOurs(f"source/detail-type: not a {CLOUDTRAIL_SOURCE} API call via CloudTrail")
    detail = _object(event.get("detail"))
    name = detail.get("eventName")
    if name not in USER_LIFECYCLE_CALLS:
        return NotOurs("detail.eventName: not a user lifecycle call")
    pools = _pools(event, detail)
    # A call made with the user's own access token (DeleteUser, UpdateUserAttributes,
    # VerifyUserAttribute) may name no pool: CloudTrail records the user by sub ("records
    # UserSub but not UserName", Cognito developer guide, "Logging Amazon Cognito API calls
    # with AWS CloudTrail"). Such a call is read as possibly ours: the sub is looked up in this
    # pool only, so another pool's user is not found there and nothing of ours changes.
    if pools and pools != {user_pool_id}:
        other = sorted(pools - {user_pool_id})
        return NotOurs(
            "detail: another user pool's call",
            name,
            other[0] if other and is_user_pool_id(other[0]) else None,
        )
    if "errorCode" in detail:
        return NotOurs(
            "detail.errorCode: the call failed, so it changed nothing", name, user_pool_id
        )
    sub = _object(detail.get("additionalEventData")).get("sub")
    if not isinstance(sub, str) or not is_sub(sub):
        return NotOurs("detail.additionalEventData.sub: absent or not a sub", name, user_pool_id)
    return CognitoCall(event_name=name, user_pool_id=user_pool_id, sub=sub)


# --- the ports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CognitoUser:
    """A user as Cognito holds them now."""

    status: str
    email: str | None
    created: datetime  # UserCreateDate: Cognito keeps no confirmation time


class Directory(Protocol):
    def user(self, sub: str) -> CognitoUser | None:
        """The pool's user with ``sub``; ``None``: Cognito has no such user (it is gone)."""
        ...


class UserItems(Protocol):
    """The User table: a read, and the two lifecycle writes (``services.shared.lifecycle``)."""

    def get(self, user_id: str) -> Mapping[str, Any] | None:
        """The item (plain values, strongly consistent), or ``None``."""
        ...

    def change_email(
        self, user_id: str, user_pool_id: str, email: str, now: datetime
    ) -> Outcome: ...

    def tombstone(self, user_id: str, user_pool_id: str, now: datetime) -> Outcome: ...


class KeyStore(Protocol):
    """The per-user data keys (``services.shared.user_keys.KeyStore``'s erasing part)."""

    def destroy(self, user_id: str) -> bool:
        """Delete the user's key; whether there was one."""
        ...


class Publisher(Protocol):
    def publish(self, detail: UserConfirmedDetail) -> str:
        """Publish ``UserConfirmed``; the event id, or an error (the record is retried)."""
        ...


# --- the reconcile ------------------------------------------------------------------------


class Action(StrEnum):
    """What syncing one user did."""

    ERASED = "erased"  # Cognito has no such user: tombstone (``outcome``) + key destroyed
    CONFIRMATION_PUBLISHED = "confirmation published"  # arrived, no item: UserConfirmed
    EMAIL_CHANGED = "email changed"  # the email change (``outcome``: what it found)
    NOTHING = "nothing"  # already in line (``reason``)


@dataclass(frozen=True)
class Synced:
    action: Action
    outcome: Outcome | None = None
    key_destroyed: bool | None = None
    reason: str | None = None  # why nothing was done; names no value
    event_id: str | None = None  # the published UserConfirmed's id


@dataclass(frozen=True)
class Ports:
    directory: Directory
    items: UserItems
    keys: KeyStore
    publisher: Publisher


def sync_user(sub: str, user_pool_id: str, ports: Ports, now: datetime) -> Synced:
    """Bring the item of ``sub`` in line with Cognito (the module's docstring)."""
    user = ports.directory.user(sub)
    if user is None:
        found = ports.items.get(sub)
        if found is not None and found.get("userPoolId") != user_pool_id:
            # Another pool's item under this sub: its user is not ours to erase, nor its key.
            return Synced(
                Action.NOTHING, Outcome.FOREIGN, reason="the item belongs to another pool"
            )
        # The key first: the sealed profile in the log is shredded even when the tombstone has
        # to wait (a replay's mark on the item: ReplayInFlightError, retried).
        destroyed = ports.keys.destroy(sub)
        outcome = ports.items.tombstone(sub, user_pool_id, now)
        if outcome is Outcome.FOREIGN:  # the item changed pools between the read and the write
            return Synced(Action.NOTHING, outcome, reason="the item belongs to another pool")
        return Synced(Action.ERASED, outcome, key_destroyed=destroyed)
    item = ports.items.get(sub)
    if item is None:
        if user.status not in ARRIVED:
            return Synced(Action.NOTHING, reason="the user has not arrived (no item expected)")
        detail = user_confirmed_detail(
            user_pool_id=user_pool_id, sub=sub, confirmed_at=user.created, origin=ORIGIN_SYNC
        )
        return Synced(Action.CONFIRMATION_PUBLISHED, event_id=ports.publisher.publish(detail))
    if item.get("userPoolId") != user_pool_id:
        return Synced(Action.NOTHING, Outcome.FOREIGN, reason="the item belongs to another pool")
    if is_tombstone(item):
        return Synced(Action.NOTHING, Outcome.DELETED, reason="the item is a tombstone")
    if user.email is None:
        return Synced(Action.NOTHING, reason="Cognito holds no email for the user")
    if item.get("email") == user.email:
        return Synced(Action.NOTHING, Outcome.UNCHANGED, reason="the item is in line")
    outcome = ports.items.change_email(sub, user_pool_id, user.email, now)
    return Synced(Action.EMAIL_CHANGED, outcome)
