"""Building a ``UserConfirmed`` v1 event — plain Python, the one builder every producer uses:
the Cognito trigger, reconcile, and the tools that publish one (the demo, tests).

The trigger imports this on its cold path, so it must never import pydantic; the detail it
builds is checked with ``contracts.rules``, the rules the pydantic model and the JSON Schema
carry too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from contracts.rules import user_confirmed_problems


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
