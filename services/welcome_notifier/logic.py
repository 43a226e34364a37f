"""An example ``UserConfirmed`` consumer: welcome a newly confirmed user by email.

Shipped to show ``infra.parts.subscription.UserConfirmedSubscription``: its own rule, queue,
DLQ and alarm, so it can fail without touching the projector. Delivery is at least once, so a
duplicate event can send a second welcome; a consumer whose effect must happen exactly once
records what it did under the event's idempotency key (pool + sub) before acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contracts.event_models import UserConfirmedEnvelope
from contracts.names import ORIGIN_COGNITO


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


class EmailSender(Protocol):
    def send(self, email: Email) -> str:
        """Send and return the provider's message id, or raise."""
        ...


def welcome_email(envelope: UserConfirmedEnvelope) -> Email | None:
    """The welcome to send, or ``None``: backfilled users (origin ``reconcile``) and replays
    were welcomed long ago, and an unverified address is not written to."""
    detail = envelope.detail
    if envelope.replay_name or detail.origin != ORIGIN_COGNITO or not detail.email_verified:
        return None
    return Email(
        to=detail.email,
        subject="Welcome aboard",
        body="Your account is confirmed. You can sign in now.",
    )
