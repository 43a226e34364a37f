"""The first version of a ``User`` item, built in plain Python for the projector's cold path.

Its attributes and their values come from the field table (``contracts.user_fields``), as the
pydantic read model's do (``contracts.user_model``).
"""

from __future__ import annotations

from contracts import dynamodb
from contracts.names import UserConfirmedDetail
from contracts.user_fields import USER_FIELDS


def first_version_item(detail: UserConfirmedDetail, email: str) -> dynamodb.Item:
    """The item for a newly confirmed user (``detail`` already checked) whose email Cognito
    holds as ``email``: a function of the two, timestamps included (the event's), so a rebuild
    writes it again attribute for attribute."""
    arrival = {**detail, "email": email}
    return dynamodb.to_item(
        {field.name: field.initial(arrival) for field in USER_FIELDS if field.initial is not None}
    )
