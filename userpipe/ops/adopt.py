"""``userpipe adopt --from-table NAME``: a running recipe app's ``User-<apiId>-<env>`` items taken
into userpipe — through the event log, so a rebuild writes them again exactly.

Each recipe item is decided on its own (``decide``), against the userpipe item of the same user
and Cognito's view of the user, read just before:

================  ==================================================  =========================
kind              when                                                what is published
================  ==================================================  =========================
adopted           a live recipe item, the user in the pool, no        ``UserAdopted`` at the
                  userpipe item                                       recipe's ``_version``
merged            … and a userpipe item (the pipeline, reconcile or   ``UserAdopted`` (rule
                  an earlier run made it) that does not hold it yet   below)
tombstoned        a ``_deleted`` recipe item (DataStore deleted it)   ``UserDeleted``, the key
                  not expired, and no newer live userpipe item        destroyed first
unchanged         the userpipe item already holds what adoption       nothing (a second run)
                  would write
notInPool         a live item whose sub the pool does not have        nothing: reported
deletedHere       the userpipe item is a tombstone: the user was      nothing: never brought
                  deleted since                                       back
newerHere         the recipe's deletion is older than the userpipe    nothing: reported
                  item
foreignPool       the userpipe item belongs to another pool (or to    nothing: reported
                  none)
expired           a ``_deleted`` recipe item past its ``_ttl``        nothing
invalid           the recipe item breaks a rule of the User item      nothing: reported, with
                                                                      the fields (never values)
================  ==================================================  =========================

**The merge rule** (a userpipe item P and the recipe's R, both live). A confirmation's bare
first item (version 1, no profile, never adopted: reconcile or user_sync confirmed the user
first) holds nothing of the user's own: R replaces it, at R's ``_version`` (the projector applies
an adoption over such an item, and a confirmation never corrects an adopted one, so the two give
one item in any order). Otherwise the higher ``_version`` wins the profile (``name``, ``age``),
whole — a field the winner cleared stays cleared; on a tie the recipe's does, and a field it
lacks is taken from userpipe's. ``createdAt`` is the recipe's, as first adopted (its trigger
rewrites it on a password reset). The email is always Cognito's (the projector reads it: no event
carries one). The result is written at R's ``_version`` when it is R's own state and R is ahead,
so DataStore clients that synced against the recipe see the ``_version`` they hold; otherwise one
above both. ``_version`` never goes down, so no client is ever ahead of the table and no
conflicts loop: a client behind it gets one ``ConflictUnhandled`` with the table's item and
DataStore's default handler retries on it. A recipe item whose email is not Cognito's (the recipe
never followed email changes) is adopted one version up, so clients take the new address. Every
adopted item carries ``_adoptedFrom`` (``<table>#<_version>``), which also tells the change
publisher an adoption from an API edit.

Idempotent: a second run finds every item ``unchanged``. Resumable: a run stopped midway leaves
only whole events behind (each lands or not); the next decides again and publishes what has not
landed. ``--dry-run`` decides and publishes nothing. The run waits until what it published is in
the table (``--wait``), so its summary says what the table holds, not what was sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from contracts.adoption import ADOPTED_STATE, adoption_mark, user_adopted_detail
from contracts.adoption import put_events_entry as adopted_entry
from contracts.event_fields import USER_DELETED_EVENT
from contracts.fields import Timestamp
from contracts.lifecycle import is_tombstone, tombstone_expiry, user_deleted_detail
from contracts.names import ADOPTED_ATTRIBUTE, USER_KEY, USER_TTL_ATTRIBUTE, iso_utc
from contracts.rules import is_sub
from contracts.user_fields import PROFILE_FIELDS, profile_problem
from userpipe.aws.adoption import PoolUser, Sides
from userpipe.aws.deployment import Deployment
from userpipe.errors import OperatorError
from userpipe.ops.progress import Progress

Kind = Literal[
    "adopted",
    "merged",
    "tombstoned",
    "unchanged",
    "notInPool",
    "deletedHere",
    "newerHere",
    "foreignPool",
    "expired",
    "invalid",
]
#: The kinds, in the summary's order; the first three publish.
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
PUBLISHING: Final = frozenset({"adopted", "merged", "tombstoned"})
#: Ids kept per kind for the report.
EXAMPLES: Final = 10
#: Cognito reads a second, by default: one per recipe item ``decide`` needs Cognito for
#: (``AdminGetUser``, in the UserRead category whose 120 a second the app's own ``GetUser``
#: calls and the projector's reads of the adopted users share: Cognito quotas, "Amazon Cognito
#: user pools per-category request rate quotas"). An item whose decision Cognito cannot change
#: (``decided_without_cognito``: a second run's) is not rated.
DEFAULT_RATE: Final = 25.0
PAGE_SIZE: Final = 100
#: How long a run waits for what it published to be in the table, by default.
DEFAULT_WAIT_SECONDS: Final = 300.0
#: How often the wait asks Cognito about the users not written yet (``_wait_for_the_table``).
GONE_CHECK_SECONDS: Final = 5.0
_TIME = Timestamp()


@dataclass(frozen=True)
class Decision:
    """What adopting one recipe item comes to. ``state``: the item's ``ADOPTED_STATE`` and
    profile (adopted, merged) or a tombstone's ``UserDeleted`` fields (tombstoned)."""

    kind: Kind
    user_id: str
    state: dict[str, Any] | None = None
    reason: str | None = None  # invalid: which fields break which rule (never their values)

    @property
    def version(self) -> int | None:
        return None if self.state is None else int(self.state["_version"])


