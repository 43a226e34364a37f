"""Building and reading a ``UserConfirmed`` v2 event — plain Python.

Building: the one builder every producer uses (the Cognito trigger, reconcile, and the tools
that publish one: the demo, tests). Reading: ``read_user_confirmed``, the projector's parse of
an EventBridge event from its queue.

Both sit on the trigger's and the projector's cold paths, so this module never imports
pydantic; it checks with the event's field table (``contracts.event_fields``), from which the
pydantic model and the JSON Schema are generated too. Tests hold ``read_user_confirmed`` to
``contracts.event_models.parse_user_confirmed``: it accepts nothing the model refuses, and what it
accepts it reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from contracts.event_fields import USER_CONFIRMED_EVENT, ReceivedEvent
from contracts.event_fields import InvalidEventError as InvalidEventError  # re-exported
from contracts.names import Origin, UserConfirmedDetail, iso_utc


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
    confirmed_at: datetime,
    origin: Origin,
    client_id: Any = None,
    trigger_source: Any = None,
) -> UserConfirmedDetail:
    """A checked detail, or ``InvalidUserConfirmedError``. It carries no personal data: the
    email stays with Cognito (``contracts.event_fields.USER_CONFIRMED_EVENT``)."""
    detail: dict[str, Any] = {
        "schemaVersion": USER_CONFIRMED_EVENT.version,
        "userPoolId": user_pool_id,
        "sub": sub,
        "confirmedAt": iso_utc(confirmed_at),
        "origin": origin,
        "clientId": client_id,
        "triggerSource": trigger_source,
    }
    problems = USER_CONFIRMED_EVENT.problems(detail)
    if problems:
        raise InvalidUserConfirmedError(problems)
    return cast(UserConfirmedDetail, detail)  # checked field by field just above


def from_cognito_user(
    *,
    user_pool_id: Any,
    attributes: Mapping[str, Any],
    confirmed_at: datetime,
    origin: Origin,
    client_id: Any = None,
    trigger_source: Any = None,
) -> UserConfirmedDetail:
    """The detail for a Cognito user, from its attributes as Cognito names them (``sub``)."""
    return user_confirmed_detail(
        user_pool_id=user_pool_id,
        sub=attributes.get("sub"),
        confirmed_at=confirmed_at,
        origin=origin,
        client_id=client_id,
        trigger_source=trigger_source,
    )


def put_events_entry(detail: UserConfirmedDetail, bus_name: str) -> dict[str, str]:
    """The ``PutEvents`` entry that publishes ``detail`` on ``bus_name``."""
    return USER_CONFIRMED_EVENT.put_events_entry(detail, bus_name)


#: An EventBridge event carrying a checked ``UserConfirmed`` detail.
ConfirmedEvent = ReceivedEvent[UserConfirmedDetail]


def read_user_confirmed(body: str | bytes) -> ConfirmedEvent:
    """Read an EventBridge event carrying ``UserConfirmed`` (an SQS message body), or raise
    ``InvalidEventError`` naming each field and the rule it breaks."""
    return cast(ConfirmedEvent, USER_CONFIRMED_EVENT.read(body))  # the detail checked in full
