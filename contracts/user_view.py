"""A User item as AppSync serves it, read in plain Python: the user API's cold path imports no
pydantic (``make bench``: importing it and building the read model was most of what the API's
handler added to its cold start).

``served_user`` answers what ``contracts.user_model.User.from_item(item).model_dump(by_alias=True)``
answers. Its fast path takes the items the pipeline writes — every declared field of exactly its
type, every rule held, ``owner`` equal to ``id`` — and anything else goes to the read model,
imported then, which decides (and refuses) as it always has. Tests hold the fast path to the
model: what it accepts, the model accepts and serves the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts import dynamodb
from contracts.names import OWNER_ATTRIBUTE, USER_KEY
from contracts.user_fields import USER_FIELDS

_STORED: Final = frozenset(field.name for field in USER_FIELDS)


def served_user(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The User ``item`` as AppSync serves it (every field, ``None`` where absent); raises the
    read model's ``ValidationError`` for an item it refuses."""
    served = read_plain(item)
    if served is not None:
        return served
    from contracts.user_model import User  # only for an item off the fast path

    return User.from_item(item).model_dump(by_alias=True)


def read_plain(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The fast path: the served user, or ``None`` when the item is not plainly one the
    pipeline writes (the read model decides those)."""
    values = dynamodb.from_item({name: value for name, value in item.items() if name in _STORED})
    served: dict[str, Any] = {}
    for field in USER_FIELDS:
        value = values.get(field.name)
        if value is None:
            if field.required:
                return None
        elif (
            type(value) is not field.type
            or (field.fixed is not None and value != field.fixed)
            or (field.rule is not None and not field.rule.holds(value))
        ):
            return None
        served[field.name] = value
    if served[OWNER_ATTRIBUTE] != served[USER_KEY]:
        return None
    return served
