"""The first version of a ``User`` item, built in plain Python for the projector's cold path.

Its attributes and their values come from the field table (``contracts.user_fields``), as the
pydantic read model's do (``contracts.user_model``).
"""

from __future__ import annotations

from contracts import dynamodb
from contracts.names import UserConfirmedDetail
from contracts.user_fields import USER_FIELDS


def first_version_item(detail: UserConfirmedDetail, *, now_ms: int) -> dynamodb.Item:
    """The item for a newly confirmed user (``detail`` already checked). Timestamps come from
    the event, so a rebuild reproduces them; ``_lastChangedAt`` is when it was written."""
    return dynamodb.to_item(
        {
            field.name: field.initial(detail, now_ms)
            for field in USER_FIELDS
            if field.initial is not None
        }
    )
