"""Reconcile: the User table against Cognito, the source of truth for who exists and their email.
No AWS here: the directory, the projection, the bus and the repairs are passed in.

Four kinds of drift (``KINDS``), each counted, with the ids (never emails) of a few examples:

=============  ==========================================  =====================================
kind           found when                                  repaired (``apply``)
=============  ==========================================  =====================================
missing        a CONFIRMED or EXTERNAL_PROVIDER user has   ``UserConfirmed`` (origin reconcile)
               no item                                     published — unless ``dry_run``
email          a live item of this pool holds another      ``change_email`` (conditional write)
               email than Cognito's
deleted        a live item of this pool whose sub Cognito  ``tombstone`` + the user's data key
               no longer has                               destroyed
foreignPool    an item of another pool                     never: reported only
=============  ==========================================  =====================================

``missing`` is published whenever the run is not a dry run (as reconcile always did: the
projector creates once, so it is safe any time); ``email`` and ``deleted`` change items and are
repaired only with ``apply``. Users who arrive without a trigger — migrated users, whose only
trigger is ``TokenGeneration_Authentication`` on every sign-in — are ``missing`` until a run.

Memory (``deleted``/``foreignPool`` need every item compared with every Cognito sub): one pass
over Cognito keeps each sub as 8 bytes (``KnownSubs``); then one scan of the table, a page at a
time, compares each item with them. Nothing else grows with the pool: ``missing`` and ``email``
are decided a ``ListUsers`` page at a time, each kind keeps at most ``EXAMPLES`` ids, and the
deleted users' ids wait (at most ``DELETIONS_HELD``) until the table is read whole, so that a
run never tombstones more than ``MAX_DELETED_SHARE`` of the pool unasked. So 1 million users
take 8 MB (about 48 MB for a moment while the subs are sorted). The function's time limit binds
first: ``ListUsers`` gives 60 users a call at 5 calls a second by default, about 270,000 users in
Lambda's 15 minutes.

The scheduled function repairs (``apply``); ``userpipe reconcile`` only with ``--apply``.

An item confirmed while Cognito was being listed may not be in the listing: items created
after the run began (less ``CLOCK_SKEW``) are not judged ``deleted``.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol
from uuid import UUID

from contracts.names import ORIGIN_RECONCILE, UserConfirmedDetail
from contracts.user_confirmed import InvalidUserConfirmedError, from_cognito_user

#: BatchGetItem reads at most 100 keys per call.
LOOKUP_BATCH: Final = 100
#: Ids kept per kind for the report: enough to look at, never the whole pool.
EXAMPLES: Final = 10
#: How far the clocks of Cognito's trigger, the projector and this run may disagree.
CLOCK_SKEW: Final = timedelta(minutes=5)
#: A run tombstones at most this share of the pool's live items (and up to
#: ``DELETIONS_ALWAYS_ALLOWED`` whatever the share). More "deleted" users than that points to a
#: listing gone wrong (the wrong pool, an outage answering empty pages) far more often than to
#: that many users deleted since the last run: the run then tombstones none, and says so; an
#: operator who has checked passes ``allow_many_deletions``.
MAX_DELETED_SHARE: Final = 0.05
DELETIONS_ALWAYS_ALLOWED: Final = 10
#: The deleted users' ids a run holds until the table is read whole (about 100 bytes each):
#: beyond them, the rest wait for the next run (counted as failed).
DELETIONS_HELD: Final = 100_000

Kind = Literal["missing", "email", "deleted", "foreignPool"]
KINDS: Final[tuple[Kind, ...]] = ("missing", "email", "deleted", "foreignPool")
#: The Cognito user statuses of users who arrived (and so have an item): confirmed sign-ups,
#: admin-created users after their first sign-in, migrated users, federated users.
ARRIVED: Final = frozenset({"CONFIRMED", "EXTERNAL_PROVIDER"})


@dataclass(frozen=True)
class CognitoUser:
    """A user as ``ListUsers`` returns it."""

    username: str
    attributes: Mapping[str, str]
    created: datetime  # UserCreateDate: Cognito keeps no confirmation time
    status: str = "CONFIRMED"

    @property
    def sub(self) -> str:
        return self.attributes.get("sub", "")

    @property
    def email(self) -> str | None:
        return self.attributes.get("email") or None

    @property
    def arrived(self) -> bool:
        return self.status in ARRIVED


@dataclass(frozen=True)
class ItemState:
    """What reconcile reads of a ``User`` item (the email only while comparing it)."""

    id: str
    user_pool_id: str | None
    deleted: bool = False
    email: str | None = None
    created_at: str | None = None


class Directory(Protocol):
    def users(self) -> Iterator[Sequence[CognitoUser]]:
        """Every user of the pool, whatever their status, a page at a time."""
        ...


class Projection(Protocol):
    def items(self, ids: Sequence[str]) -> dict[str, ItemState]:
        """The items of ``ids`` (at most ``LOOKUP_BATCH``) that exist, by id."""
        ...

    def scan(self) -> Iterator[ItemState]:
        """Every item of the table (without its email), a page at a time."""
        ...


class UserConfirmedBatchPublisher(Protocol):
    def publish(self, details: Sequence[UserConfirmedDetail]) -> list[UserConfirmedDetail]:
        """Publish; returns the details that still failed after its retries."""
        ...


class RepairFailedError(RuntimeError):
    """A repair could not be made now (a replay's write in flight, a throttled call): counted as
    failed; the next run tries again. Names the user's id, never a value."""

    def __init__(self, user_id: str, reason: str) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id}: {reason}")


