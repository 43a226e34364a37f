"""Which User-table changes the change publisher announces, and as which mutation.

AppSync publishes to subscribers only the results of mutations that run through it; the
projector writes the table directly. So each stream record becomes, at most, one call of an
IAM-only mutation whose result AppSync fans out to the matching subscriptions:

- INSERT (a user the pipeline created) → ``publishUserCreated`` with the new image;
- REMOVE (an item deleted outside the API) → ``publishUserDeleted`` with the old image marked
  ``_deleted``, so DataStore drops its copy;
- MODIFY → ``publishUserUpdated`` (or ``publishUserDeleted`` when it sets ``_deleted``), unless
  the API made it: the API's ``updateUser`` already notified its subscribers.

An API edit is recognised by its shape: only what an edit writes changes (the profile and its
bookkeeping: ``WRITTEN_BY_AN_EDIT`` in ``contracts.user_fields``), and ``_version`` goes up by
exactly one. Anything else — an operator's edit in the console, a backfill rewriting an email —
is announced. An outside edit shaped exactly like an API edit is not (it looks like one); a
duplicate announcement is harmless (DataStore keeps the higher ``_version``), a missing one is
not, so the rule errs on the side of announcing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts import dynamodb
from contracts.user_fields import PUBLISHED_FIELDS, WRITTEN_BY_AN_EDIT

CREATED: Final = "publishUserCreated"
UPDATED: Final = "publishUserUpdated"
DELETED: Final = "publishUserDeleted"


class MalformedStreamRecordError(ValueError):
    """A record without the image its event needs: retrying will not help."""


@dataclass(frozen=True)
class Announcement:
    mutation: str
    user: dict[str, Any]  # PublishUserChangeInput


def announcement(record: Mapping[str, Any]) -> Announcement | None:
    """What to publish for one stream record (``None``: nothing, the API already did)."""
    event_name = record.get("eventName")
    change = record.get("dynamodb")
    if not isinstance(change, Mapping):
        raise MalformedStreamRecordError("dynamodb: must be an object")
    new, old = _image(change, "NewImage"), _image(change, "OldImage")
    if event_name == "INSERT" and new is not None:
        return Announcement(CREATED, _published(new))
    if event_name == "REMOVE" and old is not None:
        return Announcement(DELETED, _published({**old, "_deleted": True}))
    if event_name == "MODIFY" and new is not None and old is not None:
        if new.get("_deleted") is True and old.get("_deleted") is not True:
            return Announcement(DELETED, _published(new))
        if _made_by_the_api(old, new):
            return None
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
