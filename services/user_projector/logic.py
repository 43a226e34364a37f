"""Projecting ``UserConfirmed`` into the ``User`` table: create once, never overwrite."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from contracts.events import UserConfirmedEnvelope
from contracts.items import User


class UserStore(Protocol):
    def create(self, user: User) -> bool:
        """Write ``user`` unless an item with its id exists. Returns whether it was written."""
        ...


class RejectedRecordError(ValueError):
    """A message that can never be projected. Its reason never quotes the payload."""


@dataclass(frozen=True)
class Projection:
    user_id: str
    created: bool  # False: the user was already projected (duplicate, retry or replay)
    replay_name: str | None


def parse_message(body: str) -> UserConfirmedEnvelope:
    try:
        return UserConfirmedEnvelope.model_validate_json(body)
    except ValidationError as exc:
        raise RejectedRecordError(_describe(exc)) from None
    except json.JSONDecodeError as exc:  # pragma: no cover - pydantic reports bad JSON itself
        raise RejectedRecordError(f"not JSON: {exc.msg}") from None


def project(envelope: UserConfirmedEnvelope, store: UserStore, *, now_ms: int) -> Projection:
    """One conditional write. A duplicate or replay finds the item and changes nothing: the
    version, profile fields and timestamps the API may have moved on stay as they are."""
    user = User.first_version(envelope.detail, now_ms=now_ms)
    return Projection(user.id, store.create(user), envelope.replay_name)


def _describe(error: ValidationError) -> str:
    """Where and why validation failed, without the offending values (they may be PII)."""
    problems = (
        f"{'.'.join(str(part) for part in problem['loc']) or 'message'}: {problem['msg']}"
        for problem in error.errors(include_input=False, include_url=False)
    )
    return "; ".join(problems)
