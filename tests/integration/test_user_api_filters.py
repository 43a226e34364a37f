"""Compound filters and conditions through the API's Lambda entry point on moto: listUsers,
syncUsers (full and delta) and updateUser(condition), for an owner and for an Admin, against a
table of known, varied users, and again against their twins in the recipe's shape (no
``owner``, no ``userPoolId``: every request must answer the same, never InternalFailure) — first
with answers worked out by hand, then with every shape of ``ModelUserFilterInput`` /
``ModelUserConditionInput`` the schema lets a client send, compared with an evaluation in Python of
DynamoDB's documented semantics (``tests/filter_reference.py``).

Two requests moto 5.2.5 accepts and DynamoDB refuses, a Query whose filter names a key attribute
and an expression over 4 KB, are refused here too: the in-process pipeline installs
``userpipe.local.dynamodb``. Where moto answers differently from DynamoDB, the generator avoids
exactly that, and says why next to the restriction:

- ``attr = :null`` / ``attr <> :null`` on an item without ``attr``: moto reads the missing
  attribute as Python ``None``, the NULL operand as ``None`` too, and compares them with ``==``
  (moto/dynamodb/comparisons.py, ``AttributePath.expr``, ``AttributeValue.expr``, ``OpEqual``),
  so it answers true / false where DynamoDB answers false / true. A null ``eq``/``ne`` is
  generated only together with ``attributeExists: true`` on the same field, which makes the
  missing case false either way and still checks NULL against NULL and against values.
- ``size()`` of a missing attribute raises a ValidationException ("Invalid attribute name") and
  of a Number, Boolean or NULL a ValueError (``FuncSize.expr``), instead of the comparison simply
  failing to hold; DynamoDB's docs define no size for those types at all. ``size`` is generated
  only on the fields every stored user holds as a string.
- moto evaluates ``a BETWEEN :high AND :low`` to false; DynamoDB refuses it. The API refuses it
  first (BadRequest), so both agree here and no restriction is needed.
- moto compares a Number attribute with a String operand in Python and raises TypeError where
  DynamoDB answers false (``OpLessThan``, ``FuncBetween``); GraphQL types every operand after its
  field, and the table stores each field with one type (or NULL), so it never happens here.

Not generated because DynamoDB's documentation does not say what they select (``Undefined`` in
the reference): ``lt``/``le``/``gt``/``ge`` with null, an empty ``contains``/``notContains``/
``beginsWith`` operand, and non-ASCII text (the docs compare "ASCII character code values").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, get_named_type
from hypothesis import event, given, settings
from hypothesis import strategies as st

from contracts.appsync import load_schema
from services.user_api.errors import (
    BadRequest,
    ConditionalCheckFailed,
    ConflictUnhandled,
    InternalFailure,
    NotFound,
)
from services.user_api.expressions import MAX_EXPRESSION_BYTES, Expression, filter_expression
from services.user_api.logic import CONDITION_FIELDS, FILTER_FIELDS, ConditionNotMet
from services.user_api.store import DynamoUserApiStore
from tests.filter_reference import ORDERINGS, TYPE_DESCRIPTORS, Refused, read_as, reference
from tests.harness import InProcessPipeline, in_process_pipeline
from tests.support import appsync_event, cognito_identity, unwrap

pytestmark = pytest.mark.integration

ADMIN = cognito_identity("00000000-0000-4000-8000-00000000000c", ["Admin"])
MISSING: Any = object()
POOL = "eu-west-1_Ab12Cd34E"


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
        "userPoolId": {"S": POOL},
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


def recipe_shaped(item: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The item as the recipe stores it: no ``owner``, no ``userPoolId``."""
    return {
        name: dict(value) for name, value in item.items() if name not in ("owner", "userPoolId")
    }


class Api:
    """The API's Lambda entry point as AppSync calls it, over the known users, stored complete
    or in the recipe's shape (``shape``)."""

    def __init__(self, pipe: InProcessPipeline, shape: str) -> None:
        self.pipe = pipe
        self.shape = shape
        self.table = pipe.attribute("UserTable", "name")
        self.pool = pipe.attribute("UserPool", "id")

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
        item = STORED[user_id] if self.shape == "complete" else recipe_shaped(STORED[user_id])
        self.pipe.clients.dynamodb.put_item(TableName=self.table, Item=item)

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


