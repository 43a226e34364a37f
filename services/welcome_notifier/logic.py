"""An example ``UserConfirmed`` consumer: welcome a newly confirmed user by email.

Shipped to show ``infra.parts.subscription.UserConfirmedSubscription``: its own rule, queue,
DLQ and alarm, so it can fail without touching the projector. Delivery is at least once, so a
duplicate event can send a second welcome; a consumer whose effect must happen exactly once
records what it did under the event's idempotency key (pool + sub) before acting.

``UserConfirmed`` carries no email (it is Cognito's fact): the address is read from Cognito by
sub when, and only when, a welcome is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contracts.names import ORIGIN_COGNITO
from contracts.user_confirmed import ConfirmedEvent


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class Contact:
    """What Cognito holds of a user that a welcome needs."""

    email: str | None
    email_verified: bool


class EmailSender(Protocol):
    def send(self, email: Email) -> str:
        """Send and return the provider's message id, or raise."""
        ...


class Contacts(Protocol):
    def contact(self, user_pool_id: str, sub: str) -> Contact | None:
        """The user's contact as Cognito holds it now; ``None``: Cognito has no such user."""
        ...


def is_welcome_due(event: ConfirmedEvent) -> bool:
    """A user who just arrived through Cognito: backfilled users (origin ``reconcile`` or
    ``sync``) and replays were welcomed long ago, or never will be."""
    return event.replay_name is None and event.detail["origin"] == ORIGIN_COGNITO


def welcome_email(contact: Contact | None) -> Email | None:
    """The welcome to send, or ``None``: a user deleted since (nothing to send to), without an
    email, or whose address is unverified (never written to)."""
    if contact is None or not contact.email or not contact.email_verified:
        return None
    return Email(
        to=contact.email,
        subject="Welcome aboard",
        body="Your account is confirmed. You can sign in now.",
    )


def welcome(event: ConfirmedEvent, contacts: Contacts, sender: EmailSender) -> str | None:
    """Send the welcome ``event`` calls for; the provider's message id, or ``None`` when there
    is none to send (Cognito is asked only when one is due)."""
    if not is_welcome_due(event):
        return None
    detail = event.detail
    email = welcome_email(contacts.contact(detail["userPoolId"], detail["sub"]))
    return None if email is None else sender.send(email)
