"""Building and reading a ``UserAdopted`` v1 event — plain Python (the projector reads it on its
cold path; ``userpipe adopt`` builds it).

A recipe app's record is taken into the log as one event carrying the item's whole state at the
version the recipe's clients know, so that a rebuild writes the adopted item again exactly, as it
writes every other (``docs/adoption.md``). Like ``UserProfileChanged`` it carries the profile
sealed under the user's data key, and no email: Cognito's, read there by sub.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contracts.event_fields import (
    SCHEMA_VERSION,
    USER_ADOPTED_EVENT,
    InvalidEventError,
    ReceivedEvent,
)

AdoptedDetail = dict[str, Any]
#: The detail field that names the recipe's table.
ADOPTED_FROM: Final = "adoptedFrom"
#: What an adoption writes besides the profile and the email: the recipe item's own history.
ADOPTED_STATE: Final = ("createdAt", "updatedAt", "_version", "_lastChangedAt")


def user_adopted_detail(
    user_pool_id: str,
    sub: str,
    state: Mapping[str, Any],
    sealed_profile: str,
    adopted_from: str,
) -> AdoptedDetail:
    """The detail for ``state`` (plain values: ``ADOPTED_STATE``) with its profile already sealed
    (``contracts.user_profile_changed.seal_context`` at ``state["_version"]``): the table's
    fields in its order. Raises ``InvalidEventError`` naming the fields that break the contract
    (never their values)."""
    given = {
        "userPoolId": user_pool_id,
        "sub": sub,
        "sealedProfile": sealed_profile,
        ADOPTED_FROM: adopted_from,
        **{name: state.get(name) for name in ADOPTED_STATE},
    }
    detail: AdoptedDetail = {SCHEMA_VERSION: USER_ADOPTED_EVENT.version}
    for field in USER_ADOPTED_EVENT.fields[1:]:
        detail[field.name] = given.get(field.name)
    problems = USER_ADOPTED_EVENT.problems(detail)
    if problems:
        raise InvalidEventError("; ".join(f"{name}: {rule}" for name, rule in problems.items()))
    return detail


def adoption_mark(adopted_from: str, version: int) -> str:
    """What an adopted item's ``_adoptedFrom`` holds: the recipe's table and the version adopted.
    Each adoption of a user writes another (a later one is at a higher version), so the change
    publisher never takes an adoption's write for an API edit."""
    return f"{adopted_from}#{version}"


def put_events_entry(detail: AdoptedDetail, bus_name: str) -> dict[str, str]:
    """The ``PutEvents`` entry publishing ``detail`` on ``bus_name``."""
    return USER_ADOPTED_EVENT.put_events_entry(detail, bus_name)


def read_user_adopted(body: str | bytes) -> ReceivedEvent[AdoptedDetail]:
    """Read an EventBridge event carrying ``UserAdopted`` (an SQS message body), or raise
    ``InvalidEventError`` naming each field and the rule it breaks."""
    return USER_ADOPTED_EVENT.read(body)
