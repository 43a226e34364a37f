"""The first version of a ``User`` item, built in plain Python for the projector's cold path.

``contracts.items.User`` (pydantic) is the declaration; a test holds this builder to
``User.first_version(...).to_item()`` on generated events, attribute for attribute.
"""

from __future__ import annotations

from datetime import datetime

from contracts import dynamodb
from contracts.names import USER_TYPENAME, UserConfirmedDetail, iso_utc


def first_version_item(detail: UserConfirmedDetail, *, now_ms: int) -> dynamodb.Item:
    """The item for a newly confirmed user (``detail`` already checked). Timestamps come from
    the event, so a rebuild reproduces them; ``_lastChangedAt`` is when it was written."""
    confirmed_at = iso_utc(datetime.fromisoformat(detail["confirmedAt"]))
    return dynamodb.to_item(
        {
            "id": detail["sub"],
            "__typename": USER_TYPENAME,
            "userPoolId": detail["userPoolId"],
            "email": detail["email"],
            "owner": detail["sub"],
            "createdAt": confirmed_at,
            "updatedAt": confirmed_at,
            "_version": 1,
            "_lastChangedAt": now_ms,
        }
    )
