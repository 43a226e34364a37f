"""Building and reading a ``UserProfileChanged`` v2 event — plain Python.

Building: the change publisher turns the new image of an API edit (a User-table stream record)
into the event's detail. Reading: the projector's parse of the event from its queue. Both sit on
cold paths, so this module never imports pydantic; the table in ``contracts.event_fields`` is
the contract, and ``contracts.event_models.UserProfileChanged`` is generated from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts.event_fields import (
    SCHEMA_VERSION,
    USER_PROFILE_CHANGED_EVENT,
    InvalidEventError,
    ReceivedEvent,
)
from contracts.user_fields import PROFILE_FIELDS

ProfileChangedDetail = dict[str, Any]
#: The detail field that holds the profile, sealed under the user's data key.
SEALED_PROFILE: Final = "sealedProfile"


def profile_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """The profile an edit left on the item (plain values): every field a user edits, ``None``
    for one the item lacks — what ``sealedProfile`` holds, as a JSON object."""
    return {name: item.get(name) for name in PROFILE_FIELDS}


def seal_context(user_pool_id: str, sub: str, version: int) -> str:
    """The associated data a profile is sealed with: it opens only for the user and version it
    was sealed for, so a sealed value cannot be moved to another user or version."""
    return f"{user_pool_id}/{sub}/{version}"


def profile_changed_detail(item: Mapping[str, Any], sealed_profile: str) -> ProfileChangedDetail:
    """The detail for the item an edit left (plain values, e.g. a deserialized new image), with
    its profile already sealed (``profile_of``, ``seal_context``): the table's fields in its
    order. Raises ``InvalidEventError`` naming the fields that break the contract."""
    detail: ProfileChangedDetail = {SCHEMA_VERSION: USER_PROFILE_CHANGED_EVENT.version}
    for field in USER_PROFILE_CHANGED_EVENT.fields[1:]:
        if field.name == SEALED_PROFILE:
            detail[field.name] = sealed_profile
        else:
            detail[field.name] = item.get("id" if field.name == "sub" else field.name)
    problems = USER_PROFILE_CHANGED_EVENT.problems(detail)
    if problems:
        raise InvalidEventError("; ".join(f"{name}: {rule}" for name, rule in problems.items()))
    return detail


def put_events_entry(detail: ProfileChangedDetail, bus_name: str) -> dict[str, str]:
    """The ``PutEvents`` entry publishing ``detail`` on ``bus_name``."""
    return USER_PROFILE_CHANGED_EVENT.put_events_entry(detail, bus_name)


def read_user_profile_changed(body: str | bytes) -> ReceivedEvent[ProfileChangedDetail]:
    """Read an EventBridge event carrying ``UserProfileChanged`` (an SQS message body), or raise
    ``InvalidEventError`` naming each field and the rule it breaks."""
    return USER_PROFILE_CHANGED_EVENT.read(body)
