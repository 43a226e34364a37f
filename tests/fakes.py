"""In-memory stand-ins for the adapters, with the same contract as the DynamoDB ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contracts.items import AuditRecord, User
from contracts.names import UserConfirmedDetail


class FakeUserStore:
    def __init__(self, *, fail_with: Exception | None = None) -> None:
        self.users: dict[str, User] = {}
        self.fail_with = fail_with

    def create(self, user: User) -> bool:
        if self.fail_with:
            raise self.fail_with
        if user.id in self.users:
            return False
        self.users[user.id] = user
        return True


class FakeAuditStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], AuditRecord] = {}

    def append(self, record: AuditRecord) -> bool:
        key = (record.user_id, record.audit_id)
        if key in self.records:
            return False
        self.records[key] = record
        return True


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[UserConfirmedDetail] = []

    def publish(self, detail: UserConfirmedDetail) -> str:
        self.published.append(detail)
        return f"event-{len(self.published)}"


class FakeEventsClient:
    """Answers ``put_events`` with the scripted outcomes in turn: a response or an exception."""

    def __init__(self, *outcomes: dict[str, Any] | Exception) -> None:
        self._outcomes: Iterator[dict[str, Any] | Exception] = iter(outcomes)
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.entries.extend(Entries)
        outcome = next(self._outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def accepted(event_id: str = "evt-1") -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": event_id}]}


def rejected(code: str, message: str = "") -> dict[str, Any]:
    return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": message}]}


class FakeEmailSender:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, email: Any) -> str:
        self.sent.append(email)
        return f"ses-{len(self.sent)}"
