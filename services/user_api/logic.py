"""What the API does, field by field, for a known caller — no AWS, no AppSync."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from contracts.names import USER_KEY
from contracts.user_fields import (
    CONDITION_FIELDS,
    FILTER_FIELDS,
    PROFILE_FIELDS,
    UPDATE_INPUT,
    listed,
    profile_problem,
)
from services.user_api.auth import Caller
from services.user_api.errors import (
    BadRequest,
    ConditionalCheckFailed,
    ConflictUnhandled,
    NotFound,
    Unauthorized,
)
from services.user_api.expressions import Expression, filter_expression
from services.user_api.page_tokens import PageTokens
from services.user_api.subscription_filters import enhanced_filter

if TYPE_CHECKING:
    # Only in signatures here: the store imports it when it reads an audit trail.
    from contracts.audit_model import AuditRecord

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
#: listUsers and syncUsers page as Amplify's generated resolvers do: 100 unless asked, and up
#: to the 1,000 DataStore asks for per sync page.
MODEL_DEFAULT_LIMIT = 100
MODEL_MAX_LIMIT = 1000
#: A partition key value is 1 to 2,048 bytes of UTF-8 (DynamoDB developer guide, "Constraints
#: in Amazon DynamoDB", partition key length). DynamoDB refuses any other with a
#: ValidationException; no user can have such an id, so asking for one is the caller's mistake.
KEY_MAX_BYTES = 2048


#: A user as AppSync serves it: every field of ``contracts.user_fields`` under its name
#: (``contracts.user_view.served_user``).
ServedUser = dict[str, Any]


class VersionConflict(Exception):  # noqa: N818 - raised by stores, mapped to ConflictUnhandled
    def __init__(self, current: ServedUser) -> None:
        super().__init__(current["_version"])
        self.current = current


class UserMissing(Exception):  # noqa: N818 - raised by stores, mapped to NotFound
    pass


class UserErased(UserMissing):
    """The item is a deleted user's tombstone: there is no profile left to edit."""


@dataclass(frozen=True)
class Subscribed:
    """A subscription the caller may open; ``filter`` (Amplify's filter input shape) narrows it
    further (``None``: the subscription's arguments are its only filter)."""

    filter: dict[str, Any] | None


class ConditionNotMet(Exception):  # noqa: N818 - raised by stores, mapped to ConditionalCheckFailed
    pass


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    position: dict[str, Any] | None  # where the next page starts; None: this was the last


class UserApiStore(Protocol):
    def get(self, user_id: str) -> ServedUser | None: ...

    def list_users(
        self,
        limit: int,
        start: dict[str, Any] | None,
        *,
        where: Expression | None = None,
        only: str | None = None,
        changed_after: int | None = None,
    ) -> Page[ServedUser]:
        """A page of the table (``Limit`` items read, then ``where`` applied by DynamoDB), of
        the one item ``only`` names, and/or of the items whose ``_lastChangedAt`` is after
        ``changed_after`` (read from the changes index, not by scanning)."""
        ...

    def audit_trail(
        self, user_id: str, limit: int, start: dict[str, Any] | None
    ) -> Page[AuditRecord]: ...

    def update_profile(
        self,
        user_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None,
        condition: Expression | None,
        now: datetime,
    ) -> ServedUser:
        """Raises ``UserMissing``, ``VersionConflict`` (``expected_version`` given and stale)
        or ``ConditionNotMet``."""
        ...


@dataclass(frozen=True)
class Connection:
    items: list[dict[str, Any]]
    next_token: str | None
    started_at: int | None = None  # syncUsers only: when the sync began (epoch ms)

    def as_graphql(self) -> dict[str, Any]:
        graphql = {"items": self.items, "nextToken": self.next_token}
        return graphql | ({"startedAt": self.started_at} if self.started_at is not None else {})


