"""Where each User-table change is published: the bus, the API's subscribers, both, or nowhere.

Every change reaches the table through its stream, and this function — one of its two readers —
sends each where it is missing:

- an edit made through the API (``updateUser``) → a ``UserProfileChanged`` event on the bus,
  the profile sealed under the user's data key (created on the user's first edit). The API's own
  mutation already notified its subscribers; what is missing is the event log: the bus's archive
  must hold every change, so that replaying it into an empty table (a rebuild) reproduces the
  table. The projector applies these events by ``_version``, so the replayed edit lands where the
  live one did.
- an email change (``contracts.lifecycle.is_email_change``: user_sync or reconcile followed
  Cognito) → a ``UserEmailChanged`` event (no address) on the bus AND ``publishUserUpdated``:
  neither the log nor the subscribers heard of it, since the API did not make it.
- a tombstone (``_deleted`` newly set: the user was deleted) → a ``UserDeleted`` event on the
  bus AND ``publishUserDeleted``, so DataStore drops its copy. A ``_deleted`` set without the
  tombstone's shape (an operator's hand, without ``_ttl``) is announced only: it is no erasure.
- any other change → one call of an IAM-only ``publishUser*`` mutation, whose result AppSync
  fans out to the matching subscriptions (AppSync publishes only the results of mutations that
  run through it; the projector and an operator write the table directly):

  - INSERT (a user the pipeline created) → ``publishUserCreated`` with the new image;
  - REMOVE of a live item (deleted outside the API) → ``publishUserDeleted`` with the old image
    marked ``_deleted``, so DataStore drops its copy;
  - REMOVE of a tombstone (its TTL expired, or an operator removed it) → nothing: the deletion
    was published and announced when the tombstone was written, and announcing it again would
    tell subscribers of a deletion that is not new;
  - MODIFY → ``publishUserUpdated``.
- the projector's marked writes (``contracts.replay_mark.caused_by_replay``: a replayed event's,
  or a live change event's, which reproduces a change this function already published) →
  nothing: they reproduce changes already published, and an event for them would loop, or grow
  the archive with every rebuild.

A record's publication is one or two actions, done in order (the event first: the log is the
truth); if one fails, the record fails as a whole and is delivered again, both actions with it.
Both may be repeated: the projector applies an event once by its ``_version``, and a second
announcement of the same version is harmless (DataStore keeps the higher ``_version``).

An API edit is recognised by its shape: only what an edit writes changes (the profile and its
bookkeeping: ``WRITTEN_BY_AN_EDIT`` in ``contracts.user_fields``), and ``_version`` goes up by
exactly one; the replay mark, which ``updateUser`` removes, does not count as a change, nor do
the ``owner``, ``userPoolId`` and ``__typename`` its first edit of a recipe-shaped item writes
along (``FILLED_BY_A_FIRST_EDIT``: the values the item was read as). Anything
else — an operator's edit in the console, a backfill — is announced. An outside edit shaped
exactly like an API edit goes to the bus as if the API had made it (the projector then applies it
again, a no-op at that version) and is not announced; a duplicate announcement is harmless, a
missing one is not, so the rule errs on the side of announcing.

Why this function and not a third reader of the stream, such as an EventBridge Pipe from the
stream to the bus: DynamoDB recommends no more than two processes reading one stream shard at
once (Developer Guide, "DynamoDB Streams and AWS Lambda triggers"), and the audit trail and this
function are already two. A Pipe's filter matches fields of one record; it could not compare the
old and new images (the API-edit shape, the replay rule), and it has no local emulation — nor
seal a profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts import dynamodb
from contracts.event_fields import InvalidEventError
from contracts.lifecycle import (
    email_changed_detail,
    is_email_change,
    is_tombstone,
    user_deleted_detail,
)
from contracts.names import USER_DELETED, USER_EMAIL_CHANGED, USER_PROFILE_CHANGED
from contracts.replay_mark import caused_by_replay, without_mark
from contracts.user_fields import PUBLISHED_FIELDS, WRITTEN_BY_AN_EDIT
from contracts.user_profile_changed import profile_changed_detail, profile_of, seal_context
from services.shared.user_keys import KeyStore

CREATED: Final = "publishUserCreated"
UPDATED: Final = "publishUserUpdated"
DELETED: Final = "publishUserDeleted"


class MalformedStreamRecordError(ValueError):
    """A record without the image its event needs: retrying will not help."""


@dataclass(frozen=True)
class Announcement:
    """A change for the API's subscribers: the publish mutation to call, with its input."""

    mutation: str
    user: dict[str, Any]  # PublishUserChangeInput


@dataclass(frozen=True)
class BusEvent:
    """A change for the bus: one userpipe event (``contracts.event_fields.EVENT_TYPES``)."""

    detail_type: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class KeyErasure:
    """A deleted user's data key to destroy. user_sync destroyed it already, but an API edit's
    stream record read after that (its record comes before the tombstone's) created a new one
    to seal with; the tombstone's record comes after every edit of the user (a stream keeps each
    item's changes in order), so destroying here leaves none behind."""

    user_id: str


Action = Announcement | BusEvent | KeyErasure
#: What a record asks for, in order: nothing (a marked write), one action or more.
Publication = tuple[Action, ...]


