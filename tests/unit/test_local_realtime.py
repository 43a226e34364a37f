"""The local real-time endpoint's pieces without a socket: which published results reach which
subscription (arguments, enhanced filters, the mutation's selection), and how the connection's
authorization is read."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from graphql import parse

from contracts.appsync import load_schema
from userpipe.local.graphql import Subscription, SubscriptionHub, filter_matches
from userpipe.local.realtime import _connect_authorization

ADA = {"id": "u-ada", "name": "Ada", "age": 36, "_version": 2, "_deleted": None}


def subscription(field: str, query: str, **arguments: Any) -> Subscription:
    spec = arguments.pop("spec", None)
    return Subscription(field, arguments, spec, parse(query), {}, None)


@pytest.mark.parametrize(
    ("spec", "matches"),
    [
        (None, True),
        ({"name": {"eq": "Ada"}}, True),
        ({"name": {"ne": "Ada"}}, False),
        ({"age": {"gt": 30, "le": 36}}, True),
        ({"age": {"lt": 18, "gt": 35}}, True),  # one field's operators are ORed, as on AppSync
        ({"age": {"lt": 18, "gt": 40}}, False),
        ({"age": {"lt": 18, "gt": None}}, False),  # a null operator is no alternative
        ({"age": {"between": [37, 40]}}, False),
        ({"name": {"beginsWith": "A"}}, True),
        ({"name": {"in": ["Bob", "Ada"]}}, True),
        ({"name": {"notIn": ["Ada"]}}, False),
        ({"and": [{"name": {"eq": "Ada"}}, {"age": {"lt": 30}}]}, False),
        ({"or": [{"name": {"eq": "Bob"}}, {"age": {"ge": 36}}]}, True),
        ({"_deleted": {"eq": True}}, False),  # absent: only ne/notIn/notContains hold
        ({"_deleted": {"ne": True}}, True),
        ({"age": {"gt": "thirty"}}, False),  # incomparable: no match, no crash
        ({"name": {"eq": None}}, True),  # an operator given as null is no condition
    ],
)
def test_an_enhanced_filter_matches_as_written(spec: Any, matches: bool) -> None:
    assert filter_matches(spec, ADA) is matches


def test_a_result_reaches_the_subscriptions_of_fields_naming_its_mutation_that_match() -> None:
    hub = SubscriptionHub(load_schema())
    received: dict[str, list[dict[str, Any]]] = {"own": [], "other": [], "all": [], "create": []}
    fields = "{ onUpdateUser(id: $id) { id name __typename } }"
    query = f"subscription S($id: String) {fields}"
    hub.add("own", subscription("onUpdateUser", query, id="u-ada"), received["own"].append)
    hub.add("other", subscription("onUpdateUser", query, id="u-bob"), received["other"].append)
    hub.add(
        "all",
        subscription("onUpdateUser", query, spec={"age": {"ge": 18}}),
        received["all"].append,
    )
    hub.add(
        "create",
        subscription("onCreateUser", "subscription { onCreateUser { id } }"),
        received["create"].append,
    )

    assert hub.publish("updateUser", {"id": "u-ada", "name": "Ada", "age": 36}) == 2
    assert received["own"] == [{"data": {"onUpdateUser": {"id": "u-ada", "name": "Ada",
                                                          "__typename": "User"}}}]  # fmt: skip
    assert received["other"] == [] and received["create"] == []
    assert len(received["all"]) == 1
    assert hub.publish("publishUserCreated", {"id": "u-cy"}) == 1
    assert received["create"] == [{"data": {"onCreateUser": {"id": "u-cy"}}}]
    assert hub.remove("own") and not hub.remove("own")
    assert hub.publish("updateUser", {"id": "u-ada", "name": "Ada L.", "age": 36}) == 1


def test_a_non_null_field_the_mutation_did_not_select_is_an_error_in_the_payload() -> None:
    hub = SubscriptionHub(load_schema())
    got: list[dict[str, Any]] = []
    query = "subscription { onUpdateUser { id createdAt } }"
    hub.add("k", subscription("onUpdateUser", query), got.append)
    hub.publish("updateUser", {"id": "u-ada"})
    ((payload),) = got
    assert payload["data"] == {"onUpdateUser": None}
    assert "createdAt" in payload["errors"][0]["message"]


def test_the_connections_authorization_comes_from_the_subprotocol_or_the_query() -> None:
    header = {"Authorization": "token", "host": "127.0.0.1:4748"}
    raw = json.dumps(header).encode()
    unpadded = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    by_protocol = {"subprotocols": ["graphql-ws", f"header-{unpadded}"]}
    query = f"header={base64.b64encode(raw).decode()}&payload=e30="
    by_query = {"subprotocols": ["graphql-ws"], "query_string": query.encode()}
    assert _connect_authorization(by_protocol) == header
    assert _connect_authorization(by_query) == header
    with pytest.raises(ValueError, match="no authorization"):
        _connect_authorization({"subprotocols": ["graphql-ws"]})
    with pytest.raises(ValueError, match="not base64 of a JSON object"):
        _connect_authorization({"subprotocols": ["graphql-ws", "header-!!!"]})


def test_a_failing_delivery_neither_fails_the_mutation_nor_starves_the_others() -> None:
    hub = SubscriptionHub(load_schema())
    got: list[dict[str, Any]] = []

    def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("socket gone")

    query = "subscription { onUpdateUser { id } }"
    hub.add("broken", subscription("onUpdateUser", query), broken)
    hub.add("fine", subscription("onUpdateUser", query), got.append)
    assert hub.publish("updateUser", {"id": "u-ada"}) == 1
    assert got == [{"data": {"onUpdateUser": {"id": "u-ada"}}}]
