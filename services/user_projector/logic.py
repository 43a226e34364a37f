"""Projecting ``UserConfirmed`` into the ``User`` table: create once, never overwrite.

The table is keyed on ``id`` (the sub) alone; the item also stores the ``userPoolId`` it came
from. A ``UserConfirmed`` whose sub is already there from the same pool is a duplicate (a
Cognito retry, a redelivery, a replay) and changes nothing; from another pool it is refused —
never overwritten, never reported as a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contracts import dynamodb
from contracts.rules import is_user_pool_id
from contracts.user_confirmed import ConfirmedEvent
from contracts.user_item import first_version_item


@dataclass(frozen=True)
class FoundItem:
    """What the store found where it was asked to create a user."""

    user_pool_id: str | None  # None: an item without a pool (written by something else)


class UserStore(Protocol):
    def create(self, item: dynamodb.Item) -> FoundItem | None:
        """Write ``item`` unless an item with its id exists. ``None``: written; otherwise what
        was already there."""
        ...


class UserOfAnotherPoolError(ValueError):
    """The sub is already projected, but not for this event's user pool. Redelivery cannot
    change that: the message fails every time and ends in the dead-letter queue."""

    def __init__(self, user_id: str, event_pool: str, stored_pool: str | None) -> None:
        stored = stored_pool if is_user_pool_id(stored_pool) else "(none recorded)"
        super().__init__(
            f"userPoolId: user {user_id} exists for user pool {stored}; "
            f"an event from pool {event_pool} never overwrites it"
        )


@dataclass(frozen=True)
class Projection:
    user_id: str
    created: bool  # False: the user was already projected (duplicate, retry or replay)
    replay_name: str | None


def project(event: ConfirmedEvent, store: UserStore) -> Projection:
    """One conditional write. A duplicate or replay finds the item and changes nothing: the
    version, profile fields and timestamps the API may have moved on stay as they are."""
    sub, pool = event.detail["sub"], event.detail["userPoolId"]
    found = store.create(first_version_item(event.detail))
    if found is not None and found.user_pool_id != pool:
        raise UserOfAnotherPoolError(sub, pool, found.user_pool_id)
    return Projection(sub, found is None, event.replay_name)