def recipe_problems(item: Mapping[str, Any]) -> list[str]:
    """Why a recipe item cannot become a User item: each field and its rule, never the value.
    ``_version``/``_lastChangedAt`` may be absent (a recipe app without conflict detection)."""
    problems = []
    if not is_sub(item.get("id")):
        problems.append("id: must be the user's Cognito sub (a lowercase UUID)")
    typename = item.get("__typename")
    if typename is not None and typename != "User":
        problems.append("__typename: must be User")
    for name in ("createdAt", "updatedAt"):
        if name in item and not _TIME.holds(item[name]):
            problems.append(f"{name}: {_TIME.requirement}")
    if "createdAt" not in item:
        problems.append("createdAt: is required")
    for name, least in (("_version", 1), ("_lastChangedAt", 0)):
        value = item.get(name)
        if name in item and not (isinstance(value, int) and not isinstance(value, bool)):
            problems.append(f"{name}: must be a whole number")
        elif isinstance(value, int) and value < least:
            problems.append(f"{name}: must be at least {least}")
    if "_deleted" in item and not isinstance(item["_deleted"], bool):
        problems.append("_deleted: must be true or false")
    if not item.get("_deleted"):
        problems += [
            f"{name}: {problem}"
            for name in PROFILE_FIELDS
            if (problem := profile_problem(name, item.get(name)))
        ]
    return problems


