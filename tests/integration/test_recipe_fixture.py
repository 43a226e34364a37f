"""The recipe fixture is faithful (``tests.recipe``), and the local Cognito runs whatever the
pool's ``LambdaConfig`` names, as Cognito does: the recipe's items have the recipe's shape, a
password reset overwrites one (the recipe's known defect), a DataStore save and delete change
the DataStore metadata as AppSync does, switching the trigger to userpipe's sends the next
confirmation to userpipe's pipeline, no trigger writes nothing, and an ARN no function has is
Cognito's ``UnexpectedLambdaException``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from contracts.topology import CONFIRM_TRIGGER
from tests.recipe.app import (
    BASE_TABLE_TTL_MINUTES,
    PASSWORD,
    RecipeApp,
    SignUpStream,
    update_user_pool,
)
from userpipe.local.client import StackClient, wait_for
from userpipe.local.sandbox import function_arn
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration

RECIPE_FIELDS = {
    "id",
    "__typename",
    "email",
    "createdAt",
    "updatedAt",
    "_version",
    "_lastChangedAt",
}
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def recipe(stack: LocalStack) -> RecipeApp:
    return RecipeApp.deploy(stack)


@pytest.fixture
def restored(recipe: RecipeApp) -> Iterator[RecipeApp]:
    """The recipe, its trigger attached again after the test."""
    yield recipe
    recipe.use_trigger(recipe.trigger_arn)


def _millis_now() -> int:
    return int(time.time() * 1000)


def test_the_table_is_the_transformers(recipe: RecipeApp) -> None:
    dynamodb = recipe.clients.dynamodb
    table = dynamodb.describe_table(TableName=recipe.table_name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=recipe.table_name)["TimeToLiveDescription"]
    assert recipe.table_name.startswith("User-") and recipe.table_name.endswith("-dev")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "_ttl")
    assert recipe.lambda_config()["PostConfirmation"] == recipe.trigger_arn


def test_a_confirmed_user_gets_the_recipes_item(recipe: RecipeApp) -> None:
    before = _millis_now()
    (user,) = recipe.sign_up(1)
    item = recipe.item(user.sub)
    assert item is not None
    assert set(item) == RECIPE_FIELDS  # no owner, no userPoolId, no name or age yet
    assert (item["id"], item["__typename"], item["email"]) == (user.sub, "User", user.email)
    assert item["_version"] == 1
    assert before <= item["_lastChangedAt"] <= _millis_now()  # epoch milliseconds
    assert ISO_MILLIS.match(item["createdAt"]) and item["updatedAt"] == item["createdAt"]


def test_a_datastore_save_and_delete_change_what_appsync_changes(recipe: RecipeApp) -> None:
    (user,) = recipe.sign_up(1)
    created = recipe.item(user.sub)
    assert created is not None
    recipe.edit(user, name="Ada", age=36)
    edited = recipe.item(user.sub)
    assert edited is not None
    assert (edited["name"], edited["age"], edited["_version"]) == ("Ada", 36, 2)
    assert edited["updatedAt"] >= created["updatedAt"]
    assert edited["createdAt"] == created["createdAt"]
    assert edited["_lastChangedAt"] >= created["_lastChangedAt"]

    recipe.datastore_delete(user)
    deleted = recipe.item(user.sub)
    assert deleted is not None
    assert (deleted["_deleted"], deleted["_version"], deleted["name"]) == (True, 3, "Ada")
    expires = time.time() + BASE_TABLE_TTL_MINUTES * 60
    assert abs(deleted["_ttl"] - expires) < 60  # epoch seconds, 30 days on
    assert deleted["_lastChangedAt"] >= edited["_lastChangedAt"]


def test_a_password_reset_overwrites_the_users_item(recipe: RecipeApp) -> None:
    """The recipe's defect: PostConfirmation fires on ConfirmForgotPassword too, and its
    unconditional PutItem puts back a first-sign-up item."""
    (user,) = recipe.sign_up(1)
    recipe.edit(user, name="Ada", age=36)
    recipe.reset_password(user)
    item = recipe.item(user.sub)
    assert item is not None
    assert set(item) == RECIPE_FIELDS and item["_version"] == 1  # name, age and version lost


def test_switching_the_trigger_sends_the_next_confirmation_to_userpipe(
    restored: RecipeApp, client: StackClient, stack: LocalStack
) -> None:
    """As ``aws cognito-idp update-user-pool --user-pool-id ID --lambda-config
    PostConfirmation=ARN`` does it: the call names nothing else (and the pool still signs its
    users in by email afterwards: the front keeps ``UsernameAttributes``, moto would not)."""
    recipe = restored
    userpipe_trigger = stack.sandboxes[CONFIRM_TRIGGER.id].arn
    recipe.clients.cognito.update_user_pool(
        UserPoolId=recipe.pool_id, LambdaConfig={"PostConfirmation": userpipe_trigger}
    )
    user = recipe.sign_up_one()
    wait_for(lambda: user.sub in client.users(), timeout=10, what="userpipe's item")
    assert recipe.item(user.sub) is None
    assert client.sign_in(user.email, PASSWORD).access  # by email, after the update

    recipe.use_trigger(recipe.trigger_arn)
    back = recipe.sign_up_one()
    assert recipe.item(back.sub) is not None


def test_with_no_trigger_nothing_is_written(restored: RecipeApp, client: StackClient) -> None:
    recipe = restored
    recipe.use_trigger(None)
    assert "PostConfirmation" not in recipe.lambda_config()
    user = recipe.sign_up_one()
    time.sleep(1.0)  # what userpipe's pipeline would need to write an item
    assert recipe.item(user.sub) is None
    assert user.sub not in client.users()


def test_an_arn_without_a_function_is_cognitos_unexpected_lambda_error(
    restored: RecipeApp,
) -> None:
    recipe = restored
    update_user_pool(
        recipe.clients,
        recipe.pool_id,
        post_confirmation=function_arn("eu-west-1", "deleted-function"),
    )
    cognito, email = recipe.clients.cognito, f"orphan-{uuid.uuid4().hex[:8]}@example.com"
    cognito.sign_up(ClientId=recipe.client_id, Username=email, Password=PASSWORD)
    with pytest.raises(ClientError) as raised:
        cognito.confirm_sign_up(
            ClientId=recipe.client_id, Username=email, ConfirmationCode=recipe.code(email)
        )
    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "UnexpectedLambdaException",
        "PostConfirmation invocation failed due to error AccessDeniedException.",
    )
    user = cognito.admin_get_user(UserPoolId=recipe.pool_id, Username=email)
    assert user["UserStatus"] == "CONFIRMED"  # as after any failed PostConfirmation


def test_sign_ups_keep_arriving_while_the_stream_runs(recipe: RecipeApp) -> None:
    with SignUpStream(recipe, per_second=10) as stream:
        wait_for(lambda: len(stream.confirmed) >= 5, timeout=20, what="five sign-ups")
    assert stream.errors == []
    items = recipe.items()
    assert all(user.sub in items for user in stream.confirmed)


def test_sign_ups_are_fast_enough_for_hundreds(recipe: RecipeApp) -> None:
    count = 100
    started = time.monotonic()
    users = recipe.sign_up(count)
    seconds = time.monotonic() - started
    print(f"\n{count} recipe sign-ups in {seconds:.1f} s ({count / seconds:.0f}/s)")
    assert len({u.sub for u in users} & set(recipe.items())) == count
