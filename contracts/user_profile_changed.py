"""Building and reading a ``UserProfileChanged`` v1 event — plain Python.

Building: the change publisher turns the new image of an API edit (a User-table stream record)
into the event's detail. Reading: the projector's parse of the event from its queue. Both sit on
cold paths, so this module never imports pydantic; the table in ``contracts.event_fields`` is
the contract, and ``contracts.event_models.UserProfileChanged`` is generated from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.event_fields import (
    SCHEMA_VERSION,
    USER_PROFILE_CHANGED_EVENT,
    InvalidEventError,
    ReceivedEvent,
)

ProfileChangedDetail = dict[str, Any]


def profile_changed_detail(item: Mapping[str, Any]) -> ProfileChangedDetail:
    """The detail for the item an edit left (plain values, e.g. a deserialized new image): the
    table's fields in its order, ``null`` for a profile field the item lacks. Raises
    ``InvalidEventError`` naming the fields that break the contract."""
    detail: ProfileChangedDetail = {SCHEMA_VERSION: USER_PROFILE_CHANGED_EVENT.version}
    for field in USER_PROFILE_CHANGED_EVENT.fields[1:]:
        key = "id" if field.name == "sub" else field.name
        detail[field.name] = item.get(key)
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