class Repairs(Protocol):
    """The two writes (``services.shared.lifecycle``); each returns whether it changed
    anything, or raises ``RepairFailedError`` (retried by the next run)."""

    def change_email(self, user_id: str, email: str) -> bool: ...

    def tombstone(self, user_id: str) -> bool:
        """Tombstone the item and destroy the user's data key."""
        ...


class KnownSubs:
    """A set of subs at 8 bytes each: the first 64 bits of each UUID, in a sorted array. Two
    subs that share them (about 1 in 3·10^5 for a million users against a million items) make
    an item look present: a ``deleted`` missed until a later run, never one reported falsely."""

    def __init__(self, subs: Iterable[str] = ()) -> None:
        self._values = array("Q")
        self._sorted = True
        for sub in subs:
            self.add(sub)

    @staticmethod
    def _key(sub: str) -> int | None:
        try:
            return UUID(sub).int >> 64
        except (ValueError, TypeError, AttributeError):
            return None

    def add(self, sub: str) -> None:
        key = self._key(sub)
        if key is not None:
            self._values.append(key)
            self._sorted = False

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, sub: object) -> bool:
        key = self._key(sub) if isinstance(sub, str) else None
        if key is None:
            return False
        if not self._sorted:
            self._values = array("Q", sorted(self._values))
            self._sorted = True
        at = bisect_left(self._values, key)
        return at < len(self._values) and self._values[at] == key


@dataclass
class Drift:
    """One kind of drift: how many, a few ids, and what became of them."""

    found: int = 0
    repaired: int = 0  # published (missing) or written (email, deleted)
    failed: int = 0  # could not be published or written: the next run tries again
    examples: list[str] = field(default_factory=list)

    def add(self, user_id: str) -> None:
        self.found += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(user_id)


@dataclass
class Summary:
    scanned: int = 0  # Cognito users read (every status)
    items: int = 0  # User items read
    unpublishable: int = 0  # missing users who cannot make a valid event
    drift: dict[Kind, Drift] = field(default_factory=lambda: {kind: Drift() for kind in KINDS})
    dry_run: bool = False
    applied: bool = False
    #: Why no deleted user was tombstoned although ``apply`` was asked (too many at once).
    deletions_refused: str | None = None

    @property
    def failed(self) -> int:
        return sum(drift.failed for drift in self.drift.values())

    @property
    def complete(self) -> bool:
        """Everything it set out to repair was repaired (or, dry, would be repairable)."""
        return self.failed == 0 and self.unpublishable == 0 and self.deletions_refused is None

    def counts(self) -> dict[str, int]:
        """Drift found, by kind."""
        return {kind: drift.found for kind, drift in self.drift.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "items": self.items,
            "drift": self.counts(),
            "repaired": {kind: drift.repaired for kind, drift in self.drift.items()},
            "failed": {kind: drift.failed for kind, drift in self.drift.items()},
            "unpublishable": self.unpublishable,
            "dryRun": self.dry_run,
            "applied": self.applied,
            "deletionsRefused": self.deletions_refused,
        }

    def examples(self) -> dict[str, list[str]]:
        return {kind: list(drift.examples) for kind, drift in self.drift.items()}


