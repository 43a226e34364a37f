"""Where each User-table change is published: the bus, the API's subscribers, or nowhere.

Every change reaches the table through its stream, and this function — one of its two readers —
sends each where it is missing:

- an edit made through the API (``updateUser``) → a ``UserProfileChanged`` event on the bus.
  The API's own mutation already notified its subscribers; what is missing is the event log:
  the bus's archive must hold every change, so that replaying it into an empty table (a rebuild)
  reproduces the table. The projector applies these events by ``_version``, so the replayed
  edit lands where the live one did.
- any other change → one call of an IAM-only ``publishUser*`` mutation, whose result AppSync
  fans out to the matching subscriptions (AppSync publishes only the results of mutations that
  run through it; the projector and an operator write the table directly):

  - INSERT (a user the pipeline created) → ``publishUserCreated`` with the new image;
  - REMOVE (an item deleted outside the API) → ``publishUserDeleted`` with the old image marked
    ``_deleted``, so DataStore drops its copy;
  - MODIFY → ``publishUserUpdated`` (or ``publishUserDeleted`` when it sets ``_deleted``).
- the projector's marked writes (``contracts.replay_mark.caused_by_replay``: a replayed event's,
  or a live ``UserProfileChanged``'s, which reproduces the edit this function put on the bus) →
  nothing: they reproduce changes already published, and an event for them would loop, or grow
  the archive with every rebuild.

An API edit is recognised by its shape: only what an edit writes changes (the profile and its
bookkeeping: ``WRITTEN_BY_AN_EDIT`` in ``contracts.user_fields``), and ``_version`` goes up by
exactly one; the replay mark, which ``updateUser`` removes, does not count as a change. Anything
else — an operator's edit in the console, a backfill rewriting an email — is announced. An
outside edit shaped exactly like an API edit goes to the bus as if the API had made it (the
projector then applies it again, a no-op at that version) and is not announced; a duplicate
announcement is harmless (DataStore keeps the higher ``_version``), a missing one is not, so the
rule errs on the side of announcing.

Why this function and not a third reader of the stream, such as an EventBridge Pipe from the
stream to the bus: DynamoDB recommends no more than two processes reading one stream shard at
once (Developer Guide, "DynamoDB Streams and AWS Lambda triggers"), and the audit trail and this
function are already two. A Pipe's filter matches fields of one record; it could not compare the
old and new images (the API-edit shape, the replay rule), and it has no local emulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts import dynamodb
from contracts.event_fields import InvalidEventError
from contracts.replay_mark import caused_by_replay, without_mark
from contracts.user_fields import PUBLISHED_FIELDS, WRITTEN_BY_AN_EDIT
from contracts.user_profile_changed import ProfileChangedDetail, profile_changed_detail

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
class ProfileChanged:
    """An API edit for the bus: the ``UserProfileChanged`` detail."""

    detail: ProfileChangedDetail


def publication(record: Mapping[str, Any]) -> Announcement | ProfileChanged | None:
    """What to publish for one stream record (``None``: nothing, a marked write)."""
    event_name = record.get("eventName")
    change = record.get("dynamodb")
    if not isinstance(change, Mapping):
        raise MalformedStreamRecordError("dynamodb: must be an object")
    new, old = _image(change, "NewImage"), _image(change, "OldImage")
    if caused_by_replay(old, new):
        return None
    if event_name == "INSERT" and new is not None:
        return Announcement(CREATED, _published(new))
    if event_name == "REMOVE" and old is not None:
        return Announcement(DELETED, _published({**old, "_deleted": True}))
    if event_name == "MODIFY" and new is not None and old is not None:
        if new.get("_deleted") is True and old.get("_deleted") is not True:
            return Announcement(DELETED, _published(new))
        if _made_by_the_api(without_mark(old), without_mark(new)):
            return ProfileChanged(_detail(new))
        return Announcement(UPDATED, _published(new))
    raise MalformedStreamRecordError(
        f"{event_name!r} record without the image it needs (the stream must send "
        "NEW_AND_OLD_IMAGES)"
    )


def _made_by_the_api(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    changed = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
    version_up_by_one = (
        isinstance(old.get("_version"), int) and new.get("_version") == old["_version"] + 1
    )
    return version_up_by_one and changed <= WRITTEN_BY_AN_EDIT


def _detail(new: Mapping[str, Any]) -> ProfileChangedDetail:
    try:
        return profile_changed_detail(new)
    except InvalidEventError as exc:  # names fields and rules, never values
        raise MalformedStreamRecordError(f"not a UserProfileChanged: {exc}") from None


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
    missing = [name for name in ("id", "email", "createdAt", "updatedAt") if not values.get(name)]
    if missing or not isinstance(values.get("_version"), int):
        raise MalformedStreamRecordError(
            f"not a User item (missing {', '.join(missing) or '_version'})"
        )
    return {name: values.get(name) for name in PUBLISHED_FIELDS}
