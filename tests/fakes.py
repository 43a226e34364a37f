"""In-memory stand-ins for the adapters, with the same contract as the DynamoDB ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contracts import dynamodb
from contracts.audit_item import AuditEntry
from contracts.names import ADOPTED_ATTRIBUTE, REPLAY_MARK, USER_KEY, UserConfirmedDetail
from contracts.user_model import User
from services.user_projector.logic import ProfileChange


class FakeUserStore:
    """The projector's store over a dict of items, with ``DynamoUserStore``'s conditions (the
    moto tests in ``tests/unit/test_user_projector_store.py`` hold both to one contract).

    ``writes`` is every write that happened, as the item it left (what the table's stream
    would carry as the new image); ``fail_with`` fails every call; ``fail_mark_removals`` fails
    that many ``remove_mark`` calls, before they write."""

    def __init__(self, *, fail_with: Exception | None = None, fail_mark_removals: int = 0) -> None:
        self.items: dict[str, dynamodb.Item] = {}
        self.writes: list[dynamodb.Item] = []
        self.fail_with = fail_with
        self.fail_mark_removals = fail_mark_removals

    @property
    def users(self) -> dict[str, User]:
        """The items as the ``User`` model: a test reads them as AppSync would."""
        return {user_id: User.from_item(item) for user_id, item in self.items.items()}

    def _write(self, item: dynamodb.Item) -> None:
        self.items[item[USER_KEY]["S"]] = item
        self.writes.append(item)

    def create(self, item: dynamodb.Item) -> dynamodb.Item | None:
        if self.fail_with:
            raise self.fail_with
        User.from_item(item)  # the projector writes only items AppSync can serve
        existing = self.items.get(item[USER_KEY]["S"])
        if existing is not None:
            return dict(existing)
        self._write(dict(item))
        return None

    def change(self, change: ProfileChange) -> dynamodb.Item | None:
        if self.fail_with:
            raise self.fail_with
        old = self.items.get(change.user_id)
        over_first = (
            getattr(change, "over_first_version", False)
            and old is not None
            and int(old["_version"]["N"]) == 1
            and ADOPTED_ATTRIBUTE not in old
        )
        if (
            old is None
            or old.get("userPoolId") != {"S": change.user_pool_id}
            or (int(old["_version"]["N"]) >= change.version and not over_first)
        ):
            return dict(old or {})
        removed = {*change.cleared, *(() if REPLAY_MARK in change.values else (REPLAY_MARK,))}
        new = {name: value for name, value in old.items() if name not in removed}
        self._write(new | change.values)
        User.from_item(self.items[change.user_id])
        return None

    def correct(self, user_id: str, expected: dynamodb.Item, values: dynamodb.Item) -> bool:
        if self.fail_with:
            raise self.fail_with
        old = self.items.get(user_id, {})
        if any(old.get(name) != value for name, value in expected.items()):
            return False
        kept = old if REPLAY_MARK in values else {k: v for k, v in old.items() if k != REPLAY_MARK}
        self._write(kept | values)
        User.from_item(self.items[user_id])
        return True

    def remove_mark(self, user_id: str, replay_name: str) -> bool:
        if self.fail_with:
            raise self.fail_with
        if self.fail_mark_removals:
            self.fail_mark_removals -= 1
            raise ConnectionError("the mark removal timed out")
        old = self.items.get(user_id, {})
        if old.get(REPLAY_MARK) != {"S": replay_name}:
            return False
        self._write({name: value for name, value in old.items() if name != REPLAY_MARK})
        return True


class FakeAuditStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], AuditEntry] = {}

    def append(self, record: AuditEntry) -> bool:
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


class FakeUserApiStore:
    """The API's store over plain dicts, paging like DynamoDB (a position after the last key)."""

    def __init__(self, users: list[Any] = (), audit: list[Any] = ()) -> None:  # type: ignore[assignment]
        self.users = {user.id: user for user in users}
        self.audit = list(audit)
        self.listed: list[dict[str, Any]] = []  # what each list_users asked for

    def get(self, user_id: str) -> Any:
        user = self.users.get(user_id)
        return None if user is None else served(user)

    def list_users(
        self,
        limit: int,
        start: dict[str, Any] | None,
        *,
        where: Any = None,
        only: Any = None,
        changed_after: int | None = None,
    ) -> Any:
        """Filters are DynamoDB expressions: tested against moto, not evaluated here. The
        changes window is: a user changed at or before ``changed_after`` is not listed."""
        from services.user_api.logic import Page

        self.listed.append({"only": only, "changed_after": changed_after})
        if where is not None:
            raise NotImplementedError("the fake store cannot evaluate a DynamoDB filter")
        ids = sorted(
            i
            for i, user in self.users.items()
            if (only is None or i == only)
            and (changed_after is None or user.last_changed_at > changed_after)
        )
        if start:
            ids = [i for i in ids if i > start["id"]["S"]]
        page = ids[:limit]
        more = len(ids) > limit
        return Page(
            [served(self.users[i]) for i in page], {"id": {"S": page[-1]}} if more else None
        )

    def audit_trail(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Any:
        from services.user_api.logic import Page

        records = sorted(
            (r for r in self.audit if r.user_id == user_id), key=lambda r: r.audit_id, reverse=True
        )
        if start:
            records = [r for r in records if r.audit_id < start["auditId"]["S"]]
        page = records[:limit]
        position = (
            {"userId": {"S": user_id}, "auditId": {"S": page[-1].audit_id}}
            if len(records) > limit
            else None
        )
        return Page(page, position)

    def update_profile(
        self,
        user_id: str,
        changes: Any,
        *,
        expected_version: int | None,
        condition: Any,
        now: Any,
    ) -> Any:
        """Conditions are DynamoDB expressions: tested against moto, not evaluated here."""
        from contracts.names import iso_utc
        from services.user_api.logic import UserMissing, VersionConflict

        if condition is not None:
            raise NotImplementedError("the fake store cannot evaluate a DynamoDB condition")
        user = self.users.get(user_id)
        if user is None:
            raise UserMissing(user_id)
        if expected_version is not None and user.version != expected_version:
            raise VersionConflict(served(user))
        stamp = {"updated_at": iso_utc(now), "last_changed_at": int(now.timestamp() * 1000)}
        updated = user.model_copy(update={**changes, **stamp, "version": user.version + 1})
        self.users[user_id] = updated
        return served(updated)


def served(user: Any) -> dict[str, Any]:
    """A ``User`` model as the API's store answers it (``contracts.user_view.served_user``)."""
    served_user: dict[str, Any] = user.model_dump(by_alias=True)
    return served_user
