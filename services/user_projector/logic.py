"""Projecting ``UserConfirmed`` into the ``User`` table: create once, never overwrite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contracts.events import UserConfirmedEnvelope
from contracts.items import User


class UserStore(Protocol):
    def create(self, user: User) -> bool:
        """Write ``user`` unless an item with its id exists. Returns whether it was written."""
        ...


@dataclass(frozen=True)
class Projection:
    user_id: str
    created: bool  # False: the user was already projected (duplicate, retry or replay)
    replay_name: str | None


def project(envelope: UserConfirmedEnvelope, store: UserStore, *, now_ms: int) -> Projection:
    """One conditional write. A duplicate or replay finds the item and changes nothing: the
    version, profile fields and timestamps the API may have moved on stay as they are."""
    user = User.first_version(envelope.detail, now_ms=now_ms)
    return Projection(user.id, store.create(user), envelope.replay_name)