@pytest.fixture(scope="module", params=["complete", "recipe-shaped"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    with in_process_pipeline() as pipe:
        known = Api(pipe, request.param)
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
    assert selected(filter, EVERYONE) == expected  # the oracle


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


#: An owner's filters on ``id``: their read is a Query by key, whose filter DynamoDB does not let
#: name the key (``userpipe.local.dynamodb`` makes moto refuse it too). Every kind of clause.
OWNER_ID_FILTERS = [
    ("u07", {"id": {"attributeExists": True}}, ["u07"]),  # tests/clients/amplify_client.mjs
    ("u07", {"id": {"attributeExists": False}}, []),
    ("u07", {"id": {"attributeType": "string"}}, ["u07"]),
    ("u07", {"id": {"attributeType": "number"}}, []),
    ("u07", {"id": {"size": {"eq": 3}}}, ["u07"]),
    ("u07", {"id": {"size": {"between": [4, 9]}}}, []),
    ("u07", {"id": {"eq": "u07"}}, ["u07"]),
    ("u07", {"id": {"ne": "u07"}}, []),
    ("u07", {"id": {"gt": "u06", "le": "u07"}}, ["u07"]),
    ("u07", {"id": {"between": ["u08", "u12"]}}, []),
    ("u07", {"id": {"beginsWith": "u0", "contains": "7", "notContains": "8"}}, ["u07"]),
    ("u07", {"id": {"attributeExists": True, "eq": None}}, []),
    ("u12", COMPOUND_FILTERS["size and an or of ids"][0], ["u12"]),
    ("u01", COMPOUND_FILTERS["size and an or of ids"][0], []),
    ("u05", {"not": {"id": {"eq": "u05"}}}, []),
    ("u05", {"or": [{"id": {"eq": "u99"}}, {"name": {"attributeType": "_null"}}]}, ["u05"]),
    ("u99", {"id": {"attributeExists": True}}, []),  # signed in, no item
]


@pytest.mark.parametrize(("user", "filter", "expected"), OWNER_ID_FILTERS)
def test_an_owners_filter_on_id_answers_as_dynamodb_would_on_id(
    api: Api, user: str, filter: dict[str, Any], expected: list[str]
) -> None:
    assert selected(filter, [u for u in EVERYONE if u == user]) == expected  # the oracle
    assert api.listed(owner(user), filter) == expected
    assert api.synced(owner(user), filter, last_sync=0) == expected
    assert api.synced(owner(user), filter, last_sync=12000) == []  # nothing changed since


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
def broken(api: Api) -> Iterator[dict[str, dict[str, Any]]]:
    """An item whose ``owner`` is another user's (userpipe never writes one, an import or a
    console edit could), and one with no ``owner`` at all (read as its ``id``'s, as the recipe's
    owner field is)."""

    def like_u01(user_id: str) -> dict[str, Any]:  # a valid item but for its owner
        return STORED["u01"] | {"id": {"S": user_id}, "_lastChangedAt": {"N": "20000"}}

    items = {
        "u20": like_u01("u20") | {"owner": {"S": "u01"}},
        "u21": {k: v for k, v in like_u01("u21").items() if k != "owner"},
    }
    for item in items.values():
        api.pipe.clients.dynamodb.put_item(TableName=api.table, Item=item)
    yield items
    for user_id in items:
        api.pipe.clients.dynamodb.delete_item(TableName=api.table, Key={"id": {"S": user_id}})


@pytest.mark.parametrize(
    "filter",
    [
        None,
        {"id": {"eq": "u20"}},
        {"id": {"attributeExists": True}},
        {"id": {"ne": "u21"}, "email": {"contains": "@"}},
        {"not": {"id": {"attributeType": "number"}}},
    ],
)
def test_an_item_whose_owner_is_another_users_is_never_served_and_one_without_is_its_ids(
    api: Api, broken: dict[str, Any], filter: dict[str, Any] | None
) -> None:
    """An owner other than the id is refused (``User``): the read fails rather than serve an
    item whose owner rule and key disagree. No owner at all is the recipe's shape: read as the
    id's. Filters on id are decided on the key, never on ``owner``, so both answer as on id."""
    with pytest.raises(InternalFailure):
        api.listed(owner("u20"), filter)
    with pytest.raises(InternalFailure):
        api.synced(owner("u20"), filter, last_sync=0)
    with pytest.raises(InternalFailure):
        api.call("Query", "getUser", {"id": "u20"}, owner("u20"))
    with pytest.raises(InternalFailure):
        api.listed(ADMIN, filter, limit=100)
    selected_u21 = ["u21"] if reference(filter)(read_as(broken["u21"], POOL)) else []
    assert api.listed(owner("u21"), filter) == selected_u21
    assert api.synced(owner("u21"), filter, last_sync=0) == selected_u21
    assert api.call("Query", "getUser", {"id": "u21"}, owner("u21"))["owner"] == "u21"


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
        editable.update(ADMIN, {"id": "u04", "age": 42}, {"name": {}, "age": {"lt": 41}})


def test_an_update_condition_with_a_reversed_between_is_a_bad_request(editable: Api) -> None:
    condition = {"and": [{"age": {"between": [40, 30]}}]}
    with pytest.raises(BadRequest, match=r"^condition\.and\[0\]\.age\.between: "):
        editable.update(ADMIN, {"id": "u01", "age": 37}, condition)


# --- DynamoDB's 4 KB, counted on what is sent ------------------------------------------------


def sized(
    size: int, base: dict[str, Any], fields: frozenset[str] = FILTER_FIELDS
) -> dict[str, Any]:
    """``base`` and an ``or`` of ``age`` clauses, whose expression is exactly ``size`` bytes:
    long clauses (``attribute_exists``, or ``attribute_not_exists``, 4 bytes more) to come near,
    then ``lt`` or ``le`` (1 byte more) to land on it; about 14 bytes an operator, so 4 KB stays
    within DynamoDB's 300 operators."""

    def spec(longs: int, nots: int, les: int, lts: int) -> dict[str, Any]:
        clauses = [{"age": {"attributeExists": i >= nots}} for i in range(longs)]
        return {**base, "or": clauses + [{"age": {"le": 1}}] * les + [{"age": {"lt": 1}}] * lts}

    def length(spec: dict[str, Any]) -> int:
        expression = filter_expression(spec, fields=fields)
        assert expression is not None
        return len(expression.text.encode())

    for longs in range(max(1, size // 29 - 5), size // 20):
        gap = size - length(spec(longs, 0, 0, 3))
        if 0 <= gap <= 4 * longs + 3:
            found = spec(longs, gap // 4, gap % 4, 3 - gap % 4)
            assert length(found) == size
            return found
    raise AssertionError(f"no filter of {size} bytes")


def through_the_store(api: Api, shape: str) -> tuple[Callable[[Expression], Any], list[str]]:
    """A request of ``shape`` with a given filter or condition, and every expression that
    reached the table: the store on its own client, so what it sends can be read."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    sent: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params.get("FilterExpression") or params.get("ConditionExpression") or "")

    client.meta.events.register("before-parameter-build.dynamodb", record)
    store = DynamoUserApiStore(
        client, api.table, api.pipe.attribute("AuditTable", "name"), api.pool
    )

    def request(given: Expression) -> Any:
        if shape == "an Admin's list (Scan)":
            return store.list_users(1, None, where=given)  # one item is enough
        if shape.startswith("an owner's delta sync"):
            return store.list_users(1, None, where=given, only="u07", changed_after=1)
        now = datetime.now(UTC)
        return store.update_profile(
            "u08", {"age": 99}, expected_version=1, condition=given, now=now
        )

    return request, sent


@pytest.mark.parametrize(
    ("shape", "base"),
    [
        ("an Admin's list (Scan)", {"id": {"attributeExists": True}}),
        ("an owner's delta sync (Query by key)", {"name": {"attributeExists": True}}),
        # a condition that does not hold, so that nothing is written
        ("an update's condition (with the version check)", {"id": {"attributeExists": False}}),
    ],
)
def test_a_filter_is_refused_exactly_when_the_whole_expression_sent_would_pass_4_kb(
    api: Api, shape: str, base: dict[str, Any]
) -> None:
    """The store adds clauses around a client's filter or condition (the change time, the
    version check; an owner's clauses on id are decided before, never sent): DynamoDB counts
    them, so the API must too. The
    emulator refuses anything over 4 KB (``userpipe.local.dynamodb``), so sending one fails
    this test."""
    is_update = shape.startswith("an update")
    fields, root = (CONDITION_FIELDS, "condition") if is_update else (FILTER_FIELDS, "filter")
    request, sent = through_the_store(api, shape)
    sizes = range(MAX_EXPRESSION_BYTES - 100, MAX_EXPRESSION_BYTES + 2)  # the store adds < 100
    whole: dict[int, int] = {}
    refused: list[int] = []
    reasons: set[str] = set()
    for size in sizes:
        given = filter_expression(sized(size, base, fields), fields=fields, root=root)
        assert given is not None
        try:
            request(given)
        except BadRequest as error:
            refused.append(size)
            reasons.add(str(error).split(" (")[0])
            continue
        except ConditionNotMet:
            pass
        whole[size] = len(sent[-1].encode())
    (added,) = {whole[size] - size for size in whole}  # the store's own, the same every time
    assert max(whole.values()) == MAX_EXPRESSION_BYTES  # up to 4 KB is sent...
    assert refused == [size for size in sizes if size + added > MAX_EXPRESSION_BYTES]  # no more
    assert reasons == {f"{root}: too large for DynamoDB"}
    assert added > 0 or shape == "an Admin's list (Scan)"


def test_an_owners_delta_sync_near_4_kb_is_a_bad_request_not_an_internal_failure(
    api: Api,
) -> None:
    """Within 4 KB on its own, past it with the clause the store adds for a delta sync."""
    filter = sized(MAX_EXPRESSION_BYTES - 10, {"name": {"attributeExists": True}})
    assert api.listed(ADMIN, filter) == [u for u in EVERYONE if "name" in STORED[u]]  # a Scan
    with pytest.raises(BadRequest, match=r"^filter: too large for DynamoDB \(at most 29\d "):
        api.synced(owner("u07"), filter, last_sync=1)


# --- Every shape a client can send ------------------------------------------------------------

SCHEMA = load_schema()
LOGICAL = ("and", "or", "not")
#: Fields every stored user holds as a string: the only ones ``size`` is generated for (moto
#: raises on the size of a missing, Number, Boolean or NULL attribute; see the module docstring).
SIZED_FIELDS = frozenset(
    field
    for field in ("id", "email", "name", "createdAt", "updatedAt")
    if all(set(item.get(field, {})) == {"S"} for item in STORED.values())
)
TYPE_NAMES = {descriptor: name for name, descriptor in TYPE_DESCRIPTORS.items()}
OWNERS = [*EVERYONE, "u99"]  # u99: signed in, no item
LAST_SYNCS = [1, 4500, 8000, 11999, 12000]
ALPHABET = "aAdeknxz@.+-:0125TZ "


def stored_values(field: str, kind: str) -> list[Any]:
    return [item[field][kind] for item in STORED.values() if kind in item.get(field, {})]


def fragments(field: str) -> list[str]:
    """Strings that split the stored users: each stored value of ``field``, its prefixes, inner
    parts, ends, and other cases."""
    return sorted(
        {
            part
            for text in stored_values(field, "S")
            for part in (text, text[:1], text[:3], text[1:4], text[-4:], text.upper(), text.lower())
        }
    )


def rarely(rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``rare`` one time in eight: a null, an odd list or a refusal stays in the mix without
    turning most examples into a BadRequest."""
    return st.integers(0, 7).flatmap(lambda n: rare if n == 0 else usual)


def few(elements: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """One or two, now and then none or three: enough clauses to select some users and not
    others, rarely so many that nothing is left."""
    return rarely(
        st.lists(elements, max_size=3, unique=True),
        st.lists(elements, min_size=1, max_size=2, unique=True),
    )


def scalars(field: str, type_name: str, *, nonempty: bool = False) -> st.SearchStrategy[Any]:
    """Operands for ``field``, mostly near what the stored users hold there."""
    if type_name == "Int":
        near = {int(n) + step for n in stored_values(field, "N") for step in (-1, 0, 1)}
        return _sampled(near) | st.integers(-3, 153)
    if type_name == "Boolean":
        return st.booleans()
    parts = [part for part in fragments(field) if part or not nonempty]
    wholes = _sampled(set(stored_values(field, "S")))
    return wholes | _sampled(parts) | st.text(ALPHABET, min_size=int(nonempty), max_size=4)


def _sampled(values: Iterable[Any]) -> st.SearchStrategy[Any]:
    """One of ``values``; none when there are none (a field no stored user holds yet)."""
    ordered = sorted(set(values))
    return st.sampled_from(ordered) if ordered else st.nothing()


def bounds(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly an ordered pair; rarely null, a list of another length, nulls inside, or a pair
    in either order (a reversed one is refused)."""
    odd = (
        st.none()
        | st.lists(st.none() | values, max_size=3)
        | st.lists(values, min_size=2, max_size=2)
    )
    return rarely(odd, st.lists(values, min_size=2, max_size=2).map(sorted))


@st.composite
def size_inputs(draw: st.DrawFn, field: str) -> dict[str, Any]:
    size_input = SCHEMA.get_type("ModelSizeInput")
    assert isinstance(size_input, GraphQLInputObjectType)
    near = {len(text) + step for text in stored_values(field, "S") for step in (-1, 0, 1)}
    lengths = _sampled(near) | st.integers(0, 30)
    spec = {}
    for operator in draw(few(st.sampled_from(sorted(size_input.fields)))):
        spec[operator] = draw(
            rarely(st.none(), bounds(lengths) if operator == "between" else lengths)
        )
    return spec


@st.composite
def operator_inputs(draw: st.DrawFn, field: str, type_name: str) -> dict[str, Any]:
    """One field's operators (ModelStringInput, ModelIDInput, ModelIntInput, ...), as the
    schema declares them."""
    input_type = SCHEMA.get_type(type_name)
    assert isinstance(input_type, GraphQLInputObjectType)
    operand = get_named_type(input_type.fields["eq"].type).name
    allowed = [op for op in input_type.fields if op != "size" or field in SIZED_FIELDS]
    spec: dict[str, Any] = {}
    for op in draw(few(st.sampled_from(allowed))):
        if op in ("eq", "ne"):
            spec[op] = draw(rarely(st.none(), scalars(field, operand)))
        elif op in ORDERINGS:
            spec[op] = draw(scalars(field, operand))  # never null: undefined in DynamoDB's docs
        elif op in ("contains", "notContains", "beginsWith"):
            # never empty: what an empty substring or prefix matches is undefined in the docs
            spec[op] = draw(rarely(st.none(), scalars(field, operand, nonempty=True)))
        elif op == "between":
            spec[op] = draw(bounds(scalars(field, operand)))
        elif op == "attributeExists":
            spec[op] = draw(rarely(st.none(), st.booleans()))
        elif op == "attributeType":
            kinds = get_named_type(input_type.fields[op].type)
            assert isinstance(kinds, GraphQLEnumType)
            held = {
                TYPE_NAMES[next(iter(item[field]))] for item in STORED.values() if field in item
            }
            every = st.none() | st.sampled_from(sorted(kinds.values))
            spec[op] = draw(rarely(every, _sampled(held)) if held else every)
        elif op == "size":
            spec[op] = draw(rarely(st.none(), size_inputs(field)))
        else:
            raise AssertionError(f"{type_name}.{op}: an operator this generator does not know")
    if any(spec.get(op, MISSING) is None for op in ("eq", "ne")):
        # moto takes a missing attribute for NULL (module docstring): only where it exists.
        spec = {"attributeExists": True} | {k: v for k, v in spec.items() if k != "attributeExists"}
    return spec


@st.composite
def model_inputs(draw: st.DrawFn, type_name: str, depth: int) -> dict[str, Any]:
    """A ModelUserFilterInput / ModelUserConditionInput: a few of its fields (in any order: the
    order is the expression's), each null now and then; and/or/not nest ``depth`` deep, with
    lists of one or several and now and then none, a null list or null elements."""
    input_type = SCHEMA.get_type(type_name)
    assert isinstance(input_type, GraphQLInputObjectType)
    names = [name for name in input_type.fields if depth > 0 or name not in LOGICAL]
    spec: dict[str, Any] = {}
    for name in draw(few(st.sampled_from(names))):
        if name in ("and", "or"):
            element = rarely(st.none(), model_inputs(type_name, depth - 1))
            spec[name] = draw(
                rarely(
                    st.none() | st.just([]) | st.lists(element, max_size=3),
                    st.lists(element, min_size=1, max_size=3),
                )
            )
        elif name == "not":
            spec[name] = draw(rarely(st.none(), model_inputs(type_name, depth - 1)))
        else:
            operators = get_named_type(input_type.fields[name].type).name
            spec[name] = draw(rarely(st.none(), operator_inputs(name, operators)))
    return spec


def selected(spec: Mapping[str, Any] | None, users: list[str], root: str = "filter") -> list[str]:
    """The users ``spec`` selects, judged on the items they stand for (a recipe-shaped twin
    answers as its complete item)."""
    selects = reference(spec, root)
    return [user for user in users if selects(read_as(recipe_shaped(STORED[user]), POOL))]


def names_id(spec: Any) -> bool:
    if isinstance(spec, Mapping):
        return "id" in spec or any(names_id(value) for value in spec.values())
    if isinstance(spec, list):
        return any(names_id(value) for value in spec)
    return False


def outcome_size(count: int) -> str:
    return "none" if count == 0 else "all" if count == len(STORED) else "some"


# ~7 API calls an example for filters, 1 for conditions, each a few ms on moto: about 15 s and
# 5 s on an idle 2-core machine.
@settings(max_examples=200, deadline=None)
@given(
    filter=rarely(st.none(), model_inputs("ModelUserFilterInput", depth=2)),
    user=st.sampled_from(OWNERS),
    last_sync=st.sampled_from(LAST_SYNCS),
)
def test_every_filter_shape_lists_and_syncs_what_dynamodb_semantics_select(
    api: Api, filter: dict[str, Any] | None, user: str, last_sync: int
) -> None:
    try:
        expected = selected(filter, EVERYONE)
    except Refused as refused:
        event("refused")
        path = re.escape(refused.path)
        with pytest.raises(BadRequest, match=rf"^{path}: "):
            api.listed(ADMIN, filter)
        with pytest.raises(BadRequest, match=rf"^{path}: "):
            api.synced(owner(user), filter, last_sync)
        return
    event(f"selects {outcome_size(len(expected))}")
    changed = [u for u in expected if int(STORED[u]["_lastChangedAt"]["N"]) > last_sync]

    assert api.listed(ADMIN, filter) == expected
    assert api.synced(ADMIN, filter, last_sync=0, limit=100) == expected  # listed paged it
    assert api.synced(ADMIN, filter, last_sync=last_sync) == changed
    if names_id(filter):
        event("names id")  # an owner's Query may not filter on its key (userpipe.local.dynamodb)
    assert api.listed(owner(user), filter) == [u for u in expected if u == user]
    assert api.synced(owner(user), filter, last_sync) == [u for u in changed if u == user]


@settings(max_examples=250, deadline=None)
@given(
    condition=rarely(st.none(), model_inputs("ModelUserConditionInput", depth=2)),
    user=st.sampled_from(EVERYONE),
    version=st.sampled_from(["none", "current", "stale"]),
)
def test_every_condition_shape_decides_an_update_as_dynamodb_semantics_do(
    api: Api, condition: dict[str, Any] | None, user: str, version: str
) -> None:
    update: dict[str, Any] = {"id": user, "age": 99}
    if version != "none":
        update["_version"] = 1 if version == "current" else 7  # every stored user is at 1
    try:
        holds = bool(selected(condition, [user], root="condition"))
    except Refused as refused:
        event("refused")
        with pytest.raises(BadRequest, match=rf"^{re.escape(refused.path)}: "):
            api.update(ADMIN, update, condition)
        return
    event(f"{version} version, condition {'holds' if holds else 'fails'}")
    try:
        if STORED[user].get("_deleted") == {"BOOL": True}:
            # A deleted record holds no profile to edit: refused before any condition.
            with pytest.raises(NotFound, match=f"user {user} was deleted"):
                api.update(ADMIN, update, condition)
        elif version == "stale":
            with pytest.raises(ConflictUnhandled):
                api.update(ADMIN, update, condition)
        elif holds:
            edited = api.update(ADMIN, update, condition)
            assert (edited["age"], edited["_version"]) == (99, 2)
            assert edited["owner"] == user  # the API never moves owner off id
            written = api.pipe.clients.dynamodb.get_item(
                TableName=api.table, Key={"id": {"S": user}}
            )["Item"]
            # what a recipe-shaped twin lacked is written along; a complete item keeps its pool
            pool = STORED[user]["userPoolId"] if api.shape == "complete" else {"S": api.pool}
            assert (written["owner"], written["userPoolId"]) == ({"S": user}, pool)
        else:
            with pytest.raises(ConditionalCheckFailed):
                api.update(ADMIN, update, condition)
    finally:
        api.restore(user)
