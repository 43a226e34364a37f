"""Projecting the change events into the ``User`` table: each event applied once, by version,
in any order.

The table is the projection of two events (``contracts.names.USER_CHANGES_PATTERN``):

- ``UserConfirmed`` creates the first item (version 1), a function of the event alone. An item
  already there from another pool is refused — never overwritten, never a success. From the same
  pool it is a duplicate (a Cognito retry, a redelivery, a replay, reconcile racing the trigger)
  and changes nothing — unless it is the *earlier* confirmation: duplicates need not be equal
  (each trigger invocation stamps its own ``confirmedAt``; reconcile stamps Cognito's creation
  date and today's email), and which one a queue delivers first is chance. So of two, the one
  with the earlier ``confirmedAt`` (then the smaller email) wins: it corrects what the first
  version took from the event (``email``, ``createdAt``; ``updatedAt`` and ``_lastChangedAt``
  while the item is at version 1). Live and in a replay, in any order, every user ends with the
  same winner.
- ``UserProfileChanged`` carries the whole new state of what an edit writes (the profile, ``null``
  for a cleared field, and the bookkeeping). It is applied when its ``_version`` is higher than
  the item's, and is a no-op otherwise: an older change or a duplicate. Since every event carries
  a whole state and the higher version wins, applying a user's events in any order, each any
  number of times, leaves the item the in-order application leaves — what a replay needs:
  EventBridge replays "are not necessarily replayed in the exact same order that they were added
  to the archive" (EventBridge API Reference, StartReplay).

A change never writes when nothing would change: each write is conditioned so that, when it
succeeds, it changed the item. DynamoDB Streams records no write that changes nothing (Developer
Guide, "Change data capture for DynamoDB Streams"), but moto, the local emulator, emits MODIFY
even for an identical overwrite: so the write is avoided, never relied on to be a no-op.

A write that reproduces a state the log already holds is written with ``REPLAY_MARK``, then the
mark is removed by a second write (``contracts.replay_mark`` says why): every write of a replayed
event (the mark holds the replay's name), and every write of a ``UserProfileChanged`` (its
event id when it is live). A live profile change writes only when the table has fallen behind
the log — a redriven message, a table restored or emptied — and the edit it carries was audited,
announced and published when the API made it. A live ``UserConfirmed`` is the one write that is
new: it is not marked. If the second write fails, the record fails; its redelivery finds the
item still carrying the same mark, and completes the removal.

Two events at the same ``_version`` that disagree are a fork of the log (an edit made against a
table that had lost later versions, e.g. during a rebuild under live traffic):
``VersionForkError`` refuses the second one, so it ends in the dead-letter queue where an
operator sees it, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from contracts import dynamodb
from contracts.event_fields import ReceivedEvent
from contracts.names import REPLAY_MARK
from contracts.rules import is_user_pool_id
from contracts.user_confirmed import ConfirmedEvent
from contracts.user_fields import FIELD, PROFILE_FIELDS, WRITTEN_BY_AN_EDIT
from contracts.user_item import first_version_item

#: What a change writes besides the profile: the bookkeeping that goes with every edit, in the
#: field table's order (``updatedAt``, ``_version``, ``_lastChangedAt``).
EDIT_BOOKKEEPING: Final = tuple(
    name for name in FIELD if name in WRITTEN_BY_AN_EDIT and name not in PROFILE_FIELDS
)
_VERSION: Final = "_version"
_POOL: Final = "userPoolId"
_FIRST_VERSION: Final = 1


@dataclass(frozen=True)
class ProfileChange:
    """One conditional write of a ``UserProfileChanged``: ``values`` are SET and ``cleared``
    REMOVEd, provided the item exists, belongs to ``user_pool_id`` and is below ``version``."""

    user_id: str
    user_pool_id: str
    version: int
    values: dynamodb.Item  # the profile fields present, and EDIT_BOOKKEEPING; the mark in replay
    cleared: tuple[str, ...]  # the profile fields the change leaves without a value


class UserStore(Protocol):
    """The User table. Each method returning ``Item | None`` returns ``None`` when it wrote, and
    otherwise the item found where its condition failed (``{}``: no item at all) — DynamoDB
    returns it with the failed condition (``ReturnValuesOnConditionCheckFailure``)."""

    def create(self, item: dynamodb.Item) -> dynamodb.Item | None:
        """Write ``item`` unless an item with its id exists."""
        ...

    def change(self, change: ProfileChange) -> dynamodb.Item | None:
        """Apply ``change`` if the item exists, is of its pool and below its version. A change
        without the mark in its values removes any mark the item carries."""
        ...

    def remove_mark(self, user_id: str, replay_name: str) -> bool:
        """Remove ``REPLAY_MARK`` if it holds ``replay_name``. ``False``: it did not (someone
        removed it, or another replay's write replaced it) — nothing left to do."""
        ...

    def correct(self, user_id: str, expected: dynamodb.Item, values: dynamodb.Item) -> bool:
        """SET ``values`` if the item's attributes still equal ``expected``. ``False``: they
        did not (another write came between the read and this one)."""
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


class VersionForkError(ValueError):
    """A change at a version the item already has, with other values: two edits were made from
    the same version (one against a table that had lost the later ones). Redelivery cannot
    decide between them: the message ends in the dead-letter queue for an operator."""

    def __init__(self, user_id: str, version: int, fields: list[str]) -> None:
        super().__init__(
            f"user {user_id} is at version {version} with other values than this change "
            f"({', '.join(fields)}): the log has two changes to that version"
        )


class ConfirmationRaceError(RuntimeError):
    """The item changed between reading it and correcting it with an earlier confirmation; the
    record is retried and decides again."""


class UserNotProjectedYetError(LookupError):
    """A profile change for a user the table does not hold yet. In a replay this is expected:
    events come back out of order, and the user's ``UserConfirmed`` may arrive later; the record
    fails and SQS redelivers it after the visibility timeout. If the ``UserConfirmed`` never
    arrives, the message fails on every receive and ends in the dead-letter queue (the queue's
    ``max_receive_count``, ``contracts.topology.PROJECTOR_SOURCE``)."""

    def __init__(self, user_id: str, version: int) -> None:
        self.user_id, self.version = user_id, version
        super().__init__(
            f"user {user_id} is not projected yet; its change to version {version} waits for "
            "its UserConfirmed"
        )


@dataclass(frozen=True)
class Projection:
    """What applying one event did."""

    user_id: str
    version: int  # the event's version (1 for UserConfirmed)
    written: bool  # False: a duplicate, or a change older than the item (nothing changed)
    replay_name: str | None
    mark_left_over: bool = False  # a redelivery found the replay's mark and removed it
    corrected: bool = False  # an earlier confirmation corrected the item (``project``)


@dataclass(frozen=True)
class _Found:
    """The item a failed condition returned."""

    user_pool_id: str | None
    version: int | None
    replay_mark: str | None
    values: dict[str, Any]  # every attribute, as plain values

    @classmethod
    def read(cls, item: Mapping[str, Mapping[str, Any]]) -> _Found:
        values = dynamodb.from_item(item)
        version, pool, mark = values.get(_VERSION), values.get(_POOL), values.get(REPLAY_MARK)
        return cls(
            user_pool_id=pool if isinstance(pool, str) else None,
            version=version if isinstance(version, int) else None,
            replay_mark=mark if isinstance(mark, str) else None,
            values=values,
        )


def _marked(values: dynamodb.Item, replay_name: str | None) -> dynamodb.Item:
    return values if replay_name is None else {**values, REPLAY_MARK: {"S": replay_name}}


#: What the first version takes from its ``UserConfirmed``, and what of it a later version keeps:
#: an edit moves ``updatedAt`` and ``_lastChangedAt`` on, never ``email`` or ``createdAt``.
FROM_CONFIRMATION: Final = ("email", "createdAt", "updatedAt", "_lastChangedAt")
KEPT_BY_LATER_VERSIONS: Final = ("email", "createdAt")


def _confirmation_order(values: Mapping[str, Any]) -> tuple[str, str]:
    """How two confirmations of one user compare: the earlier ``createdAt`` first, then the
    smaller email. ``createdAt`` is always ``iso_utc``'s fixed-width UTC form, so its text
    order is time order."""
    return (str(values.get("createdAt")), str(values.get("email")))


def project(event: ConfirmedEvent, store: UserStore) -> Projection:
    """Create the first item, once. A duplicate changes nothing, unless it is the earlier
    confirmation (the module's docstring): then it corrects what the first version took from
    the event, and never the version, profile or anything an edit moved on."""
    sub, pool = event.detail["sub"], event.detail["userPoolId"]
    first = first_version_item(event.detail)
    old = store.create(_marked(first, event.replay_name))
    if old is None:
        if event.replay_name is not None:
            store.remove_mark(sub, event.replay_name)
        return Projection(sub, _FIRST_VERSION, True, event.replay_name)
    found = _Found.read(old)
    if found.user_pool_id != pool:
        raise UserOfAnotherPoolError(sub, pool, found.user_pool_id)
    winner = dynamodb.from_item(first)
    if _confirmation_order(winner) < _confirmation_order(found.values):
        kept = FROM_CONFIRMATION if found.version == _FIRST_VERSION else KEPT_BY_LATER_VERSIONS
        expected: dynamodb.Item = {
            name: old[name] for name in (*FROM_CONFIRMATION, _VERSION) if name in old
        }
        values = _marked({name: first[name] for name in kept}, event.replay_name)
        if not store.correct(sub, expected, values):
            raise ConfirmationRaceError(f"user {sub} changed while being corrected; retried")
        if event.replay_name is not None:
            store.remove_mark(sub, event.replay_name)
        return Projection(sub, _FIRST_VERSION, True, event.replay_name, corrected=True)
    left_over = False
    if event.replay_name is not None and found.replay_mark == event.replay_name:
        left_over = store.remove_mark(sub, event.replay_name)
    return Projection(sub, _FIRST_VERSION, False, event.replay_name, left_over)


def profile_change(detail: Mapping[str, Any], replay_name: str | None = None) -> ProfileChange:
    """The write a ``UserProfileChanged`` detail (already checked) asks for."""
    present = {name: detail[name] for name in PROFILE_FIELDS if detail[name] is not None}
    bookkeeping = {name: detail[name] for name in EDIT_BOOKKEEPING}
    return ProfileChange(
        user_id=detail["sub"],
        user_pool_id=detail["userPoolId"],
        version=detail[_VERSION],
        values=_marked(dynamodb.to_item(present | bookkeeping), replay_name),
        cleared=tuple(name for name in PROFILE_FIELDS if detail[name] is None),
    )


def apply_change(event: ReceivedEvent[Any], store: UserStore) -> Projection:
    """Apply a ``UserProfileChanged`` if it is newer than the item: one conditional write.
    Raises ``UserNotProjectedYetError`` when there is no item yet (retried), and
    ``UserOfAnotherPoolError`` when the item belongs to another pool (never applied)."""
    mark = event.replay_name or event.id  # every profile change's write is marked (module doc)
    change = profile_change(event.detail, mark)
    sub, pool, version = change.user_id, change.user_pool_id, change.version
    old = store.change(change)
    if old is None:
        store.remove_mark(sub, mark)
        return Projection(sub, version, True, event.replay_name)
    if not old:
        raise UserNotProjectedYetError(sub, version)
    found = _Found.read(old)
    if found.user_pool_id != pool:
        raise UserOfAnotherPoolError(sub, pool, found.user_pool_id)
    # The item is at this version or beyond: a duplicate, or a change older than the item.
    if found.version == version:
        differing = _differing(change, found.values)
        if differing:
            raise VersionForkError(sub, version, differing)
    left_over = _remove_left_over_mark(sub, found, version, mark, store)
    return Projection(sub, version, False, event.replay_name, left_over)


def _differing(change: ProfileChange, stored: Mapping[str, Any]) -> list[str]:
    """The fields an edit writes where the item holds other values than ``change``."""
    expected = dynamodb.from_item(change.values)
    return [
        name
        for name in (*PROFILE_FIELDS, *EDIT_BOOKKEEPING)
        if stored.get(name) != expected.get(name)
    ]


def _remove_left_over_mark(
    sub: str, found: _Found, version: int, replay_name: str | None, store: UserStore
) -> bool:
    """Complete the second write of a replayed event whose first write succeeded but whose mark
    removal failed (or has not happened yet: a duplicate racing it; the condition on the mark
    makes the two removals one). Only this replay's mark, only at this event's version: a
    later version's write has a replay of its own to clean up after it."""
    if replay_name is None or found.version != version or found.replay_mark != replay_name:
        return False
    return store.remove_mark(sub, replay_name)
