"""Compound filters and conditions through the API's Lambda entry point on moto: listUsers,
syncUsers (full and delta) and updateUser(condition), for an owner and for an Admin, against a
table of known, varied users, with answers worked out by hand (and held to the evaluation of
DynamoDB's documented semantics in ``tests/filter_reference.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.user_api.errors import BadRequest, ConditionalCheckFailed
from tests.filter_reference import reference
from tests.harness import InProcessPipeline, in_process_pipeline
from tests.support import appsync_event, cognito_identity, unwrap

pytestmark = pytest.mark.integration

ADMIN = cognito_identity("00000000-0000-4000-8000-00000000000c", ["Admin"])
MISSING: Any = object()


def stored_user(
    user_id: str,
    email: str,
    *,
    name: Any = MISSING,
    age: Any = MISSING,
    deleted: Any = MISSING,
    changed: int,
    created: str,
    updated: str,
) -> dict[str, dict[str, Any]]:
    """A User item as DynamoDB holds it; ``None`` is stored as NULL, ``MISSING`` left out."""
    item: dict[str, dict[str, Any]] = {
        "id": {"S": user_id},
        "__typename": {"S": "User"},
        "userPoolId": {"S": "eu-west-1_Ab12Cd34E"},
        "email": {"S": email},
        "owner": {"S": user_id},
        "createdAt": {"S": created},
        "updatedAt": {"S": updated},
        "_version": {"N": "1"},
        "_lastChangedAt": {"N": str(changed)},
    }
    for attribute, value in (("name", name), ("age", age), ("_deleted", deleted)):
        if value is None:
            item[attribute] = {"NULL": True}
        elif isinstance(value, bool):
            item[attribute] = {"BOOL": value}
        elif isinstance(value, int):
            item[attribute] = {"N": str(value)}
        elif value is not MISSING:
            item[attribute] = {"S": value}
    return item


# Missing, NULL and present attributes, upper and lower case, spaces, the ends of the age range;
# _lastChangedAt rises with the id so a delta sync's answer is easy to read.
STORED = {
    item["id"]["S"]: item
    for item in [
        stored_user("u01", "ada@example.com", name="Ada", age=36, changed=1000,
                    created="2025-11-02T08:00:00.000Z", updated="2026-01-10T09:00:00.000Z"),
        stored_user("u02", "alan@example.org", name="Alan", age=41, deleted=True, changed=2000,
                    created="2025-11-02T08:30:00.000Z", updated="2025-11-02T08:30:00.000Z"),
        stored_user("u03", "grace@example.com", name="Grace", deleted=False, changed=3000,
                    created="2025-12-24T18:00:00.000Z", updated="2026-02-01T00:00:00.000Z"),
        stored_user("u04", "edsger@example.nl", age=72, deleted=None, changed=4000,
                    created="2026-01-01T00:00:00.000Z", updated="2026-01-01T00:00:00.000Z"),
        stored_user("u05", "barbara@example.com", name=None, age=0, changed=5000,
                    created="2026-01-15T12:00:00.000Z", updated="2026-03-01T12:00:00.000Z"),
        stored_user("u06", "Zed@Example.COM", name="zed", age=150, deleted=False, changed=6000,
                    created="2026-02-28T23:59:59.999Z", updated="2026-02-28T23:59:59.999Z"),
        stored_user("u07", "a@b", name="A", age=None, deleted=True, changed=7000,
                    created="2026-03-01T00:00:00.000Z", updated="2026-04-01T00:00:00.000Z"),
        stored_user("u08", "ken@example.org", name="Ken Thompson", age=7, changed=8000,
                    created="2026-03-15T07:00:00.000Z", updated="2026-03-15T07:00:00.000Z"),
        stored_user("u09", "x+y@example.com", name="Ada Lovelace", age=36, deleted=None,
                    changed=9000, created="2026-04-01T10:00:00.000Z",
                    updated="2026-05-01T10:00:00.000Z"),
        stored_user("u10", "bob@example.com", changed=10000,
                    created="2026-05-05T05:05:05.005Z", updated="2026-05-05T05:05:05.005Z"),
        stored_user("u11", "Ada@example.com", name="ada", age=100, deleted=True, changed=11000,
                    created="2026-06-01T00:00:00.000Z", updated="2026-06-02T00:00:00.000Z"),
        stored_user("u12", "zz@zz.zz", name="Zz", age=1, deleted=False, changed=12000,
                    created="2026-07-01T00:00:00.000Z", updated="2026-07-01T00:00:00.000Z"),
    ]
}  # fmt: skip
EVERYONE = sorted(STORED)


class Api:
    """The API's Lambda entry point as AppSync calls it, over the known users."""

    def __init__(self, pipe: InProcessPipeline) -> None:
        self.pipe = pipe
        self.table = pipe.value("UserTable", "name")

    def call(self, type_name: str, field: str, arguments: dict[str, Any], identity: Any) -> Any:
        return unwrap(self.pipe.api(appsync_event(type_name, field, arguments, identity)))

    def listed(self, identity: Any, filter: Any, limit: int = 5) -> list[str]:
        """Every id listUsers answers, page after page (sorted; a repeat would show)."""
        return self._every_page(identity, "listUsers", {"filter": filter}, limit)

    def synced(self, identity: Any, filter: Any, last_sync: int, limit: int = 5) -> list[str]:
        arguments = {"filter": filter, "lastSync": last_sync}
        return self._every_page(identity, "syncUsers", arguments, limit)

    def update(self, identity: Any, update: dict[str, Any], condition: Any) -> Any:
        arguments = {"input": update, "condition": condition}
        return self.call("Mutation", "updateUser", arguments, identity)

    def restore(self, user_id: str) -> None:
        self.pipe.clients.dynamodb.put_item(TableName=self.table, Item=STORED[user_id])

    def _every_page(
        self, identity: Any, field: str, arguments: dict[str, Any], limit: int
    ) -> list[str]:
        ids: list[str] = []
        token = None
        while True:
            page = self.call(
                "Query", field, {**arguments, "limit": limit, "nextToken": token}, identity
            )
            ids += [item["id"] for item in page["items"]]
            token = page["nextToken"]
            if token is None:
                return sorted(ids)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with in_process_pipeline() as pipe:
        known = Api(pipe)
        for user_id in STORED:
            known.restore(user_id)
        yield known