#: Whether a user has been erased (their item gone, or a tombstone): asked before a first key is
#: made for them, so that an old edit's record read after the erasure (stream lag, a redrive)
#: never makes a key that nothing would destroy.
Erased = Callable[[str], bool]


def publication(record: Mapping[str, Any], keys: KeyStore, erased: Erased) -> Publication:
    """What to publish for one stream record, in order (``()``: nothing, a marked write or an
    expired tombstone). ``keys``: the users' data keys, which seal an API edit's profile."""
    event_name = record.get("eventName")
    change = record.get("dynamodb")
    if not isinstance(change, Mapping):
        raise MalformedStreamRecordError("dynamodb: must be an object")
    new, old = _image(change, "NewImage"), _image(change, "OldImage")
    if caused_by_replay(old, new):
        return ()
    if event_name == "INSERT" and new is not None:
        return (Announcement(CREATED, _published(new)),)
    if event_name == "REMOVE" and old is not None:
        if is_tombstone(old):
            return ()  # published and announced when it became a tombstone
        return (Announcement(DELETED, _published({**old, "_deleted": True})),)
    if event_name == "MODIFY" and new is not None and old is not None:
        old, new = without_mark(old), without_mark(new)
        if is_tombstone(new) and not is_tombstone(old):
            announced = Announcement(DELETED, _published(new))
            try:
                deleted = BusEvent(USER_DELETED, user_deleted_detail(new))
            except InvalidEventError:  # not a tombstone's shape: no erasure
                return (announced,)
            # The key first: destroying it is idempotent and needs nothing else to succeed.
            return (KeyErasure(deleted.detail["sub"]), deleted, announced)
        if is_email_change(old, new):
            changed = BusEvent(
                USER_EMAIL_CHANGED, _checked(USER_EMAIL_CHANGED, email_changed_detail, new)
            )
            return (changed, Announcement(UPDATED, _published(new)))
        if _made_by_the_api(old, new):
            detail = _profile_changed(new, keys, erased)
            return () if detail is None else (BusEvent(USER_PROFILE_CHANGED, detail),)
        return (Announcement(UPDATED, _published(new)),)
    raise MalformedStreamRecordError(
        f"{event_name!r} record without the image it needs (the stream must send "
        "NEW_AND_OLD_IMAGES)"
    )


#: What the API's first edit of a recipe-shaped item writes along (what the item lacked, as it
#: was read: ``services.user_api.store``); not a change of its own.
FILLED_BY_A_FIRST_EDIT: Final = frozenset({"owner", "userPoolId", "__typename"})


def _made_by_the_api(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    changed = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
    filled = {name for name in FILLED_BY_A_FIRST_EDIT if name not in old and name in new}
    version_up_by_one = (
        isinstance(old.get("_version"), int) and new.get("_version") == old["_version"] + 1
    )
    return version_up_by_one and changed - filled <= WRITTEN_BY_AN_EDIT


def _checked(
    detail_type: str, build: Callable[[Mapping[str, Any]], dict[str, Any]], new: Mapping[str, Any]
) -> dict[str, Any]:
    """The detail ``build`` makes of the new image; one that breaks the event's contract is a
    malformed record (retrying will not help)."""
    try:
        return build(new)
    except InvalidEventError as exc:  # names fields and rules, never values
        raise MalformedStreamRecordError(f"not a {detail_type}: {exc}") from None


def _profile_changed(
    new: Mapping[str, Any], keys: KeyStore, erased: Erased
) -> dict[str, Any] | None:
    """The ``UserProfileChanged`` detail of an API edit's new image: its profile sealed under
    the user's data key (created on first use), bound to the user and the version."""
    # Imported here: ``cryptography`` loads when an edit is sealed, not for every record.
    from services.shared.sealing import seal_json

    sub, pool, version = new.get("id"), new.get("userPoolId"), new.get("_version")
    if not (isinstance(sub, str) and isinstance(pool, str) and isinstance(version, int)):
        raise MalformedStreamRecordError("not a UserProfileChanged: id, userPoolId or _version")
    key = keys.get(sub)
    if key is None:
        if erased(sub):
            return None  # the user is gone: their edit is not put in the log, sealed or not
        key = keys.get_or_create(sub)
    sealed = seal_json(key, profile_of(new), context=seal_context(pool, sub, version))
    return _checked(USER_PROFILE_CHANGED, lambda item: profile_changed_detail(item, sealed), new)


def _image(change: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    image = change.get(key)
    if image is None:
        return None
    if not isinstance(image, Mapping):
        raise MalformedStreamRecordError(f"dynamodb.{key}: must be an object")
    try:
        return dynamodb.from_item(image)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise MalformedStreamRecordError(f"dynamodb.{key}: {exc}") from None


def _published(values: Mapping[str, Any]) -> dict[str, Any]:
    """``PublishUserChangeInput`` of an item: a tombstone, or a user without one, has no email
    (the input's ``email`` is nullable)."""
    missing = [name for name in ("id", "createdAt", "updatedAt") if not values.get(name)]
    if missing or not isinstance(values.get("_version"), int):
        raise MalformedStreamRecordError(
            f"not a User item (missing {', '.join(missing) or '_version'})"
        )
    return {name: values.get(name) for name in PUBLISHED_FIELDS}
