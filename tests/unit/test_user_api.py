"""The API through its Lambda entry point, with AppSync's event shape and an in-memory store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.appsync import load_schema
from contracts.audit_model import AuditRecord
from contracts.user_fields import PROFILE_FIELDS, listed
from contracts.user_model import User
from services.user_api import handler
from services.user_api.auth import caller_from
from services.user_api.errors import (
    BadRequest,
    ConflictUnhandled,
    InternalFailure,
    NotFound,
    Unauthorized,
)
from services.user_api.logic import UserApi
from services.user_api.page_tokens import InvalidNextToken, PageTokens
from tests.fakes import FakeUserApiStore
from tests.support import (
    appsync_event,
    cognito_identity,
    iam_identity,
    identity_pool_identity,
    unwrap,
)

OWNER = "00000000-0000-4000-8000-00000000000a"
OTHER = "00000000-0000-4000-8000-00000000000b"
ADMIN = "00000000-0000-4000-8000-00000000000c"
EDITOR = "00000000-0000-4000-8000-00000000000d"
MISSING = "00000000-0000-4000-8000-0000000000ff"
KEY = b"k" * 32
POOL = "eu-west-1_Ab12Cd34E"

IDENTITIES: dict[str, Any] = {
    "owner": cognito_identity(OWNER),
    "other": cognito_identity(OTHER),
    "admin": cognito_identity(ADMIN, ["Admin"]),
    "editor": cognito_identity(EDITOR, ["Editors"]),
    "anonymous": None,
    "operator": iam_identity(),
    "guest": identity_pool_identity(authenticated=False),
    "app-user": identity_pool_identity(authenticated=True),
}

#: How the API names the profile fields in its messages ("name and age").
EDITABLE = listed(PROFILE_FIELDS)


def user(sub: str, **changes: Any) -> User:
    return User(
        id=sub,
        user_pool_id=POOL,
        email=f"{sub[-4:]}@example.com",
        owner=sub,
        created_at="2026-11-28T07:00:00.000Z",
        updated_at="2026-11-28T07:00:00.000Z",
        version=1,
        last_changed_at=1_795_849_200_000,
        **changes,
    )


def audit(sub: str, n: int) -> AuditRecord:
    return AuditRecord(
        user_id=sub,
        audit_id=f"2026-11-28T07:00:{n:02d}.000Z#{n:040d}",
        event_name="MODIFY",
        changed_fields=["name"],
        changes={"name": {"old": None, "new": f"v{n}"}},
        old_version=n,
        new_version=n + 1,
        at=f"2026-11-28T07:00:{n:02d}.000Z",
        sequence_number=str(n),
        stream_event_id=f"e{n}",
    )


@pytest.fixture
def store() -> FakeUserApiStore:
    return FakeUserApiStore(
        users=[user(OWNER, name="Ada"), user(OTHER), user(ADMIN), user(EDITOR)],
        audit=[audit(OWNER, n) for n in range(5)],
    )


@pytest.fixture
def call(store: FakeUserApiStore, lambda_context: Any) -> Any:
    api = UserApi(store, PageTokens(KEY), "Admin")

    def invoke(who: str, type_name: str, field: str, **arguments: Any) -> Any:
        event = appsync_event(type_name, field, arguments, IDENTITIES[who])
        return unwrap(handler.resolve(event, lambda_context, lambda: api))

    return invoke


# --- the authorization matrix, field by field ----------------------------------------------

ALLOWED, REFUSED = "allowed", "refused"

# guest and app-user: IAM callers whose credentials came from a Cognito identity pool.
MATRIX = {
    #             owner    other    admin    editor   anonymous operator guest    app-user
    "me":         (ALLOWED, ALLOWED, ALLOWED, ALLOWED, REFUSED, REFUSED, REFUSED, REFUSED),
    "getUser":    (ALLOWED, REFUSED, ALLOWED, REFUSED, REFUSED, ALLOWED, REFUSED, REFUSED),
    "listUsers":  (ALLOWED, ALLOWED, ALLOWED, ALLOWED, REFUSED, ALLOWED, REFUSED, REFUSED),
    "syncUsers":  (ALLOWED, ALLOWED, ALLOWED, ALLOWED, REFUSED, ALLOWED, REFUSED, REFUSED),
    "auditTrail": (REFUSED, REFUSED, ALLOWED, REFUSED, REFUSED, ALLOWED, REFUSED, REFUSED),
    "updateUser": (ALLOWED, REFUSED, ALLOWED, REFUSED, REFUSED, REFUSED, REFUSED, REFUSED),
}  # fmt: skip
FIELDS = {
    "me": ("Query", {}),
    "getUser": ("Query", {"id": OWNER}),
    "listUsers": ("Query", {}),
    "syncUsers": ("Query", {}),
    "auditTrail": ("Query", {"userId": OWNER}),
    "updateUser": ("Mutation", {"input": {"id": OWNER, "name": "Ada L.", "_version": 1}}),
}
CASES = [
    (field, who, outcome)
    for field, outcomes in MATRIX.items()
    for who, outcome in zip(IDENTITIES, outcomes, strict=True)
]


@pytest.mark.parametrize(("field", "who", "outcome"), CASES, ids=[f"{f}-{w}" for f, w, _ in CASES])
def test_authorization_matrix(call: Any, store: Any, field: str, who: str, outcome: str) -> None:
    type_name, arguments = FIELDS[field]
    before = dict(store.users)
    if outcome == REFUSED:
        with pytest.raises(Unauthorized):
            call(who, type_name, field, **arguments)
        assert store.users == before  # nothing changed
        return
    result = call(who, type_name, field, **arguments)
    if field == "me":
        assert result["id"] == IDENTITIES[who]["sub"]
    elif field == "getUser":
        assert result["id"] == OWNER and result["name"] == "Ada"
    elif field in ("listUsers", "syncUsers"):
        # Amplify's owner rule: everyone for Admin and IAM, otherwise one's own item only.
        own = (IDENTITIES[who].get("claims") or {}).get("sub")
        expected = set(before) if who in ("admin", "operator") else {own} & set(before)
        assert {item["id"] for item in result["items"]} == expected
    elif field == "auditTrail":
        assert [r["newVersion"] for r in result["items"]] == [5, 4, 3, 2, 1]
    else:
        assert (result["_version"], result["name"]) == (2, "Ada L.")


def test_a_missing_user_and_someone_elses_look_the_same_to_a_non_admin(call: Any) -> None:
    with pytest.raises(Unauthorized) as missing:
        call("other", "Query", "getUser", id=MISSING)
    with pytest.raises(Unauthorized) as someone_else:
        call("other", "Query", "getUser", id=OWNER)
    assert str(missing.value) == str(someone_else.value)


def test_an_admin_is_told_when_a_user_does_not_exist(call: Any) -> None:
    assert call("admin", "Query", "getUser", id=MISSING) is None
    with pytest.raises(NotFound):
        call("admin", "Mutation", "updateUser", input={"id": MISSING, "age": 3, "_version": 1})


@pytest.mark.parametrize(
    ("who", "field", "arguments", "refusal"),
    [
        ("admin", "getUser", {"id": ""}, "id must be 1 to 2048 bytes of UTF-8"),
        ("admin", "getUser", {"id": "\ud800"}, "id must be valid Unicode text"),
        ("admin", "auditTrail", {"userId": "a" * 2049}, "userId must be 1 to 2048 bytes of UTF-8"),
        ("owner", "updateUser", {"input": {"id": "\udfff", "age": 3}}, "input.id must be valid"),
    ],
)
def test_an_id_dynamodb_cannot_hold_is_a_bad_request_naming_the_argument(
    call: Any, who: str, field: str, arguments: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(BadRequest, match=f"^{refusal}"):
        call(who, "Mutation" if field == "updateUser" else "Query", field, **arguments)


def test_an_owner_asking_for_an_impossible_id_is_refused_like_any_other_id(call: Any) -> None:
    with pytest.raises(Unauthorized):
        call("owner", "Query", "getUser", id="")


def test_me_is_null_until_the_projector_has_created_the_user(call: Any, store: Any) -> None:
    del store.users[OWNER]
    assert call("owner", "Query", "me") is None


def test_groups_from_the_token_claims_count_when_appsync_omits_them(
    store: Any, lambda_context: Any
) -> None:
    identity = cognito_identity(ADMIN, ["Admin"])
    identity["groups"] = None
    event = appsync_event("Query", "listUsers", {}, identity)
    api = UserApi(store, PageTokens(KEY), "Admin")
    result = unwrap(handler.resolve(event, lambda_context, lambda: api))
    assert len(result["items"]) == 4


# --- updateUser ---------------------------------------------------------------------------------


def test_a_stale_version_is_a_conflict_carrying_the_current_version(call: Any, store: Any) -> None:
    call("owner", "Mutation", "updateUser", input={"id": OWNER, "age": 36, "_version": 1})
    with pytest.raises(ConflictUnhandled, match="_version 2") as conflict:
        call("owner", "Mutation", "updateUser", input={"id": OWNER, "age": 40, "_version": 1})
    assert conflict.value.data["_version"] == 2
    assert conflict.value.data["age"] == 36  # the server's item, for the client to retry with
    assert store.users[OWNER].age == 36


def test_an_update_bumps_version_and_change_times_and_clears_with_null(
    call: Any, store: Any
) -> None:
    result = call(
        "owner",
        "Mutation",
        "updateUser",
        input={"id": OWNER, "name": None, "age": 0, "_version": 1},
    )
    assert (result["name"], result["age"], result["_version"]) == (None, 0, 2)
    assert result["updatedAt"] > "2026-11-28T07:00:00.000Z"
    assert result["_lastChangedAt"] > 1_795_849_200_000
    assert result["createdAt"] == "2026-11-28T07:00:00.000Z"


def test_an_update_without_a_version_is_unconditional_and_still_bumps_it(
    call: Any, store: Any
) -> None:
    """Amplify Gen 2 clients without conflict detection send no ``_version``."""
    call("owner", "Mutation", "updateUser", input={"id": OWNER, "age": 36, "_version": 1})
    result = call("owner", "Mutation", "updateUser", input={"id": OWNER, "age": 40})
    assert (result["age"], result["_version"]) == (40, 3)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("createUser", "created by userpipe when its Cognito account is confirmed"),
        ("deleteUser", "follows its Cognito account"),
    ],
)
@pytest.mark.parametrize("who", ["owner", "admin"])
def test_users_are_neither_created_nor_deleted_through_the_api(
    call: Any, store: Any, who: str, field: str, message: str
) -> None:
    before = dict(store.users)
    with pytest.raises(Unauthorized, match=message):
        call(who, "Mutation", field, input={"id": OWNER})
    assert store.users == before


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"name": ""}, "name must be 1-100 printable characters"),
        ({"name": "x" * 101}, "name must be 1-100 printable characters"),
        ({"name": 7}, "name must be 1-100 printable characters"),
        ({"name": "   "}, "name must be 1-100 printable characters"),
        ({"name": "Ada\x00"}, "name must be 1-100 printable characters"),
        ({"name": "Ada\x1b[31m"}, "name must be 1-100 printable characters"),
        ({"name": "Ada\r\nAdmin: yes"}, "name must be 1-100 printable characters"),
        ({"name": "Ada\tL."}, "name must be 1-100 printable characters"),
        ({"name": "\u202egnp.exe"}, "name must be 1-100 printable characters"),
        ({"name": "Ada\u2028"}, "name must be 1-100 printable characters"),
        ({"name": "Ada\u00a0L."}, "name must be 1-100 printable characters"),
        ({"age": -1}, "age must be a whole number from 0 to 150"),
        ({"age": 151}, "age must be a whole number from 0 to 150"),
        ({"age": True}, "age must be a whole number from 0 to 150"),
        ({"age": 3.5}, "age must be a whole number from 0 to 150"),
        ({"email": "evil@example.com"}, f"only {EDITABLE} can be changed; not email"),
        ({"_deleted": True, "name": "A"}, f"only {EDITABLE} can be changed; not _deleted"),
        ({"owner": OTHER, "name": "A"}, f"only {EDITABLE} can be changed; not owner"),
        ({}, "nothing to change"),
        ({"name": "A", "_version": 0}, "_version must be a whole number"),
        ({"name": "A", "_version": "1"}, "_version must be a whole number"),
        ({"name": "A", "id": ""}, "input.id is required"),
    ],
)
def test_invalid_updates_are_refused_and_write_nothing(
    call: Any, store: Any, update: dict[str, Any], message: str
) -> None:
    before = dict(store.users)
    payload = {"id": OWNER, "_version": 1, **update}
    with pytest.raises(BadRequest, match=message):
        call("owner", "Mutation", "updateUser", input=payload)
    assert store.users == before


@pytest.mark.parametrize("name", ["n" * 100, "Ada Lovelace", "Zoë Ñandú", "李小龍", " Ada "])
def test_printable_names_with_ordinary_spaces_are_accepted_as_given(call: Any, name: str) -> None:
    result = call(
        "owner",
        "Mutation",
        "updateUser",
        input={"id": OWNER, "name": name, "_version": 1},
    )
    assert result["name"] == name


# --- pagination -------------------------------------------------------------------------------


def test_listing_pages_returns_every_user_exactly_once(lambda_context: Any) -> None:
    subs = [f"00000000-0000-4000-8000-{n:012d}" for n in range(23)]
    api = UserApi(FakeUserApiStore(users=[user(s) for s in subs]), PageTokens(KEY), "Admin")
    seen: list[str] = []
    token, pages = None, 0
    while True:
        event = appsync_event(
            "Query", "listUsers", {"limit": 5, "nextToken": token}, IDENTITIES["admin"]
        )
        page = unwrap(handler.resolve(event, lambda_context, lambda: api))
        seen += [item["id"] for item in page["items"]]
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
    assert pages == 5
    assert sorted(seen) == subs


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_audit_trail_limits_outside_1_to_100_are_refused(call: Any, limit: int) -> None:
    with pytest.raises(BadRequest, match="limit must be between 1 and 100"):
        call("admin", "Query", "auditTrail", userId=OWNER, limit=limit)


@pytest.mark.parametrize("field", ["listUsers", "syncUsers"])
@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_model_limits_outside_1_to_1000_are_refused(call: Any, field: str, limit: int) -> None:
    """Amplify's resolvers page up to 1,000 (DataStore's sync page size)."""
    with pytest.raises(BadRequest, match="limit must be between 1 and 1000"):
        call("admin", "Query", field, limit=limit)


def test_audit_trail_pages_newest_first(call: Any) -> None:
    first = call("admin", "Query", "auditTrail", userId=OWNER, limit=2)
    second = call(
        "admin", "Query", "auditTrail", userId=OWNER, limit=2, nextToken=first["nextToken"]
    )
    third = call(
        "admin", "Query", "auditTrail", userId=OWNER, limit=2, nextToken=second["nextToken"]
    )
    versions = [r["newVersion"] for page in (first, second, third) for r in page["items"]]
    assert versions == [5, 4, 3, 2, 1]
    assert third["nextToken"] is None
    assert json.loads(first["items"][0]["changes"]) == {"name": {"new": "v4", "old": None}}


def test_a_forged_token_is_a_clear_error(call: Any) -> None:
    page = call("admin", "Query", "listUsers", limit=1)
    payload, signature = page["nextToken"].split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for token in (forged, "garbage", "a.b.c", "", page["nextToken"] + "x", "." + signature):
        with pytest.raises(InvalidNextToken, match="nextToken is not valid for this query"):
            call("admin", "Query", "listUsers", limit=1, nextToken=token)


@pytest.mark.parametrize("suffix", ["=", "==", "!", "*", "\n", " ", ".", "%3D", "\u00e9"])
def test_any_character_added_to_a_token_makes_it_invalid(call: Any, suffix: str) -> None:
    token = call("admin", "Query", "listUsers", limit=1)["nextToken"]
    payload, signature = token.split(".")
    for changed in (token + suffix, f"{payload}{suffix}.{signature}", suffix + token):
        with pytest.raises(InvalidNextToken):
            call("admin", "Query", "listUsers", limit=1, nextToken=changed)
    assert call("admin", "Query", "listUsers", limit=1, nextToken=token)["items"]


def test_a_token_from_another_query_is_refused(call: Any) -> None:
    listing = call("admin", "Query", "listUsers", limit=1)
    trail = call("admin", "Query", "auditTrail", userId=OWNER, limit=1)
    with pytest.raises(InvalidNextToken):
        call("admin", "Query", "auditTrail", userId=OWNER, nextToken=listing["nextToken"])
    with pytest.raises(InvalidNextToken):
        call("admin", "Query", "auditTrail", userId=OTHER, nextToken=trail["nextToken"])


def test_a_token_signed_with_another_key_is_refused() -> None:
    theirs = PageTokens(b"x" * 32).encode("listUsers", {"id": {"S": OWNER}})
    with pytest.raises(InvalidNextToken):
        PageTokens(KEY).decode("listUsers", theirs)


# --- errors and logs ----------------------------------------------------------------------------


def test_an_unexpected_failure_is_an_internal_failure_without_details(
    store: Any, lambda_context: Any, log_lines: Any
) -> None:
    def broken(user_id: str) -> None:
        raise RuntimeError("db exploded near 000a@example.com")

    store.get = broken
    event = appsync_event("Query", "getUser", {"id": OWNER}, IDENTITIES["owner"])
    api = UserApi(store, PageTokens(KEY), "Admin")
    with pytest.raises(InternalFailure) as failure:
        unwrap(handler.resolve(event, lambda_context, lambda: api))
    assert lambda_context.aws_request_id in str(failure.value)
    assert "exploded" not in str(failure.value)
    assert "@example.com" not in json.dumps(log_lines())


def test_refusals_are_logged_without_emails(call: Any, log_lines: Any) -> None:
    with pytest.raises(BadRequest):
        call(
            "owner",
            "Mutation",
            "updateUser",
            input={"id": OWNER, "_version": 1, "email": "a@example.com"},
        )
    (line,) = [entry for entry in log_lines() if entry["message"] == "request refused"]
    assert (line["field"], line["error_type"]) == ("Mutation.updateUser", "BadRequest")
    assert "@example.com" not in json.dumps(log_lines())


def test_every_field_but_the_pipelines_publish_mutations_has_a_resolver() -> None:
    schema = load_schema()
    fields = {
        f"{type_name}.{field}"
        for type_name in ("Query", "Mutation", "Subscription")
        for field in schema.get_type(type_name).fields  # type: ignore[union-attr]
        if not field.startswith("publishUser")
    }
    registered = set(handler.router.resolvers)
    assert (
        fields
        == registered
        == {
            "Query.me",
            "Query.getUser",
            "Query.listUsers",
            "Query.syncUsers",
            "Query.auditTrail",
            "Mutation.createUser",
            "Mutation.updateUser",
            "Mutation.deleteUser",
            "Subscription.onCreateUser",
            "Subscription.onUpdateUser",
            "Subscription.onDeleteUser",
        }
    )


# --- subscriptions: who may subscribe to whose changes ---------------------------------------

SUBSCRIPTIONS = ("onCreateUser", "onUpdateUser", "onDeleteUser")
#: (who, id argument) -> may subscribe. An owner names their own id or none (their own changes:
#: Gen 2's data client sends no id); Admin and operators may name anyone's or none (everyone's
#: changes); nobody else may subscribe at all.
SUBSCRIBERS = {
    ("owner", OWNER): ALLOWED,
    ("owner", OTHER): REFUSED,
    ("owner", None): ALLOWED,
    ("editor", OWNER): REFUSED,
    ("editor", None): ALLOWED,  # their own changes, as any signed-in user
    ("admin", OWNER): ALLOWED,
    ("admin", None): ALLOWED,
    ("operator", None): ALLOWED,
    ("anonymous", OWNER): REFUSED,
    ("guest", None): REFUSED,
    ("app-user", OWNER): REFUSED,
}


@pytest.mark.parametrize("field", SUBSCRIPTIONS)
@pytest.mark.parametrize(("who", "user_id"), list(SUBSCRIBERS), ids=str)
def test_subscription_authorization(call: Any, field: str, who: str, user_id: str | None) -> None:
    arguments = {} if user_id is None else {"id": user_id}
    if SUBSCRIBERS[(who, user_id)] == REFUSED:
        with pytest.raises(Unauthorized, match=r"own changes|Not Authorized"):
            call(who, "Subscription", field, **arguments)
    else:
        assert call(who, "Subscription", field, **arguments) is None  # AppSync returns no data


def test_an_accepted_subscription_without_a_filter_relies_on_its_arguments(
    store: Any, lambda_context: Any
) -> None:
    api = UserApi(store, PageTokens(KEY), "Admin")
    event = appsync_event("Subscription", "onUpdateUser", {"id": OWNER}, IDENTITIES["owner"])
    assert handler.resolve(event, lambda_context, lambda: api) == {"data": None}


def test_an_owner_subscribing_without_an_id_is_held_to_their_own_by_the_filter(
    store: Any, lambda_context: Any
) -> None:
    """Gen 2's data client subscribes with no id: no argument for AppSync to match, so the
    resolver's filter is what keeps everyone else's changes from the owner."""
    api = UserApi(store, PageTokens(KEY), "Admin")
    bare = appsync_event("Subscription", "onUpdateUser", {}, IDENTITIES["owner"])
    wanted = {"age": {"gt": 30}}
    filtered = appsync_event(
        "Subscription", "onCreateUser", {"filter": wanted}, IDENTITIES["owner"]
    )
    assert handler.resolve(bare, lambda_context, lambda: api) == {
        "data": None,
        "subscriptionFilter": {"id": {"eq": OWNER}},
    }
    assert handler.resolve(filtered, lambda_context, lambda: api) == {
        "data": None,
        "subscriptionFilter": {"and": [{"id": {"eq": OWNER}}, wanted]},
    }


def test_a_subscription_filter_is_set_with_the_subscribers_id_inside_it(
    store: Any, lambda_context: Any
) -> None:
    api = UserApi(store, PageTokens(KEY), "Admin")
    wanted = {"age": {"gt": 30}}
    owner = appsync_event(
        "Subscription", "onUpdateUser", {"id": OWNER, "filter": wanted}, IDENTITIES["owner"]
    )
    admin = appsync_event("Subscription", "onCreateUser", {"filter": wanted}, IDENTITIES["admin"])
    assert handler.resolve(owner, lambda_context, lambda: api) == {
        "data": None,
        "subscriptionFilter": {"and": [{"id": {"eq": OWNER}}, wanted]},
    }
    assert handler.resolve(admin, lambda_context, lambda: api) == {
        "data": None,
        "subscriptionFilter": wanted,
    }


# --- syncUsers: DataStore's sync windows ------------------------------------------------------

T0 = 1_795_849_200_000  # every fixture user's _lastChangedAt


def sync(api: UserApi, who: str, now_ms: int, **arguments: Any) -> Any:
    return api.sync_users(
        caller_from(IDENTITIES[who]),
        arguments.get("limit"),
        arguments.get("nextToken"),
        arguments.get("lastSync"),
        now_ms,
    ).as_graphql()


@pytest.fixture
def changing(store: FakeUserApiStore) -> UserApi:
    """OTHER changed after T0, EDITOR was deleted (a tombstone) after T0."""
    store.users[OTHER] = user(OTHER, name="Changed").model_copy(
        update={"version": 2, "last_changed_at": T0 + 5_000}
    )
    store.users[EDITOR] = user(EDITOR).model_copy(
        update={"version": 2, "last_changed_at": T0 + 6_000, "deleted": True}
    )
    return UserApi(store, PageTokens(KEY), "Admin")


@pytest.mark.parametrize("last_sync", [None, 0])
def test_a_sync_without_last_sync_or_at_zero_is_full(changing: UserApi, last_sync: Any) -> None:
    answer = sync(changing, "admin", T0 + 10_000, lastSync=last_sync)
    assert {item["id"] for item in answer["items"]} == {OWNER, OTHER, ADMIN, EDITOR}
    assert answer["startedAt"] == T0 + 10_000 and answer["nextToken"] is None


def test_a_delta_sync_has_only_what_changed_after_last_sync_tombstones_included(
    changing: UserApi, store: FakeUserApiStore
) -> None:
    answer = sync(changing, "admin", T0 + 10_000, lastSync=T0)
    items = {item["id"]: item for item in answer["items"]}
    assert set(items) == {OTHER, EDITOR}
    assert items[EDITOR]["_deleted"] is True and items[OTHER]["_version"] == 2
    # An Admin's delta reads the changes index, not the whole table.
    assert store.listed[-1] == {"only": None, "changed_after": T0}
    assert sync(changing, "admin", T0 + 10_000, lastSync=T0 + 6_000)["items"] == []


def test_an_owners_delta_has_their_own_item_only_when_it_changed(changing: UserApi) -> None:
    assert sync(changing, "owner", T0 + 10_000, lastSync=T0)["items"] == []
    mine = sync(changing, "other", T0 + 10_000, lastSync=T0)["items"]
    assert [item["id"] for item in mine] == [OTHER]


def test_every_page_of_one_sync_answers_the_same_started_at(changing: UserApi) -> None:
    first = sync(changing, "admin", T0 + 10_000, limit=1)
    seen, pages, token = [first["items"][0]["id"]], [first], first["nextToken"]
    while token:
        later = sync(changing, "admin", T0 + 99_000, limit=1, nextToken=token)  # time moved on
        pages.append(later)
        seen += [item["id"] for item in later["items"]]
        token = later["nextToken"]
    assert {page["startedAt"] for page in pages} == {T0 + 10_000}
    assert sorted(seen) == sorted({OWNER, OTHER, ADMIN, EDITOR})


def test_a_sync_token_is_not_valid_for_another_window(changing: UserApi) -> None:
    token = sync(changing, "admin", T0 + 10_000, limit=1)["nextToken"]
    with pytest.raises(InvalidNextToken):
        sync(changing, "admin", T0 + 10_000, limit=1, lastSync=T0, nextToken=token)


def test_a_field_without_a_resolver_is_an_internal_failure_naming_the_request(
    call: Any, log_lines: Any
) -> None:
    """A schema field the function does not resolve (a deploy out of step) is the API's fault,
    logged with the field, never answered with the router's text."""
    with pytest.raises(InternalFailure) as failure:
        call("owner", "Query", "notAField")
    assert "notAField" not in str(failure.value)
    (line,) = [entry for entry in log_lines() if entry["message"] == "resolver failed"]
    assert (line["field"], line["error"]) == ("Query.notAField", "UnknownFieldError")
