"""Building and reading a ``UserConfirmed`` v1 event — plain Python.

Building: the one builder every producer uses (the Cognito trigger, reconcile, and the tools
that publish one: the demo, tests). Reading: ``read_user_confirmed``, the projector's parse of
an EventBridge event from its queue.

Both sit on the trigger's and the projector's cold paths, so this module never imports
pydantic; it checks with ``contracts.rules``, the rules the pydantic model and the JSON Schema
carry too. Tests hold ``read_user_confirmed`` to ``contracts.events.parse_user_confirmed``: it
accepts nothing the model refuses, and what it accepts it reads the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from contracts.names import (
    EVENT_SOURCE,
    USER_CONFIRMED,
    USER_CONFIRMED_SCHEMA_VERSION,
    Origin,
    UserConfirmedDetail,
    iso_utc,
)
from contracts.rules import (
    EVENT_ID_PATTERN,
    REPLAY_NAME_PATTERN,
    is_timestamp,
    user_confirmed_problems,
)

_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_REPLAY_NAME = re.compile(REPLAY_NAME_PATTERN)


class InvalidEventError(ValueError):
    """A message that is not a readable ``UserConfirmed``. The reason names fields and rules,
    never the values (they may be personal data)."""


class InvalidUserConfirmedError(ValueError):
    """The values break the contract; ``problems`` names each field and its rule (never a
    value: they may be personal data)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {rule}" for field, rule in sorted(problems.items())))


def user_confirmed_detail(
    *,
    user_pool_id: Any,
    sub: Any,
    username: Any,
    email: Any,
    email_verified: bool,
    confirmed_at: datetime,
    origin: Origin,
    client_id: Any = None,
) -> UserConfirmedDetail:
    """A checked detail, or ``InvalidUserConfirmedError``."""
    detail: dict[str, Any] = {
        "schemaVersion": USER_CONFIRMED_SCHEMA_VERSION,
        "userPoolId": user_pool_id,
        "sub": sub,
        "username": username,
        "email": email,
        "emailVerified": email_verified,
        "confirmedAt": iso_utc(confirmed_at),
        "origin": origin,
        "clientId": client_id,
    }
    problems = user_confirmed_problems(detail)
    if problems:
        raise InvalidUserConfirmedError(problems)
    return cast(UserConfirmedDetail, detail)  # checked field by field just above


def from_cognito_user(
    *,
    user_pool_id: Any,
    username: Any,
    attributes: Mapping[str, Any],
    confirmed_at: datetime,
    origin: Origin,
    client_id: Any = None,
) -> UserConfirmedDetail:
    """The detail for a Cognito user, from its attributes as Cognito names them (``sub``,
    ``email``, ``email_verified`` as the string "true" or "false")."""
    return user_confirmed_detail(
        user_pool_id=user_pool_id,
        sub=attributes.get("sub"),
        username=username,
        email=attributes.get("email"),
        email_verified=str(attributes.get("email_verified", "false")).lower() == "true",
        confirmed_at=confirmed_at,
        origin=origin,
        client_id=client_id,
    )


def put_events_entry(detail: UserConfirmedDetail, bus_name: str) -> dict[str, str]:
    """The ``PutEvents`` entry that publishes ``detail`` on ``bus_name``."""
    return {
        "Source": EVENT_SOURCE,
        "DetailType": USER_CONFIRMED,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus_name,
    }


@dataclass(frozen=True)
class ConfirmedEvent:
    """An EventBridge event carrying a checked ``UserConfirmed`` detail."""

    id: str  # EventBridge's event id; a replay gives the event a new one
    detail: UserConfirmedDetail
    replay_name: str | None  # set when the event comes from an archive replay


def read_user_confirmed(body: str | bytes) -> ConfirmedEvent:
    """Read an EventBridge event carrying ``UserConfirmed`` (an SQS message body), or raise
    ``InvalidEventError`` naming each field and the rule it breaks."""
    try:
        event = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        raise InvalidEventError("message: not a JSON document") from None
    if not isinstance(event, dict):
        raise InvalidEventError("message: must be a JSON object")
    if (event.get("source"), event.get("detail-type")) != (EVENT_SOURCE, USER_CONFIRMED):
        raise InvalidEventError(
            f"message: not a {USER_CONFIRMED} event: source must be {EVENT_SOURCE!r} "
            f"and detail-type {USER_CONFIRMED!r}"
        )
    problems: dict[str, str] = {}
    event_id, replay_name, detail = event.get("id"), event.get("replay-name"), event.get("detail")
    if not (isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)):
        problems["id"] = "must be a UUID"
    if not is_timestamp(event.get("time")):
        problems["time"] = "must be an RFC 3339 time with seconds and a time zone"
    if replay_name is not None and not (
        isinstance(replay_name, str) and _REPLAY_NAME.fullmatch(replay_name)
    ):
        problems["replay-name"] = "must be 1-64 of . - _ A-Z a-z 0-9"
    if not isinstance(detail, dict):
        problems["detail"] = "must be an object"
    else:
        problems |= {
            f"detail.{name}": rule for name, rule in user_confirmed_problems(detail).items()
        }
    if problems:
        raise InvalidEventError("; ".join(f"{name}: {rule}" for name, rule in problems.items()))
    return ConfirmedEvent(str(event_id), cast(UserConfirmedDetail, detail), replay_name)
