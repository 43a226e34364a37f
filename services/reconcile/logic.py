"""Reconcile: every confirmed Cognito user has a ``User`` item; publish ``UserConfirmed``
(origin ``reconcile``) for each one who does not — users who confirmed before the trigger
existed, or whose event was lost while the bus was unreachable. Safe to run any time: the
projector creates once, so a second run finds nothing missing. Orphans (items with no Cognito
user) are reported, never deleted. No AWS here: the directory, the projection and the bus are
passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from contracts.names import ORIGIN_RECONCILE, UserConfirmedDetail
from contracts.user_confirmed import InvalidUserConfirmedError, from_cognito_user

#: BatchGetItem reads at most 100 keys per call.
LOOKUP_BATCH = 100


@dataclass(frozen=True)
class CognitoUser:
    """A confirmed user as ``ListUsers`` returns it."""

    username: str
    attributes: Mapping[str, str]
    created: datetime  # UserCreateDate: Cognito keeps no confirmation time

    @property
    def sub(self) -> str:
        return self.attributes.get("sub", "")


class Directory(Protocol):
    def confirmed_users(self) -> Iterator[Sequence[CognitoUser]]:
        """Every confirmed user, a page at a time."""
        ...


class Projection(Protocol):
    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` (at most ``LOOKUP_BATCH``) have an item."""
        ...


class UserConfirmedBatchPublisher(Protocol):
    def publish(self, details: Sequence[UserConfirmedDetail]) -> list[UserConfirmedDetail]:
        """Publish; returns the details that still failed after its retries."""
        ...


@dataclass
class Summary:
    scanned: int = 0  # confirmed users read from Cognito
    missing: int = 0  # of those, without an item
    published: int = 0
    failed: int = 0  # missing users whose event could not be published
    unpublishable: int = 0  # missing users who cannot make a valid event (no email, say)
    orphans: list[str] | None = None  # item ids with no Cognito user (when asked for)
    missing_ids: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.unpublishable == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "scanned": self.scanned,
            "missing": self.missing,
            "published": self.published,
            "failed": self.failed,
            "unpublishable": self.unpublishable,
            "orphans": None if self.orphans is None else len(self.orphans),
        }


def reconcile(
    user_pool_id: str,
    directory: Directory,
    projection: Projection,
    publisher: UserConfirmedBatchPublisher,
    *,
    dry_run: bool = False,
    item_ids: Iterable[str] | None = None,
    on_progress: Callable[[Summary], None] = lambda summary: None,
) -> Summary:
    """Find the confirmed users without an item and (unless ``dry_run``) publish their
    ``UserConfirmed``. With ``item_ids`` (every id in the table), also report orphans."""
    summary = Summary()
    seen: set[str] = set()
    for page in directory.confirmed_users():
        for batch in _chunks(page, LOOKUP_BATCH):
            summary.scanned += len(batch)
            seen.update(user.sub for user in batch)
            found = projection.existing([user.sub for user in batch if user.sub])
            missing = [user for user in batch if user.sub not in found]
            summary.missing += len(missing)
            summary.missing_ids += [user.sub for user in missing]
            details = []
            for user in missing:
                try:
                    details.append(_detail(user_pool_id, user))
                except InvalidUserConfirmedError:
                    summary.unpublishable += 1
            if details and not dry_run:
                failed = publisher.publish(details)
                summary.failed += len(failed)
                summary.published += len(details) - len(failed)
            on_progress(summary)
    if item_ids is not None:
        summary.orphans = sorted(set(item_ids) - seen)
    return summary


def _detail(user_pool_id: str, user: CognitoUser) -> UserConfirmedDetail:
    return from_cognito_user(
        user_pool_id=user_pool_id,
        username=user.username,
        attributes=user.attributes,
        confirmed_at=user.created,
        origin=ORIGIN_RECONCILE,
    )


def _chunks(items: Sequence[CognitoUser], size: int) -> Iterator[Sequence[CognitoUser]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