def reconcile(
    user_pool_id: str,
    directory: Directory,
    projection: Projection,
    publisher: UserConfirmedBatchPublisher,
    *,
    dry_run: bool = False,
    repairs: Repairs | None = None,
    allow_many_deletions: bool = False,
    now: datetime | None = None,
    on_progress: Callable[[Summary], None] = lambda summary: None,
) -> Summary:
    """Find every kind of drift; publish ``UserConfirmed`` for the missing (unless
    ``dry_run``); with ``repairs`` (``apply``), change the drifted emails and tombstone the
    deleted users — unless they are too many (``MAX_DELETED_SHARE``) and not
    ``allow_many_deletions``: the tombstones wait until the table has been read whole."""
    if dry_run and repairs is not None:
        raise ValueError("a dry run repairs nothing: pass no repairs")
    started = now or datetime.now(UTC)
    summary = Summary(dry_run=dry_run, applied=repairs is not None)
    known = KnownSubs()
    for page in directory.users():
        for batch in _chunks(page, LOOKUP_BATCH):
            summary.scanned += len(batch)
            for user in batch:
                known.add(user.sub)
            items = projection.items([user.sub for user in batch if user.sub])
            _missing(user_pool_id, batch, items, summary, publisher, dry_run=dry_run)
            _emails(user_pool_id, batch, items, summary, repairs)
            on_progress(summary)
    deleted = summary.drift["deleted"]
    candidates: list[str] = []  # held until the share is known
    live = 0
    for item in projection.scan():
        summary.items += 1
        if item.user_pool_id != user_pool_id:
            summary.drift["foreignPool"].add(item.id)
        elif not item.deleted:
            live += 1
            if item.id not in known and not _too_new(item, started):
                deleted.add(item.id)
                if repairs is not None and len(candidates) < DELETIONS_HELD:
                    candidates.append(item.id)
        if summary.items % 1000 == 0:
            on_progress(summary)
    if repairs is not None and deleted.found:
        allowed = _deletions_allowed(live)
        if deleted.found > allowed and not allow_many_deletions:
            summary.deletions_refused = (
                f"{deleted.found} of {live} live items have no Cognito user, above the "
                f"{allowed} a run tombstones unasked: check the pool, then allow many deletions"
            )
        else:
            for user_id in candidates:
                _repair(deleted, repairs.tombstone, user_id)
            deleted.failed += deleted.found - len(candidates)
    on_progress(summary)
    return summary


def _deletions_allowed(live_items: int) -> int:
    return max(DELETIONS_ALWAYS_ALLOWED, int(live_items * MAX_DELETED_SHARE))


def _missing(
    user_pool_id: str,
    batch: Sequence[CognitoUser],
    items: Mapping[str, ItemState],
    summary: Summary,
    publisher: UserConfirmedBatchPublisher,
    *,
    dry_run: bool,
) -> None:
    drift = summary.drift["missing"]
    details = []
    for user in batch:
        if not user.arrived or user.sub in items:
            continue
        drift.add(user.sub or user.username)
        try:
            details.append(_detail(user_pool_id, user))
        except InvalidUserConfirmedError:
            summary.unpublishable += 1
    if details and not dry_run:
        failed = publisher.publish(details)
        drift.failed += len(failed)
        drift.repaired += len(details) - len(failed)


def _emails(
    user_pool_id: str,
    batch: Sequence[CognitoUser],
    items: Mapping[str, ItemState],
    summary: Summary,
    repairs: Repairs | None,
) -> None:
    drift = summary.drift["email"]
    for user in batch:
        item, email = items.get(user.sub), user.email
        if item is None or item.deleted or item.user_pool_id != user_pool_id or email is None:
            continue
        if item.email != email:
            drift.add(item.id)
            if repairs is not None:
                _repair(drift, repairs.change_email, item.id, email)


def _repair(drift: Drift, write: Callable[..., bool], *arguments: str) -> None:
    try:
        changed = write(*arguments)
    except RepairFailedError:
        drift.failed += 1
        return
    if changed:
        drift.repaired += 1


def _too_new(item: ItemState, started: datetime) -> bool:
    """Created after the listing began (less the clocks' skew): maybe not listed yet."""
    try:
        created = datetime.fromisoformat(str(item.created_at))
    except ValueError:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created >= started - CLOCK_SKEW


def _detail(user_pool_id: str, user: CognitoUser) -> UserConfirmedDetail:
    return from_cognito_user(
        user_pool_id=user_pool_id,
        attributes=user.attributes,
        confirmed_at=user.created,
        origin=ORIGIN_RECONCILE,
    )


def _chunks(items: Sequence[CognitoUser], size: int) -> Iterator[Sequence[CognitoUser]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the last run's counts, for ``userpipe status`` ------------------------------------------

#: Where each run's drift counts go: a CloudWatch metric per kind (and ``failed``), dimension
#: the pool. The function writes them in the embedded metric format (a log line: no permission,
#: no call); ``userpipe reconcile`` with ``PutMetricData``; ``userpipe status`` reads the newest.
#: High resolution (kept to the second for 3 hours): two runs a moment apart stay two.
DRIFT_NAMESPACE: Final = "userpipe/reconcile"
DRIFT_DIMENSION: Final = "UserPoolId"
DRIFT_METRICS: Final[tuple[str, ...]] = (*KINDS, "failed")


def drift_values(summary: Summary) -> dict[str, int]:
    """The run's value of each of ``DRIFT_METRICS``."""
    return {**summary.counts(), "failed": summary.failed + summary.unpublishable}


def drift_metrics_emf(user_pool_id: str, summary: Summary, at: datetime) -> dict[str, Any]:
    """The run's counts as one CloudWatch embedded-metric-format log record."""
    return {
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": DRIFT_NAMESPACE,
                    "Dimensions": [[DRIFT_DIMENSION]],
                    "Metrics": [
                        {"Name": name, "Unit": "Count", "StorageResolution": 1}
                        for name in DRIFT_METRICS
                    ],
                }
            ],
        },
        DRIFT_DIMENSION: user_pool_id,
        **drift_values(summary),
    }