def owner(user_id: str) -> dict[str, Any]:
    return cognito_identity(user_id)


# --- Known answers ----------------------------------------------------------------------------

COMPOUND_FILTERS = {
    "two fields": (
        {"email": {"contains": "example.com"}, "age": {"between": [30, 80]}},
        ["u01", "u09"],
    ),
    "or of a prefix and a comparison": (
        {"or": [{"name": {"beginsWith": "Ada"}}, {"age": {"gt": 100}}]},
        ["u01", "u06", "u09"],
    ),
    "two operators on one field": ({"age": {"ge": 36, "lt": 72}}, ["u01", "u02", "u09"]),
    "not": (
        {"not": {"_deleted": {"eq": True}}},
        ["u01", "u03", "u04", "u05", "u06", "u08", "u09", "u10", "u12"],
    ),
    "between beside another clause": (
        {"age": {"between": [1, 40]}, "email": {"beginsWith": "a"}},
        ["u01"],
    ),
    "not of an or, with a missing attribute": (
        {"not": {"or": [{"age": {"attributeExists": False}}, {"age": {"lt": 36}}]}},
        ["u01", "u02", "u04", "u06", "u07", "u09", "u11"],
    ),
    "lists of one, nested": (
        {"or": [{"and": [{"age": {"gt": 40}}]}], "name": {"attributeExists": True}},
        ["u02", "u06", "u11"],
    ),
    "null beside an empty or": (
        {"name": {"attributeExists": True, "eq": None}, "or": []},
        ["u05"],
    ),
    "notContains holds where the attribute is missing": (
        {"name": {"notContains": "a"}, "_deleted": {"ne": True}},
        ["u04", "u05", "u06", "u08", "u10", "u12"],
    ),
    "size and an or of ids": (
        {"email": {"size": {"le": 9}}, "or": [{"id": {"eq": "u07"}}, {"id": {"eq": "u12"}}]},
        ["u07", "u12"],
    ),
}


@pytest.mark.parametrize(("filter", "expected"), COMPOUND_FILTERS.values(), ids=COMPOUND_FILTERS)
def test_an_admin_lists_the_users_a_compound_filter_selects(
    api: Api, filter: dict[str, Any], expected: list[str]
) -> None:
    assert api.listed(ADMIN, filter, limit=4) == expected
    assert sorted(i for i in EVERYONE if reference(filter)(STORED[i])) == expected  # the oracle


