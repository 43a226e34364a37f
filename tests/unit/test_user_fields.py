"""The places that write the User's shape by hand agree with the field table
(``contracts/user_fields.py``): the GraphQL schema, the console, the Amplify model fixture. What
is derived from the table (the first item, the read model, the API's and the publisher's field
sets) is checked for what the table alone cannot promise."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType

from contracts.appsync import load_schema
from contracts.user_fields import (
    CONDITION,
    CONDITION_FIELDS,
    FIELD,
    FILTER_FIELDS,
    LIST_FILTER,
    PROFILE_FIELDS,
    PUBLISHED_FIELDS,
    SUBSCRIPTION_FILTER,
    SUBSCRIPTION_FILTER_FIELDS,
    UPDATE_INPUT,
    USER_FIELDS,
    Text,
    WholeNumber,
    profile_problem,
)
from contracts.user_item import first_version_item
from contracts.user_model import User
from tests.support import load_event

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "console" / "src"
MODEL_FIXTURE = ROOT / "tests" / "clients" / "models" / "schema.mjs"
#: An input's combinators, not fields.
COMBINATORS = {"and", "or", "not"}


def _object(name: str) -> GraphQLObjectType:
    found = load_schema().get_type(name)
    assert isinstance(found, GraphQLObjectType)
    return found


def _input(name: str) -> GraphQLInputObjectType:
    found = load_schema().get_type(name)
    assert isinstance(found, GraphQLInputObjectType)
    return found


def test_the_schemas_user_type_serves_the_tables_fields_with_their_types() -> None:
    served = {name: str(field.type) for name, field in _object("User").fields.items()}
    assert served == {field.name: field.graphql for field in USER_FIELDS if field.graphql}


def test_the_published_input_carries_the_published_fields_typed_as_the_user_type() -> None:
    published = {
        name: str(field.type) for name, field in _input("PublishUserChangeInput").fields.items()
    }
    assert tuple(published) == PUBLISHED_FIELDS
    assert published == {name: FIELD[name].graphql for name in PUBLISHED_FIELDS}


@pytest.mark.parametrize("input_name", ["UpdateUserInput", "CreateUserInput"])
def test_the_edit_inputs_take_exactly_the_profile_the_key_and_the_version(input_name: str) -> None:
    fields = {name: str(field.type) for name, field in _input(input_name).fields.items()}
    assert set(fields) == UPDATE_INPUT
    for name in PROFILE_FIELDS:
        assert fields[name] == str(FIELD[name].graphql).rstrip("!"), f"{input_name}.{name}"


@pytest.mark.parametrize(
    ("input_name", "derived"),
    [
        (LIST_FILTER, FILTER_FIELDS),
        (CONDITION, CONDITION_FIELDS),
        (SUBSCRIPTION_FILTER, SUBSCRIPTION_FILTER_FIELDS),
    ],
)
def test_each_filter_input_names_the_fields_the_table_marks_filterable_in_it(
    input_name: str, derived: frozenset[str]
) -> None:
    assert set(_input(input_name).fields) - COMBINATORS == derived


def test_every_profile_field_has_a_rule_and_is_optional() -> None:
    """The API checks an edit with the rule; a user without a profile yet is still a User."""
    for name in PROFILE_FIELDS:
        assert FIELD[name].rule is not None, name
        assert not FIELD[name].required, name
        assert profile_problem(name, None) is None


def test_the_first_item_holds_every_required_field_and_reads_as_a_user() -> None:
    item = first_version_item(load_event("eventbridge_user_confirmed")["detail"], "ada@x.io")
    first = {field.name for field in USER_FIELDS if field.initial is not None}
    assert {field.name for field in USER_FIELDS if field.required} <= first == set(item)
    assert User.from_item(item).to_item() == item


def test_the_read_model_stores_exactly_the_tables_fields() -> None:
    assert User.stored_names() == {field.name for field in USER_FIELDS}
    schema = User.model_json_schema(by_alias=True)
    required = {field.name for field in USER_FIELDS if field.required and field.fixed is None}
    assert set(schema["required"]) == required  # a fixed value is its own default


class _Elements(HTMLParser):
    """Every element of a page with an id, by id: its tag and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.headers: list[str] = []
        self._in_header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.by_id[str(attributes["id"])] = (tag, attributes)
        self._in_header = tag == "th"

    def handle_data(self, data: str) -> None:
        if self._in_header and data.strip():
            self.headers.append(data.strip())
            self._in_header = False


def _console() -> _Elements:
    page = _Elements()
    page.feed((CONSOLE / "index.html").read_text())
    return page


def test_the_console_shows_and_edits_every_profile_field_with_the_tables_rule() -> None:
    """The console's edit form is its list of profile fields (console/src/app.js reads it)."""
    page = _console()
    editable = [
        attributes["name"]
        for _, (tag, attributes) in page.by_id.items()
        if tag == "input" and str(attributes["id"]).startswith("edit-")
    ]
    assert editable == list(PROFILE_FIELDS)
    for name in PROFILE_FIELDS:
        assert f"record-{name}" in page.by_id, f"the record shows no {name}"
        assert name in page.headers, f"the Admin's table has no {name} column"
        _, box = page.by_id[f"edit-{name}"]
        rule = FIELD[name].rule
        if isinstance(rule, Text):
            assert box.get("maxlength") == str(rule.length[1]), name
        elif isinstance(rule, WholeNumber):
            assert box.get("type") == "number", name
            assert (box.get("min"), box.get("max")) == (str(rule.minimum), str(rule.maximum))


def test_the_console_reads_its_profile_fields_from_the_edit_form() -> None:
    code = (CONSOLE / "app.js").read_text()
    assert "document.querySelectorAll('#edit-form input[name]')" in code


def test_the_amplify_model_fixture_declares_every_profile_field() -> None:
    fixture = MODEL_FIXTURE.read_text()
    for name in PROFILE_FIELDS:
        graphql_type = str(FIELD[name].graphql).rstrip("!")
        declared = (
            rf"{name}: \{{ name: '{name}', isArray: false, type: '{graphql_type}', "
            "isRequired: false"
        )
        assert re.search(declared, fixture), f"tests/clients/models/schema.mjs lacks {name}"