def _epoch_ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def _history(item: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe item's ``ADOPTED_STATE``; what it lacks (no conflict detection) as the first
    version's: ``_version`` 1, ``updatedAt`` its ``createdAt``, ``_lastChangedAt`` its
    ``updatedAt``."""
    updated = item.get("updatedAt", item["createdAt"])
    return {
        "createdAt": item["createdAt"],
        "updatedAt": updated,
        "_version": item.get("_version", 1),
        "_lastChangedAt": item.get("_lastChangedAt", _epoch_ms(updated)),
    }


def _profile(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item.get(name) for name in PROFILE_FIELDS}


def decide(
    recipe: Mapping[str, Any],
    ours: Mapping[str, Any] | None,
    cognito: PoolUser | None,
    *,
    user_pool_id: str,
    now: datetime,
) -> Decision:
    """What adopting ``recipe`` comes to, given the userpipe item of the same id (``None``:
    none) and Cognito's user (``None``: not in the pool). Pure: the module's table and rule."""
    user_id = str(recipe.get("id"))
    problems = recipe_problems(recipe)
    if problems:
        return Decision("invalid", user_id, reason="; ".join(problems))
    if ours is not None and ours.get("userPoolId") != user_pool_id:
        return Decision("foreignPool", user_id)
    if recipe.get("_deleted") is True:
        return _deletion(recipe, ours, now)
    if cognito is None:
        return Decision("notInPool", user_id)
    if ours is not None and is_tombstone(ours):
        return Decision("deletedHere", user_id)
    theirs = {**_history(recipe), **_profile(recipe)}
    email_followed = recipe.get("email") == cognito.email
    changed_now = {"updatedAt": iso_utc(now), "_lastChangedAt": int(now.timestamp() * 1000)}
    if ours is None or _first_confirmed_version(ours):
        # Nothing of the user's own yet (a confirmation's first item is replaced: the projector
        # applies an adoption over it, at any version — ``ItemChange.over_first_version``).
        kind: Kind = "adopted" if ours is None else "merged"
        if email_followed:
            return Decision(kind, user_id, theirs)
        bumped = {**theirs, **changed_now, "_version": theirs["_version"] + 1}
        return Decision(kind, user_id, bumped)
    ours_version, their_version = int(ours["_version"]), theirs["_version"]
    if their_version > ours_version:
        profile = _profile(recipe)  # ahead: the recipe's state whole, a cleared field too
    elif their_version == ours_version:
        profile = {
            name: theirs[name] if theirs[name] is not None else ours.get(name)
            for name in PROFILE_FIELDS
        }
    else:
        profile = _profile(ours)
    # The recipe's createdAt, as first adopted: the recipe's trigger rewrites it on a password
    # reset (its known defect), and a later run must not take that one.
    created = ours["createdAt"] if ADOPTED_ATTRIBUTE in ours else theirs["createdAt"]
    merged = {**profile, "createdAt": created}
    if ours_version >= their_version and merged == {
        **_profile(ours),
        "createdAt": ours["createdAt"],
    }:
        return Decision("unchanged", user_id)
    if (
        their_version > ours_version
        and email_followed
        and merged == {**_profile(recipe), "createdAt": theirs["createdAt"]}
    ):
        return Decision("merged", user_id, theirs)
    version = max(their_version, ours_version) + 1
    state = {
        **merged,
        "updatedAt": changed_now["updatedAt"],
        "_version": version,
        "_lastChangedAt": changed_now["_lastChangedAt"],
    }
    return Decision("merged", user_id, state)


def decided_without_cognito(
    recipe: Mapping[str, Any],
    ours: Mapping[str, Any] | None,
    *,
    user_pool_id: str,
    now: datetime,
) -> Decision | None:
    """``decide``'s answer when Cognito's cannot make it publish; ``None``: ask Cognito.

    ``decide`` reads Cognito only for a valid live recipe item of a user with no item or an
    item of this pool; and when that item already holds the recipe's (``unchanged``) or is a
    tombstone (``deletedHere``), Cognito's answer can only turn it into ``notInPool`` — also
    nothing published; the user's deletion is user_sync's and reconcile's to carry into the
    item. So a second run costs a scan and item reads, not a Cognito read per user.
    """
    live_here = ours is None or ours.get("userPoolId") == user_pool_id
    if recipe_problems(recipe) or recipe.get("_deleted") is True or not live_here:
        return decide(recipe, ours, None, user_pool_id=user_pool_id, now=now)
    if ours is None:
        return None
    stand_in = PoolUser(str(recipe["id"]), "CONFIRMED", ours.get("email"), True, now)
    decision = decide(recipe, ours, stand_in, user_pool_id=user_pool_id, now=now)
    return decision if decision.kind in {"unchanged", "deletedHere"} else None


def _first_confirmed_version(item: Mapping[str, Any]) -> bool:
    """A confirmation's first item: version 1, never adopted, no profile (what the pipeline,
    reconcile or user_sync made of a user ``adopt`` had not reached yet)."""
    return (
        item.get("_version") == 1
        and ADOPTED_ATTRIBUTE not in item
        and all(item.get(name) is None for name in PROFILE_FIELDS)
    )


def _deletion(recipe: Mapping[str, Any], ours: Mapping[str, Any] | None, now: datetime) -> Decision:
    """A ``_deleted`` recipe item: a tombstone, unless expired, already one, or older than the
    live userpipe item. A deletion wins a tie. DataStore's tombstones are at version 2 or more
    (the delete is a change); one at 1 is written at 2."""
    user_id = str(recipe["id"])
    history = _history(recipe)
    ttl = recipe.get("_ttl")
    expires = ttl if isinstance(ttl, int) else tombstone_expiry(history["_lastChangedAt"] / 1000)
    if expires <= now.timestamp():
        return Decision("expired", user_id)
    if ours is not None and is_tombstone(ours):
        return Decision("unchanged", user_id)
    version = max(history["_version"], 2)
    created = history["createdAt"]
    if ours is not None:
        ours_version = int(ours["_version"])
        if ours_version > history["_version"]:
            return Decision("newerHere", user_id)
        if ADOPTED_ATTRIBUTE in ours:
            created = ours["createdAt"]
        version = max(version, ours_version + 1)
    if version != history["_version"]:
        history = {
            **history,
            "updatedAt": iso_utc(now),
            "_lastChangedAt": int(now.timestamp() * 1000),
        }
    return Decision(
        "tombstoned",
        user_id,
        {**history, "createdAt": created, "_version": version, "expiresAt": expires},
    )


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a run found and did: a count and a few ids per kind, never personal data."""

    source_table: str
    dry_run: bool
    read: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    reasons: dict[str, str] = field(default_factory=dict)  # invalid id → its problems
    published: int = 0
    failed: int = 0  # not published (PutEvents refused them after retries)
    landed: int = 0  # published, and in the table when the run ended
    gone: int = 0  # published, then deleted from Cognito before the projector wrote them
    pending: list[str] = field(default_factory=list)  # published, not in the table in time

    def add(self, decision: Decision) -> None:
        self.counts[decision.kind] += 1
        if len(self.examples[decision.kind]) < EXAMPLES:
            self.examples[decision.kind].append(decision.user_id)
            if decision.reason:
                self.reasons[decision.user_id] = decision.reason

    @property
    def complete(self) -> bool:
        """Everything adoptable is in the table, and nothing was refused."""
        return not (self.failed or self.pending or self.counts["invalid"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "sourceTable": self.source_table,
            "dryRun": self.dry_run,
            "read": self.read,
            "counts": self.counts,
            "examples": {kind: ids for kind, ids in self.examples.items() if ids},
            "invalid": self.reasons,
            "published": self.published,
            "failed": self.failed,
            "landed": self.landed,
            "gone": self.gone,
            "pending": self.pending[:EXAMPLES],
            "pendingCount": len(self.pending),
            "complete": self.complete,
        }


def run(
    deployment: Deployment,
    source_table: str,
    progress: Progress,
    *,
    dry_run: bool = False,
    rate: float = DEFAULT_RATE,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    sides: Sides | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Summary:
    if rate <= 0:
        raise OperatorError(f"--rate must be above 0 (got {rate})")
    sides = sides or Sides(deployment, source_table)
    total = sides.source_size()
    summary = Summary(source_table, dry_run)
    #: published user → the version the table must reach, and the adoption's mark (None: a
    #: tombstone)
    expected: dict[str, tuple[int, str | None]] = {}
    interval, last = 1.0 / rate, None
    with progress.bar(f"adopting {source_table}", total=total or None) as bar:
        for page in sides.source_pages(PAGE_SIZE):
            ours = sides.ours([str(item.get("id")) for item in page if is_sub(item.get("id"))])
            entries: list[dict[str, str]] = []
            published: list[Decision] = []
            for item in page:
                sub, pool = str(item.get("id")), sides.user_pool_id
                our_item = ours.get(sub)
                decision = decided_without_cognito(item, our_item, user_pool_id=pool, now=clock())
                if decision is None:
                    if last is not None:
                        sleep(max(0.0, last + interval - monotonic()))
                    last = monotonic()
                    if not dry_run and _may_adopt(item, our_item, sides):
                        # The key before Cognito is read: a deletion after the read finds the
                        # key there and user_sync destroys it; one before the read is seen by it.
                        sides.keys.get_or_create(sub)
                    cognito = sides.cognito_user(sub)
                    decision = decide(item, our_item, cognito, user_pool_id=pool, now=clock())
                summary.read += 1
                summary.add(decision)
                if decision.kind == "notInPool" and not dry_run:
                    # A key an interrupted run made for a user deleted meanwhile: destroyed, so
                    # the sealed event it published stays unreadable (``_wait_for_the_table``).
                    sides.shredder.destroy(decision.user_id)
                if decision.kind in PUBLISHING and not dry_run:
                    entry = _entry(decision, sides)
                    if entry is None:  # erased since its key was made: nothing to adopt
                        summary.gone += 1
                        continue
                    entries.append(entry)
                    published.append(decision)
            failed = set(sides.publish(entries)) if entries else set()
            summary.failed += len(failed)
            summary.published += len(entries) - len(failed)
            for index, decision in enumerate(published):
                if index not in failed and decision.version is not None:
                    mark = None
                    if decision.kind != "tombstoned":
                        mark = adoption_mark(sides.source_table, decision.version)
                    expected[decision.user_id] = (decision.version, mark)
            bar.update(summary.read, total=max(total, summary.read) or None)
    if expected:
        _wait_for_the_table(sides, expected, summary, progress, wait_seconds, sleep, monotonic)
    return summary


def _may_adopt(item: Mapping[str, Any], ours: Mapping[str, Any] | None, sides: Sides) -> bool:
    """Whether ``decide`` may seal a profile for this item: a live one, its user's userpipe item
    none or a live one of this pool."""
    if item.get("_deleted") is True:
        return False
    return ours is None or (ours.get("userPoolId") == sides.user_pool_id and not is_tombstone(ours))


def _entry(decision: Decision, sides: Sides) -> dict[str, str] | None:
    """The event for a publishing decision: ``UserAdopted`` with the profile sealed under the
    user's key (made now if the user has none), or ``UserDeleted`` after the key is destroyed."""
    state, sub, pool = decision.state or {}, decision.user_id, sides.user_pool_id
    if decision.kind == "tombstoned":
        sides.shredder.destroy(sub)  # before the event: the erasure never waits on the bus
        tombstone = {USER_KEY: sub, "userPoolId": pool, USER_TTL_ATTRIBUTE: state["expiresAt"]}
        detail = user_deleted_detail({**state, **tombstone})
        return USER_DELETED_EVENT.put_events_entry(detail, sides.bus_name)
    profile = {name: state.get(name) for name in PROFILE_FIELDS}
    sealed = sides.seal_profile(sub, profile, state["_version"])
    if sealed is None:
        return None
    detail = user_adopted_detail(
        pool, sub, {name: state[name] for name in ADOPTED_STATE}, sealed, sides.source_table
    )
    return adopted_entry(detail, sides.bus_name)


def _holds(item: Mapping[str, Any], expected: tuple[int, str | None]) -> bool:
    """Whether the item holds what was published: beyond its version, or at it with the
    adoption's mark (a tombstone: at it, deleted) — not merely at its version, which a
    confirmation racing the adoption also makes."""
    version, mark = expected
    held = int(item.get("_version", 0))
    if held != version:
        return held > version
    return is_tombstone(item) if mark is None else item.get(ADOPTED_ATTRIBUTE) == mark


def _wait_for_the_table(
    sides: Sides,
    expected: Mapping[str, tuple[int, str | None]],
    summary: Summary,
    progress: Progress,
    wait_seconds: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> None:
    """Until each published user's item is at its version or beyond (the projector applies
    the events as its queue delivers them), or ``wait_seconds`` pass. A user deleted from
    Cognito after the run read them is never written (the projector finds them gone): every
    ``GONE_CHECK_SECONDS`` the run asks Cognito about the users still absent, and destroys the
    key it made for each one gone, so their sealed event stays unreadable."""
    pending = dict(expected)
    gone = 0
    deadline = monotonic() + wait_seconds
    next_gone_check = monotonic() + GONE_CHECK_SECONDS
    with progress.bar("waiting for the projector", total=len(expected)) as bar:
        while pending:
            found = sides.ours(list(pending))
            for user_id, item in found.items():
                if _holds(item, pending[user_id]):
                    del pending[user_id]
                    if is_tombstone(item):  # deleted meanwhile, or adopted as a tombstone
                        sides.shredder.destroy(user_id)
            if monotonic() >= next_gone_check or monotonic() >= deadline:
                for user_id in [sub for sub in pending if sub not in found]:
                    if sides.cognito_user(user_id) is None:
                        sides.shredder.destroy(user_id)
                        del pending[user_id]
                        summary.gone += 1
                        gone += 1
                next_gone_check = monotonic() + GONE_CHECK_SECONDS
            bar.update(len(expected) - len(pending))
            if not pending or monotonic() >= deadline:
                break
            sleep(0.5)
    summary.landed = len(expected) - len(pending) - gone
    summary.pending = sorted(pending)


def describe(summary: Summary) -> list[str]:
    """The summary's lines: one per kind found, then what to do."""
    lines = [
        f"read {summary.read} item(s) of {summary.source_table}"
        + (" (dry run: nothing published)" if summary.dry_run else "")
    ]
    for kind in KINDS:
        count = summary.counts[kind]
        if not count:
            continue
        ids = summary.examples[kind]
        more = " …" if count > len(ids) else ""
        line = f"{kind}: {count}" + (f" — e.g. {', '.join(ids)}{more}" if ids else "")
        lines.append(line)
    for user_id, reason in summary.reasons.items():
        lines.append(f"  {user_id}: {reason}")
    if not summary.dry_run:
        lines.append(
            f"published {summary.published} event(s); {summary.landed} in the table"
            + (f"; {summary.failed} not published" if summary.failed else "")
            + (f"; {summary.gone} deleted from Cognito meanwhile" if summary.gone else "")
        )
    if summary.pending:
        lines.append(
            f"{len(summary.pending)} not in the table yet (e.g. {', '.join(summary.pending[:3])}):"
            " check `userpipe status` for dead letters, then run adopt again"
        )
    if summary.failed:
        lines.append("some events were not published: run adopt again (it finishes the rest)")
    if summary.counts["invalid"]:
        lines.append("invalid items were not adopted: fix them in the recipe's table, run again")
    if summary.counts["notInPool"]:
        lines.append(
            "items of users the pool does not have were not adopted (their users are gone)"
        )
    return lines


__all__ = ["KINDS", "Decision", "Summary", "decide", "describe", "recipe_problems", "run"]