@pytest.mark.parametrize(
    ("user", "name", "expected"),
    [
        ("u01", "two fields", ["u01"]),
        ("u03", "two fields", []),  # their own item, filtered out
        ("u09", "or of a prefix and a comparison", ["u09"]),
        ("u06", "not of an or, with a missing attribute", ["u06"]),
        ("u10", "not of an or, with a missing attribute", []),
        ("u05", "null beside an empty or", ["u05"]),
    ],
)
def test_an_owner_lists_only_their_own_user_and_only_if_the_compound_filter_selects_it(
    api: Api, user: str, name: str, expected: list[str]
) -> None:
    filter, _ = COMPOUND_FILTERS[name]
    assert api.listed(owner(user), filter) == expected


def test_an_admins_full_and_delta_sync_apply_a_compound_filter(api: Api) -> None:
    filter, selected = COMPOUND_FILTERS["two operators on one field"]  # u01 u02 u09
    assert api.synced(ADMIN, filter, last_sync=0, limit=2) == selected
    assert api.synced(ADMIN, filter, last_sync=4500) == ["u09"]  # changed at 9000
    not_deleted, _ = COMPOUND_FILTERS["not"]
    assert api.synced(ADMIN, not_deleted, last_sync=4500, limit=2) == [
        "u05", "u06", "u08", "u09", "u10", "u12",
    ]  # fmt: skip


def test_an_owners_full_and_delta_sync_apply_a_compound_filter(api: Api) -> None:
    filter, _ = COMPOUND_FILTERS["two operators on one field"]  # u01 u02 u09
    assert api.synced(owner("u02"), filter, last_sync=0) == ["u02"]
    assert api.synced(owner("u09"), filter, last_sync=4500) == ["u09"]
    assert api.synced(owner("u01"), filter, last_sync=4500) == []  # not changed since
    assert api.synced(owner("u03"), filter, last_sync=0) == []  # not selected


@pytest.mark.parametrize("field", ["listUsers", "syncUsers"])
def test_a_between_whose_low_bound_is_above_its_high_bound_is_a_bad_request(
    api: Api, field: str
) -> None:
    """DynamoDB refuses such a BETWEEN before reading anything (moto evaluates it to false):
    answered as the client's error, naming the path, not as an internal failure."""
    nested = {"or": [{"name": {"eq": "Ada"}}, {"age": {"between": [40, 30]}}]}
    with pytest.raises(BadRequest, match=r"^filter\.or\[1\]\.age\.between: "):
        api.call("Query", field, {"filter": nested}, ADMIN)
    with pytest.raises(BadRequest, match=r"^filter\.email\.size\.between: "):
        api.call("Query", field, {"filter": {"email": {"size": {"between": [9, 3]}}}}, ADMIN)


@pytest.fixture
def editable(api: Api) -> Iterator[Api]:
    yield api
    for user_id in STORED:
        api.restore(user_id)


def test_an_update_with_a_compound_condition_applies_only_when_it_holds(editable: Api) -> None:
    holds = {
        "age": {"ge": 30, "le": 40},
        "name": {"beginsWith": "A"},
        "not": {"_deleted": {"eq": True}},
    }
    fails = {"or": [{"age": {"lt": 10}}, {"name": {"attributeExists": False}}]}
    with pytest.raises(ConditionalCheckFailed):
        editable.update(ADMIN, {"id": "u01", "age": 37, "_version": 1}, fails)
    edited = editable.update(owner("u01"), {"id": "u01", "age": 37, "_version": 1}, holds)
    assert (edited["age"], edited["_version"]) == (37, 2)
    between = {"age": {"between": [1, 40]}, "_deleted": {"attributeType": "_null"}}  # u09: NULL
    assert editable.update(ADMIN, {"id": "u09", "name": "Ada L."}, between)["_version"] == 2


def test_an_update_condition_with_a_field_that_adds_no_clause_is_applied(editable: Api) -> None:
    """``name: {}`` adds no clause; declaring its placeholder anyway made DynamoDB refuse the
    whole request (unused ExpressionAttributeNames), an InternalFailure."""
    condition = {"name": {}, "age": {"ge": 30, "le": 40}, "updatedAt": {"size": {"eq": None}}}
    assert editable.update(ADMIN, {"id": "u01", "age": 37}, condition)["age"] == 37
    with pytest.raises(ConditionalCheckFailed):
        editable.update(ADMIN, {"id": "u02", "age": 42}, {"name": {}, "age": {"lt": 41}})


def test_an_update_condition_with_a_reversed_between_is_a_bad_request(editable: Api) -> None:
    condition = {"and": [{"age": {"between": [40, 30]}}]}
    with pytest.raises(BadRequest, match=r"^condition\.and\[0\]\.age\.between: "):
        editable.update(ADMIN, {"id": "u01", "age": 37}, condition)