class UserApi:
    def __init__(self, store: UserApiStore, tokens: PageTokens, admin_group: str) -> None:
        self._store = store
        self._tokens = tokens
        self._admin_group = admin_group

    def me(self, caller: Caller) -> dict[str, Any] | None:
        if caller.sub is None:
            raise Unauthorized("me needs a signed-in user, not an IAM principal")
        return _graphql(self._store.get(caller.sub))

    def get_user(self, caller: Caller, user_id: str) -> dict[str, Any] | None:
        if not caller.may_see(user_id, self._admin_group):
            raise Unauthorized()  # whether or not the user exists
        return _graphql(self._store.get(_key(user_id, "id")))

    def list_users(
        self,
        caller: Caller,
        limit: int | None,
        next_token: str | None,
        filter: Mapping[str, Any] | None = None,
    ) -> Connection:
        """Amplify's owner rule: an owner lists their own item; Admin and IAM list everyone.
        DynamoDB applies ``filter`` after ``limit``: a page may hold fewer items."""
        only = self._only(caller)
        scope = f"listUsers:{only or '*'}:{_canonical(filter)}"
        where = _filter(filter, only)
        page = self._store.list_users(
            _model_limit(limit), self._tokens.decode(scope, next_token), where=where, only=only
        )
        return Connection(
            [_graphql_user(user) for user in page.items],
            self._tokens.encode(scope, page.position),
        )

    def sync_users(
        self,
        caller: Caller,
        limit: int | None,
        next_token: str | None,
        last_sync: int | None,
        now_ms: int,
        filter: Mapping[str, Any] | None = None,
    ) -> Connection:
        """DataStore's sync: ``lastSync`` null or 0 is a full sync, otherwise the items whose
        ``_lastChangedAt`` is after it (items marked ``_deleted`` included). ``startedAt`` is
        taken on the first page and carried in ``nextToken``, so every page of one sync
        answers the same. An Admin's delta reads the changes index (only what changed); an
        owner's, their own item."""
        only = self._only(caller)
        if last_sync is not None and (isinstance(last_sync, bool) or last_sync < 0):
            raise BadRequest("lastSync must be epoch milliseconds, 0 or null")
        scope = f"syncUsers:{only or '*'}:{last_sync or 0}:{_canonical(filter)}"
        resumed = self._tokens.decode(scope, next_token)
        started_at = int(resumed["startedAt"]) if resumed else now_ms
        where = _filter(filter, only)
        page = self._store.list_users(
            _model_limit(limit),
            resumed["key"] if resumed else None,
            where=where,
            only=only,
            changed_after=last_sync or None,
        )
        position = {"key": page.position, "startedAt": started_at} if page.position else None
        return Connection(
            [_graphql_user(user) for user in page.items],
            self._tokens.encode(scope, position),
            started_at,
        )

    def _only(self, caller: Caller) -> str | None:
        """``None``: the caller sees every user; otherwise the one id they may see."""
        if caller.is_admin(self._admin_group):
            return None
        if caller.sub is None:
            raise Unauthorized()
        return caller.sub

    def audit_trail(
        self, caller: Caller, user_id: str, limit: int | None, next_token: str | None
    ) -> Connection:
        self._require_admin(caller)
        _key(user_id, "userId")
        scope = f"auditTrail:{user_id}"
        start = self._tokens.decode(scope, next_token)
        page = self._store.audit_trail(user_id, _limit(limit), start)
        return Connection(
            [_audit_graphql(record) for record in page.items],
            self._tokens.encode(scope, page.position),
        )

    def update_user(
        self,
        caller: Caller,
        update: Mapping[str, Any],
        now: datetime,
        condition: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Amplify's update: with ``_version``, conditional on it (a stale one is
        ``ConflictUnhandled`` carrying the current item, which DataStore retries with);
        without it (Gen 2 clients without conflict detection), unconditional. Either way
        ``_version`` goes up by one. ``condition`` must hold too."""
        user_id, changes, expected = _validated(update)
        if caller.operator:
            raise Unauthorized("IAM operators may read, not edit profiles")
        if not caller.may_see(user_id, self._admin_group):
            raise Unauthorized()
        expression = filter_expression(condition, fields=CONDITION_FIELDS, root="condition")
        try:
            user = self._store.update_profile(
                user_id, changes, expected_version=expected, condition=expression, now=now
            )
        except VersionConflict as conflict:
            raise ConflictUnhandled(user_id, _graphql_user(conflict.current)) from None
        except ConditionNotMet:
            raise ConditionalCheckFailed() from None
        except UserErased:
            raise NotFound(f"user {user_id} was deleted") from None
        except UserMissing:
            raise NotFound(f"no user {user_id}") from None
        return _graphql_user(user)

    def subscribe(
        self, caller: Caller, user_id: str | None, filter: Mapping[str, Any] | None = None
    ) -> Subscribed:
        """onCreateUser/onUpdateUser/onDeleteUser, when a client subscribes: Amplify's owner
        rule. An owner may name their own ``id`` (DataStore and the Gen 1 codegen'd documents
        do) or none (Gen 2's data client sends only ``filter``: its ``onCreate``/``onUpdate``/
        ``onDelete`` and ``observeQuery`` never pass an owner argument), and receives only their
        own changes; naming anyone else's is ``Unauthorized``. That is what Amplify's v2
        subscription resolver does: an owner without the owner argument gets a runtime filter
        on the owner field, a mismatched argument is refused (aws-amplify/amplify-category-api,
        model transformer ``resolvers/dynamodb/subscriptions.ts``; PRs #551, #1251). Admin and
        IAM operators may leave ``id`` out and receive everyone's.

        The owner's ``id`` is always in the enhanced filter when there is one; without an ``id``
        argument there are no arguments for AppSync to match, so the filter ``id = caller``
        is set even when the client sent none. A filter AppSync's enhanced filters would
        refuse, ``id`` included, is a ``BadRequest`` naming the limit
        (``subscription_filters``)."""
        admin = caller.is_admin(self._admin_group)
        if not admin and (caller.sub is None or user_id not in (None, caller.sub)):
            raise Unauthorized(
                "an owner subscribes to their own changes: give your own id or none "
                "(Admin may subscribe to everyone's changes)"
            )
        own = user_id if admin else caller.sub
        required = {"id": {"eq": own}} if own else None
        enhanced = enhanced_filter(filter, required=required)
        if enhanced is None and user_id is None and required is not None:
            enhanced = dict(required)  # no argument to match: the filter is the only guard
        return Subscribed(enhanced)

    def refuse_create(self, caller: Caller) -> None:
        raise Unauthorized(
            "a user record is created by userpipe when its Cognito account is confirmed; "
            "sign up and confirm instead"
        )

    def refuse_delete(self, caller: Caller) -> None:
        raise Unauthorized(
            "a user record follows its Cognito account: delete the account (Cognito's "
            "DeleteUser with the user's token, or AdminDeleteUser) and userpipe erases the record"
        )

    def _require_admin(self, caller: Caller) -> None:
        if not caller.is_admin(self._admin_group):
            raise Unauthorized(f"only the {self._admin_group} group may do this")


def _filter(filter: Mapping[str, Any] | None, only: str | None) -> Expression | None:
    """A list's filter. An owner's read is a Query by key, whose filter DynamoDB does not let
    name the key: every item it reads holds ``only`` there, so the clauses on ``id`` are
    decided with that value (``expressions``, ``known``), the same for every item, whatever
    else it holds or lacks."""
    known = {USER_KEY: only} if only is not None else None
    return filter_expression(filter, fields=FILTER_FIELDS, known=known)


def _graphql(user: ServedUser | None) -> dict[str, Any] | None:
    return None if user is None else _graphql_user(user)


def _graphql_user(user: ServedUser) -> dict[str, Any]:
    return dict(user)


def _audit_graphql(record: AuditRecord) -> dict[str, Any]:
    item = record.model_dump(by_alias=True, mode="json", exclude={"stream_event_id", "expires_at"})
    item["changes"] = json.dumps(item["changes"], sort_keys=True)  # AWSJSON is a JSON string
    return item


def _model_limit(limit: int | None) -> int:
    if limit is None:
        return MODEL_DEFAULT_LIMIT
    if not 1 <= limit <= MODEL_MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MODEL_MAX_LIMIT}, got {limit}")
    return limit


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _key(value: str, name: str) -> str:
    """``value``, if DynamoDB can hold it as a partition key; else ``BadRequest`` naming the
    argument and the rule (DynamoDB would refuse it, and the API would answer InternalFailure)."""
    try:
        size = len(value.encode())
    except UnicodeEncodeError:  # a lone surrogate: JSON can carry one, UTF-8 cannot
        raise BadRequest(f"{name} must be valid Unicode text") from None
    if not 1 <= size <= KEY_MAX_BYTES:
        raise BadRequest(f"{name} must be 1 to {KEY_MAX_BYTES} bytes of UTF-8")
    return value


def _validated(update: Mapping[str, Any]) -> tuple[str, dict[str, Any], int | None]:
    unknown = set(update) - UPDATE_INPUT
    if unknown:
        raise BadRequest(
            f"only {listed(PROFILE_FIELDS)} can be changed; not {', '.join(sorted(unknown))}"
        )
    user_id, expected = update.get("id"), update.get("_version")
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("input.id is required")
    _key(user_id, "input.id")
    if expected is not None and (
        not isinstance(expected, int) or isinstance(expected, bool) or expected < 1
    ):
        raise BadRequest("input._version must be a whole number of at least 1, or absent")
    changes = {field: update[field] for field in sorted(PROFILE_FIELDS) if field in update}
    if not changes:
        raise BadRequest(f"nothing to change: give {listed(PROFILE_FIELDS, 'and/or')}")
    for field in PROFILE_FIELDS:
        if field in changes and (reason := profile_problem(field, changes[field])):
            raise BadRequest(reason)
    return user_id, changes, expected
