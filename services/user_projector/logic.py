"""Projecting the change events into the ``User`` table: each event applied once, by version,
in any order.

The table is the projection of five events (``contracts.names.USER_CHANGES_PATTERN``), none of
which carries readable personal data (docs/architecture.md, "A user's whole life"):

- ``UserConfirmed`` creates the first item (version 1). The event carries no email: Cognito
  holds it, and the projector reads it there by sub (``Identity``). Cognito no longer knowing
  the user means the user was deleted (before projection, or this is a replay of a deleted
  user): nothing is written, and that is a success. A user without an email (a federated user
  may have none) gets an item without one. An item already there from another pool is refused —
  never overwritten, never a success. From the same pool it is a duplicate (a Cognito retry, a
  redelivery, a replay, reconcile racing the trigger) and changes nothing — unless it is the
  *earlier* confirmation: duplicates need not be equal (each trigger invocation stamps its own
  ``confirmedAt``; reconcile stamps Cognito's creation date), and which one a queue delivers
  first is chance. So of two, the one with the earlier ``confirmedAt`` wins: it corrects
  ``createdAt`` (and ``updatedAt`` and ``_lastChangedAt`` while the item is at version 1). A
  tombstone is never corrected: a confirmation of a deleted user is a duplicate. Live and in a
  replay, in any order, every user ends with the same winner.
- ``UserProfileChanged`` carries the whole new state of what an edit writes (the profile, sealed
  under the user's data key, ``null`` for a cleared field, and the bookkeeping). No key: the user
  was erased (crypto-shredding), and the change is a success that writes nothing.
- ``UserEmailChanged`` carries the bookkeeping of an email change, not the address: it is read
  from Cognito again (gone: nothing to write).
- ``UserAdopted`` carries an adopted recipe record's whole state (``userpipe adopt``): the
  profile sealed as in a profile change, ``createdAt`` and the bookkeeping at the version the
  recipe's clients know. Applied like a profile change, with ``createdAt``, Cognito's email and
  ``_adoptedFrom`` along; without an item, the item is created at that version. No key: erased;
  no Cognito user: gone — nothing to write either way. An adoption wins over a confirmation:
  at version 1 it is applied over a confirmation's first item too (one raced it: reconcile or
  user_sync confirmed the user after ``adopt`` read the table), and a confirmation never
  corrects an adopted item. So the two give one item in any order.
- ``UserDeleted`` carries a tombstone's whole state (``contracts.lifecycle.tombstone_of``): the
  item becomes the tombstone (the personal fields REMOVEd), or, without an item, the tombstone is
  created — unless it has already expired (``expiresAt`` past), when there is nothing to keep.

The four changes are applied when their ``_version`` is higher than the item's, and are no-ops
otherwise: an older change or a duplicate. A profile change, an adoption and a tombstone carry
the whole state of what they write, so the higher version wins. An email change does not carry
the profile: were it applied over a gap, the profile changes in the gap would arrive to an item
beyond them, as no-ops, and their profile would be lost. So it is applied only over the version
just before its own (``ItemChange.follows``); further behind, it fails and is redelivered until
the changes in between have landed (``EarlierChangesPendingError``). The email itself is always
Cognito's current one, whichever event wrote it. So applying a user's events in any order, each
any number of times, leaves the item the in-order application leaves — what a replay needs:
EventBridge replays "are not necessarily replayed in the exact same order that they were added
to the archive" (EventBridge API Reference, StartReplay).

A change never writes when nothing would change: each write is conditioned so that, when it
succeeds, it changed the item. DynamoDB Streams records no write that changes nothing (Developer
Guide, "Change data capture for DynamoDB Streams"), but moto, the local emulator, emits MODIFY
even for an identical overwrite: so the write is avoided, never relied on to be a no-op.

A write that reproduces a state the log already holds is written with ``REPLAY_MARK``, then the
mark is removed by a second write (``contracts.replay_mark`` says why): every write of a replayed
event (the mark holds the replay's name), and every write of a change event (its event id when
it is live). A live change writes only when the table has fallen behind the log — a redriven
message, a table restored or emptied — and the write it carries was audited, announced and
published when the API, user_sync or reconcile made it. A live ``UserConfirmed`` is the one write
that is new: it is not marked. If the second write fails, the record fails; its redelivery finds
the item still carrying the same mark, and completes the removal.

Two events at the same ``_version`` that disagree on what they carry are a fork of the log (an
edit made against a table that had lost later versions, e.g. during a rebuild under live
traffic): ``VersionForkError`` refuses the second one, so it ends in the dead-letter queue where
an operator sees it, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from contracts import dynamodb
from contracts.adoption import ADOPTED_FROM, adoption_mark
from contracts.event_fields import ReceivedEvent
from contracts.lifecycle import ERASED_FIELDS, is_tombstone, tombstone_of
from contracts.names import (
    ADOPTED_ATTRIBUTE,
    OWNER_ATTRIBUTE,
    REPLAY_MARK,
    TYPENAME_ATTRIBUTE,
    USER_ADOPTED,
    USER_CONFIRMED,
    USER_DELETED,
    USER_EMAIL_CHANGED,
    USER_PROFILE_CHANGED,
    USER_TYPENAME,
)
from contracts.rules import is_user_pool_id
from contracts.user_confirmed import ConfirmedEvent
from contracts.user_fields import FIELD, PROFILE_FIELDS, WRITTEN_BY_AN_EDIT, profile_problem
from contracts.user_item import first_version_item
from contracts.user_profile_changed import SEALED_PROFILE, seal_context
from services.shared.user_keys import KeyStore

#: What a change writes besides what it changes: the bookkeeping that goes with every write, in
#: the field table's order (``updatedAt``, ``_version``, ``_lastChangedAt``).
EDIT_BOOKKEEPING: Final = tuple(
    name for name in FIELD if name in WRITTEN_BY_AN_EDIT and name not in PROFILE_FIELDS
)
_VERSION: Final = "_version"
_POOL: Final = "userPoolId"
_EMAIL: Final = "email"
_FIRST_VERSION: Final = 1
#: What an adoption carries besides the profile and the bookkeeping.
_ADOPTED_STATE: Final = ("createdAt",)
#: What a tombstone carries besides the bookkeeping: two tombstones at one version that disagree
#: on these are a fork.
_TOMBSTONE_STATE: Final = ("createdAt", "_deleted", "_ttl")


@dataclass(frozen=True)
class ItemChange:
    """One conditional write of a change event: ``values`` are SET and ``cleared`` REMOVEd,
    provided the item exists, belongs to ``user_pool_id`` and is below ``version``.
    ``carried``: the fields whose values the event decides — two events at one version that
    disagree on them are a fork of the log (an email read from Cognito again is not among them:
    Cognito may have moved on since)."""

    user_id: str
    user_pool_id: str
    version: int
    values: dynamodb.Item  # what the event writes, and EDIT_BOOKKEEPING; the mark in replay
    cleared: tuple[str, ...]  # the fields the change leaves without a value
    carried: tuple[str, ...] = (*PROFILE_FIELDS, *EDIT_BOOKKEEPING)
    #: Set: the item must be at exactly this version (``version - 1``), not merely below
    #: ``version``. An email change carries no profile: written over a gap, it would move the
    #: item past profile changes not applied yet, which would then be no-ops, their profile lost.
    follows: int | None = None
    #: Set: applied at its own version too over a confirmation's first version (``_version`` 1,
    #: no ``_adoptedFrom``): an adoption wins over a confirmation it raced, in any order.
    over_first_version: bool = False


#: The name ``tests/fakes.py`` imports (every change event is one ``ItemChange``).
ProfileChange = ItemChange


class UserStore(Protocol):
    """The User table. Each method returning ``Item | None`` returns ``None`` when it wrote, and
    otherwise the item found where its condition failed (``{}``: no item at all) — DynamoDB
    returns it with the failed condition (``ReturnValuesOnConditionCheckFailure``)."""

    def create(self, item: dynamodb.Item) -> dynamodb.Item | None:
        """Write ``item`` unless an item with its id exists."""
        ...

    def change(self, change: ItemChange) -> dynamodb.Item | None:
        """Apply ``change`` if the item exists, is of its pool and below its version (at
        ``change.follows`` exactly, when set). A change without the mark in its values removes
        any mark the item carries."""
        ...

    def remove_mark(self, user_id: str, replay_name: str) -> bool:
        """Remove ``REPLAY_MARK`` if it holds ``replay_name``. ``False``: it did not (someone
        removed it, or another replay's write replaced it) — nothing left to do."""
        ...

    def correct(self, user_id: str, expected: dynamodb.Item, values: dynamodb.Item) -> bool:
        """SET ``values`` if the item's attributes still equal ``expected``. ``False``: they
        did not (another write came between the read and this one)."""
        ...


@dataclass(frozen=True)
class CognitoUser:
    """What the projector reads of a Cognito user: the email (``None``: the user has none, e.g.
    a federated user whose provider shared none)."""

    email: str | None


class Identity(Protocol):
    """Cognito, where the email is kept (no event carries it)."""

    def user(self, user_pool_id: str, sub: str) -> CognitoUser | None:
        """The user ``sub`` of the pool, or ``None`` when Cognito has no such user (deleted).
        Anything else (throttling, an outage) raises: the record is retried."""
        ...


@dataclass(frozen=True)
class Sources:
    """What the projector reads besides the table: Cognito, the users' data keys, and the clock
    (epoch seconds) a tombstone's expiry is compared with."""

    identity: Identity
    keys: KeyStore
    now: Callable[[], float]


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


class UnreadableProfileError(ValueError):
    """A ``UserProfileChanged`` whose sealed profile does not open under the user's key and its
    context (altered, moved to another user or version, or sealed under another key), or does
    not hold a profile. Redelivery cannot change that: the message ends in the dead-letter
    queue. The reason never quotes the sealed text or what it holds."""


class UnusableEmailError(ValueError):
    """Cognito holds an email the User item's rule refuses (``contracts.user_fields``): the
    item would be one AppSync cannot serve. The message ends in the dead-letter queue for an
    operator; the reason names the rule, never the address."""

    def __init__(self, user_id: str) -> None:
        rule = FIELD[_EMAIL].rule
        super().__init__(
            f"user {user_id}: Cognito's email breaks the item's rule "
            f"({rule.rule(_EMAIL) if rule else 'none'})"
        )


class ConfirmationRaceError(RuntimeError):
    """The item changed between reading it and correcting it with an earlier confirmation; the
    record is retried and decides again."""


class AdoptionRaceError(RuntimeError):
    """The user's item appeared between finding none and creating the adopted one; the record is
    retried and applies the adoption to it."""


class TombstoneRaceError(RuntimeError):
    """The user's item appeared between finding none and creating the tombstone; the record is
    retried and applies the tombstone to it."""


class EarlierChangesPendingError(LookupError):
    """An email change for an item more than one version behind it: the changes in between (a
    replay brings them back in any order) must land first, or their profile would be lost. The
    record fails and SQS redelivers it; if a version has no event at all (an outside write that
    moved ``_version``), it ends in the dead-letter queue for an operator."""

    def __init__(self, user_id: str, version: int, found: int | None) -> None:
        self.user_id, self.version, self.found = user_id, version, found
        super().__init__(
            f"user {user_id} is at version {found}; its change to version {version} waits for "
            "the changes in between"
        )


class UserNotProjectedYetError(LookupError):
    """A change for a user the table does not hold yet. In a replay this is expected: events
    come back out of order, and the user's ``UserConfirmed`` may arrive later; the record fails
    and SQS redelivers it after the visibility timeout. If the ``UserConfirmed`` never arrives,
    the message fails on every receive and ends in the dead-letter queue (the queue's
    ``max_receive_count``, ``contracts.topology.PROJECTOR_SOURCE``)."""

    def __init__(self, user_id: str, version: int) -> None:
        self.user_id, self.version = user_id, version
        super().__init__(
            f"user {user_id} is not projected yet; its change to version {version} waits for "
            "its UserConfirmed"
        )


#: Why an event wrote nothing although it was applied (``Projection.nothing_to_write``).
USER_GONE: Final = "the user is gone from Cognito"
USER_ERASED: Final = "the user's data key is destroyed"
TOMBSTONE_EXPIRED: Final = "the tombstone has expired"


@dataclass(frozen=True)
class Projection:
    """What applying one event did."""

    user_id: str
    version: int  # the event's version (1 for UserConfirmed)
    written: bool  # False: a duplicate, or a change older than the item (nothing changed)
    replay_name: str | None
    mark_left_over: bool = False  # a redelivery found the replay's mark and removed it
    corrected: bool = False  # an earlier confirmation corrected the item (``project``)
    event_type: str = USER_CONFIRMED
    nothing_to_write: str | None = None  # USER_GONE, USER_ERASED or TOMBSTONE_EXPIRED
    without_email: bool = False  # a user created without an email (Cognito holds none)


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


def _cognito_email(user: CognitoUser, sub: str) -> str | None:
    """Cognito's email, held to the item's rule."""
    rule = FIELD[_EMAIL].rule
    if user.email is not None and rule is not None and not rule.holds(user.email):
        raise UnusableEmailError(sub)
    return user.email


#: What the first version takes from its ``UserConfirmed``, and what of it a later version keeps:
#: a change moves ``updatedAt`` and ``_lastChangedAt`` on, never ``createdAt``. (The email is
#: Cognito's, not the confirmation's: a correction leaves it.)
FROM_CONFIRMATION: Final = ("createdAt", "updatedAt", "_lastChangedAt")
KEPT_BY_LATER_VERSIONS: Final = ("createdAt",)


def project(event: ConfirmedEvent, store: UserStore, identity: Identity) -> Projection:
    """Create the first item, once, with the email Cognito holds. A user Cognito no longer knows
    writes nothing. A duplicate changes nothing, unless it is the earlier confirmation (the
    module's docstring): then it corrects ``createdAt`` (the first version's timestamps), and
    never the version, the email, the profile or anything a change moved on."""
    sub, pool = event.detail["sub"], event.detail["userPoolId"]
    user = identity.user(pool, sub)
    if user is None:
        return Projection(sub, _FIRST_VERSION, False, event.replay_name, nothing_to_write=USER_GONE)
    email = _cognito_email(user, sub)
    # ``first_version_item`` leaves a ``None`` out (``dynamodb.to_item``): no email attribute.
    first = first_version_item(event.detail, cast(str, email))
    old = store.create(_marked(first, event.replay_name))
    if old is None:
        if event.replay_name is not None:
            store.remove_mark(sub, event.replay_name)
        return Projection(sub, _FIRST_VERSION, True, event.replay_name, without_email=not email)
    found = _Found.read(old)
    if found.user_pool_id != pool:
        raise UserOfAnotherPoolError(sub, pool, found.user_pool_id)
    earlier = str(first["createdAt"]["S"]) < str(found.values.get("createdAt"))
    if earlier and not is_tombstone(found.values) and ADOPTED_ATTRIBUTE not in found.values:
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


def open_profile(detail: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The profile a ``UserProfileChanged`` detail (already checked) carries sealed, opened with
    the user's ``key`` and held to the profile's rules; ``UnreadableProfileError`` otherwise."""
    # Imported here: ``cryptography`` loads only when a profile change is applied, never on a
    # new user's path (their first item waits on this function's cold start).
    from services.shared.sealing import UnreadableSealError, open_json

    context = seal_context(detail["userPoolId"], detail["sub"], detail[_VERSION])
    try:
        profile = open_json(key, detail[SEALED_PROFILE], context=context)
    except UnreadableSealError as exc:  # names no value
        raise UnreadableProfileError(f"{SEALED_PROFILE}: {exc}") from None
    if set(profile) != set(PROFILE_FIELDS):
        raise UnreadableProfileError(
            f"{SEALED_PROFILE}: must hold exactly {', '.join(PROFILE_FIELDS)}"
        )
    problems = [name for name in PROFILE_FIELDS if profile_problem(name, profile[name])]
    if problems:
        raise UnreadableProfileError(
            f"{SEALED_PROFILE}: {', '.join(problems)} break the profile's rules"
        )
    return profile


def profile_change(
    detail: Mapping[str, Any], profile: Mapping[str, Any], replay_name: str | None = None
) -> ItemChange:
    """The write a ``UserProfileChanged`` detail (already checked) asks for, with its opened
    ``profile``."""
    present = {name: profile[name] for name in PROFILE_FIELDS if profile[name] is not None}
    bookkeeping = {name: detail[name] for name in EDIT_BOOKKEEPING}
    return ItemChange(
        user_id=detail["sub"],
        user_pool_id=detail["userPoolId"],
        version=detail[_VERSION],
        values=_marked(dynamodb.to_item(present | bookkeeping), replay_name),
        cleared=tuple(name for name in PROFILE_FIELDS if profile[name] is None),
    )


def email_change(
    detail: Mapping[str, Any], email: str | None, replay_name: str | None = None
) -> ItemChange:
    """The write a ``UserEmailChanged`` detail (already checked) asks for, with the email Cognito
    holds now (``None``: removed)."""
    bookkeeping = {name: detail[name] for name in EDIT_BOOKKEEPING}
    return ItemChange(
        user_id=detail["sub"],
        user_pool_id=detail["userPoolId"],
        version=detail[_VERSION],
        values=_marked(dynamodb.to_item({_EMAIL: email} | bookkeeping), replay_name),
        cleared=() if email is not None else (_EMAIL,),
        carried=EDIT_BOOKKEEPING,
        follows=detail[_VERSION] - 1,
    )


def adoption_change(
    detail: Mapping[str, Any],
    profile: Mapping[str, Any],
    email: str | None,
    replay_name: str | None = None,
) -> ItemChange:
    """The write a ``UserAdopted`` detail (already checked) asks for, with its opened ``profile``
    and the email Cognito holds now (``None``: the user has none)."""
    present = {name: profile[name] for name in PROFILE_FIELDS if profile[name] is not None}
    state = {name: detail[name] for name in (*_ADOPTED_STATE, *EDIT_BOOKKEEPING)}
    state[ADOPTED_ATTRIBUTE] = adoption_mark(detail[ADOPTED_FROM], detail[_VERSION])
    if email is not None:
        state[_EMAIL] = email
    cleared = tuple(name for name in PROFILE_FIELDS if profile[name] is None)
    return ItemChange(
        user_id=detail["sub"],
        user_pool_id=detail["userPoolId"],
        version=detail[_VERSION],
        values=_marked(dynamodb.to_item(present | state), replay_name),
        cleared=cleared if email is not None else (*cleared, _EMAIL),
        carried=(*PROFILE_FIELDS, *EDIT_BOOKKEEPING, *_ADOPTED_STATE, ADOPTED_ATTRIBUTE),
        over_first_version=True,
    )


def adopted_item(change: ItemChange) -> dynamodb.Item:
    """The item an adoption creates for a user without one: what the change writes, and what
    every item has (``id``, ``__typename``, ``owner``, ``userPoolId``)."""
    return {
        **dynamodb.to_item(
            {
                "id": change.user_id,
                TYPENAME_ATTRIBUTE: USER_TYPENAME,
                OWNER_ATTRIBUTE: change.user_id,
                _POOL: change.user_pool_id,
            }
        ),
        **change.values,
    }


def tombstone_change(detail: Mapping[str, Any], replay_name: str | None = None) -> ItemChange:
    """The write a ``UserDeleted`` detail (already checked) asks for: the tombstone's state, and
    every personal field removed."""
    state = {name: value for name, value in tombstone_of(detail).items() if name != "id"}
    return ItemChange(
        user_id=detail["sub"],
        user_pool_id=detail["userPoolId"],
        version=detail[_VERSION],
        values=_marked(dynamodb.to_item(state), replay_name),
        cleared=ERASED_FIELDS,
        carried=(*EDIT_BOOKKEEPING, *_TOMBSTONE_STATE),
    )


def tombstone_item(detail: Mapping[str, Any]) -> dynamodb.Item:
    """The tombstone item a ``UserDeleted`` detail describes, for a user without an item: what
    the tombstone carries, and what every item has (``__typename``, ``owner``)."""
    state = tombstone_of(detail)
    return dynamodb.to_item(
        {**state, TYPENAME_ATTRIBUTE: USER_TYPENAME, OWNER_ATTRIBUTE: detail["sub"]}
    )


def apply_profile_change(
    event: ReceivedEvent[Any], store: UserStore, sources: Sources
) -> Projection:
    """Apply a ``UserProfileChanged`` if it is newer than the item: one conditional write. No
    key: the user was erased, nothing to write. Raises ``UserNotProjectedYetError`` when there
    is no item yet (retried), ``UserOfAnotherPoolError`` when the item belongs to another pool
    and ``UnreadableProfileError`` when the profile does not open (never applied)."""
    detail = event.detail
    key = sources.keys.get(detail["sub"])
    if key is None:
        return _nothing(event, USER_PROFILE_CHANGED, USER_ERASED)
    mark = event.replay_name or event.id  # every change's write is marked (module doc)
    change = profile_change(detail, open_profile(detail, key), mark)
    return _apply(change, event, USER_PROFILE_CHANGED, store)


def apply_email_change(event: ReceivedEvent[Any], store: UserStore, sources: Sources) -> Projection:
    """Apply a ``UserEmailChanged`` with the email Cognito holds, if it is newer than the item;
    nothing when Cognito no longer knows the user. Raises as ``apply_profile_change``."""
    detail = event.detail
    user = sources.identity.user(detail["userPoolId"], detail["sub"])
    if user is None:
        return _nothing(event, USER_EMAIL_CHANGED, USER_GONE)
    mark = event.replay_name or event.id
    change = email_change(detail, _cognito_email(user, detail["sub"]), mark)
    return _apply(change, event, USER_EMAIL_CHANGED, store)


def apply_adoption(event: ReceivedEvent[Any], store: UserStore, sources: Sources) -> Projection:
    """Apply a ``UserAdopted`` if it is newer than the item; without an item, create it at the
    event's version. No key: the user was erased; no Cognito user: gone — nothing to write.
    Raises ``UserOfAnotherPoolError``, ``VersionForkError`` and ``UnreadableProfileError`` as a
    profile change does."""
    detail = event.detail
    key = sources.keys.get(detail["sub"])
    if key is None:
        return _nothing(event, USER_ADOPTED, USER_ERASED)
    user = sources.identity.user(detail["userPoolId"], detail["sub"])
    if user is None:
        return _nothing(event, USER_ADOPTED, USER_GONE)
    # Not marked when live: like a live ``UserConfirmed``, the adoption is new to the table, and
    # the stream's readers audit and announce it. A replay's write is marked (module doc).
    mark = event.replay_name
    profile = open_profile(detail, key)
    change = adoption_change(detail, profile, _cognito_email(user, detail["sub"]), mark)
    old = store.change(change)
    if old == {}:
        if store.create(adopted_item(change)) is not None:
            raise AdoptionRaceError(f"user {change.user_id} appeared; the adoption is retried")
        old = None
    if old is None:
        if mark is not None:
            store.remove_mark(change.user_id, mark)
        return Projection(
            change.user_id, change.version, True, event.replay_name, event_type=USER_ADOPTED
        )
    return _settle(change, old, event, USER_ADOPTED, store, mark or "")


def apply_deletion(event: ReceivedEvent[Any], store: UserStore, sources: Sources) -> Projection:
    """Turn the item into the tombstone a ``UserDeleted`` describes if it is below its version;
    without an item, create the tombstone, unless it has expired (then nothing)."""
    detail = event.detail
    mark = event.replay_name or event.id
    change = tombstone_change(detail, mark)
    old = store.change(change)
    if old == {}:
        if detail["expiresAt"] <= sources.now():
            return _nothing(event, USER_DELETED, TOMBSTONE_EXPIRED)
        if store.create(_marked(tombstone_item(detail), mark)) is not None:
            raise TombstoneRaceError(f"user {change.user_id} appeared; the tombstone is retried")
        store.remove_mark(change.user_id, mark)
        return Projection(
            change.user_id, change.version, True, event.replay_name, event_type=USER_DELETED
        )
    return _settle(change, old, event, USER_DELETED, store, mark)


def _nothing(event: ReceivedEvent[Any], event_type: str, why: str) -> Projection:
    detail = event.detail
    return Projection(
        detail["sub"],
        detail[_VERSION],
        False,
        event.replay_name,
        event_type=event_type,
        nothing_to_write=why,
    )


def _apply(
    change: ItemChange, event: ReceivedEvent[Any], event_type: str, store: UserStore
) -> Projection:
    mark = event.replay_name or event.id
    old = store.change(change)
    if old == {}:
        raise UserNotProjectedYetError(change.user_id, change.version)
    return _settle(change, old, event, event_type, store, mark)


def _settle(
    change: ItemChange,
    old: dynamodb.Item | None,
    event: ReceivedEvent[Any],
    event_type: str,
    store: UserStore,
    mark: str,
) -> Projection:
    """After a change's write: remove its mark, or decide what the item its condition failed on
    means (another pool, a fork, a duplicate or an older change)."""
    sub, pool, version = change.user_id, change.user_pool_id, change.version
    if old is None:
        store.remove_mark(sub, mark)
        return Projection(sub, version, True, event.replay_name, event_type=event_type)
    found = _Found.read(old)
    if found.user_pool_id != pool:
        raise UserOfAnotherPoolError(sub, pool, found.user_pool_id)
    if change.follows is not None and (found.version or 0) < change.follows:
        raise EarlierChangesPendingError(sub, version, found.version)
    # The item is at this version or beyond: a duplicate, or a change older than the item.
    if found.version == version:
        differing = _differing(change, found.values)
        if differing:
            raise VersionForkError(sub, version, differing)
    left_over = _remove_left_over_mark(sub, found, version, mark, store)
    return Projection(sub, version, False, event.replay_name, left_over, event_type=event_type)


def _differing(change: ItemChange, stored: Mapping[str, Any]) -> list[str]:
    """The fields the change's event decides where the item holds other values."""
    expected = dynamodb.from_item(change.values)
    return [name for name in change.carried if stored.get(name) != expected.get(name)]


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
