"""Cognito's PostConfirmation and pre token generation triggers: publish ``UserConfirmed`` when
a user arrives, return the event unchanged (the documented response of both: "returns the same
event object back to Amazon Cognito with any changes in the response"). Which sources publish,
and why every other one returns at once: ``services.confirm_trigger.logic``.

Cold path: boto3, Powertools Logger and plain-Python contracts only (no pydantic, no parser).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.rules import is_user_pool_id
from services.confirm_trigger.logic import (
    UnpublishableConfirmationError,
    handle_trigger,
    is_token_generation,
    publishes_on,
)
from services.confirm_trigger.publisher import (
    EventBridgePublisher,
    PutEventsFailedError,
    events_client,
)

logger = Logger(service="confirm_trigger")


@dataclass(frozen=True)
class Settings:
    event_bus_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(event_bus_name=settings.require("EVENT_BUS_NAME"))


@cache
def default_publisher() -> EventBridgePublisher:
    """Built on first use, once per cold start; tests pass their own publisher instead."""
    return EventBridgePublisher(events_client(), Settings.from_env().event_bus_name)


_TRIGGER_SOURCE = re.compile(r"[A-Za-z_]{1,64}")


def _log_ids(event: dict[str, Any]) -> dict[str, Any]:
    """What identifies the call in logs: only values of an id's shape, never raw event text.

    Cognito always sends an object; an event of another shape (a list, say) fails loudly here,
    before anything is published."""
    pool, source = event.get("userPoolId"), event.get("triggerSource")
    return {
        "user_pool_id": pool if is_user_pool_id(pool) else "?",
        "trigger_source": source
        if isinstance(source, str) and _TRIGGER_SOURCE.fullmatch(source)
        else "?",
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every token Cognito issues passes through here: a source that publishes nothing (a
    sign-in, a refresh, the hosted UI, one this code does not know) is returned unchanged before
    any setting, client, clock or log context is touched."""
    if isinstance(event, dict) and not publishes_on(event):
        logger.debug("returned unchanged: this trigger source publishes nothing")
        return event
    return _publish(event, context)


@logger.inject_lambda_context(clear_state=True)
def _publish(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ids = _log_ids(event)
    try:
        event_id = handle_trigger(event, default_publisher())
    except (
        UnpublishableConfirmationError,
        PutEventsFailedError,
        settings.MissingSettingError,
    ) as exc:
        logger.error("UserConfirmed not published", extra={**ids, "reason": str(exc)})
        if is_token_generation(event):
            # A sign-in is never failed for it: the user is confirmed and signs in; reconcile
            # (daily) publishes the missing UserConfirmed.
            return event
        # PostConfirmation: raised, never swallowed: Cognito reports the failure and reconcile
        # repairs it later.
        raise
    if event_id is not None:
        sub = event["request"]["userAttributes"]["sub"]
        logger.info("UserConfirmed published", extra={**ids, "sub": sub, "event_id": event_id})
    return event
