"""The user API reads User items in plain Python (``contracts.user_view``), held here to the
pydantic read model it stands in for: what the fast path accepts, the model accepts and serves
the same; what it does not, the model decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import dynamodb
from contracts.user_confirmed import user_confirmed_detail
from contracts.user_fields import USER_FIELDS
from contracts.user_item import first_version_item
from contracts.user_model import User
from contracts.user_view import read_plain, served_user

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"


def pipeline_item(**changes: Any) -> dict[str, Any]:
    detail = user_confirmed_detail(
        user_pool_id="eu-west-1_Ab12Cd34E",
        sub=SUB,
        confirmed_at=datetime(2026, 12, 4, tzinfo=UTC),
        origin="cognito",
    )
    item = dynamodb.from_item(first_version_item(detail, "ada@example.com"))
    return dynamodb.to_item({**item, **changes})


def model_answer(item: dict[str, Any]) -> dict[str, Any] | None:
    try:
        served: dict[str, Any] = User.from_item(item).model_dump(by_alias=True)
    except ValidationError:
        return None
    return served


@pytest.mark.parametrize(
    "changes",
    [{}, {"name": "Ada", "age": 36}, {"_deleted": True, "_ttl": 1_900_000_000}],
    ids=["first version", "profile", "tombstone"],
)
def test_what_the_pipeline_writes_takes_the_fast_path(changes: dict[str, Any]) -> None:
    """Otherwise the API would import pydantic on its first request after all."""
    item = pipeline_item(**changes)
    assert read_plain(item) is not None
    assert read_plain(item) == model_answer(item) == served_user(item)


ATTRIBUTE_VALUES = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=12)),
    st.sampled_from([{"S": SUB}, {"S": "User"}, {"S": "eu-west-1_Ab12Cd34E"}, {"S": "5"}]),
    st.builds(lambda n: {"N": str(n)}, st.integers(-5, 2_000_000_000)),
    st.sampled_from([{"N": "1.5"}, {"N": "7.0"}, {"BOOL": True}, {"BOOL": False}]),
    st.just({"NULL": True}),
)


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    """A pipeline item with some attributes replaced, dropped or added."""
    item = pipeline_item(name="Ada", age=36)
    names = [field.name for field in USER_FIELDS] + ["somethingElse"]
    for name in draw(st.lists(st.sampled_from(names), max_size=4)):
        if draw(st.booleans()):
            item.pop(name, None)
        else:
            item[name] = draw(ATTRIBUTE_VALUES)
    return item


@settings(max_examples=400, deadline=None)
@given(items())
def test_the_fast_path_serves_only_what_the_model_serves_and_the_same(
    item: dict[str, Any],
) -> None:
    plain, model = read_plain(item), model_answer(item)
    if plain is not None:
        assert plain == model
    if model is None:
        with pytest.raises(ValidationError):
            served_user(item)
    else:
        assert served_user(item) == model
