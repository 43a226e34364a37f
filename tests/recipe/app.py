"""The recipe app on a running local stack, provisioned through public APIs as the recipe would
be (boto3 against the stack's endpoint, with the operator's credentials), for the adoption to
run against:

- the table the Amplify Gen 1 GraphQL transformer makes for
  ``type User @model @auth(rules: [{allow: owner, ownerField: "id"}])`` with conflict detection
  (DataStore): ``User-<apiId>-<env>``, key ``id`` (HASH), streams ``NEW_AND_OLD_IMAGES`` and TTL
  on ``_ttl`` (aws-amplify/amplify-category-api, ``amplify-graphql-model-transformer``
  ``createModelTable``: ``stream: StreamViewType.NEW_AND_OLD_IMAGES`` always,
  ``timeToLiveAttribute: '_ttl'`` when the project uses DataStore);
- the recipe's post-confirmation trigger (``tests.recipe.post_confirmation``) as a function of
  the stack, attached to the stack's own pool with ``UpdateUserPool``: the pool is the recipe's
  existing one, its users signing up through Cognito's API and confirming with the emailed code;
- what a DataStore client's save and delete do to an item, through AppSync's versioned data
  source (AppSync developer guide, "Versioned data source metadata"): ``_version`` +1,
  ``_lastChangedAt`` in epoch milliseconds, ``_deleted`` as the tombstone, ``_ttl`` in epoch
  seconds, ``BaseTableTTL`` after the delete — 43,200 minutes (30 days), what the transformer
  configures (``createModelTableDataSource``: ``baseTableTtl: '43200'``).

``RecipeApp.deploy(stack)`` provisions it; ``SignUpStream`` keeps users signing up meanwhile.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer

from userpipe.aws.clients import Clients
from userpipe.local import outbox
from userpipe.local.stack import LocalStack
from userpipe.ops.triggers import update_request

API_ID: Final = "rcp4fx2lqbdkzmw7hbn3tyu5ea"  # an AppSync API id's shape: 26 of [a-z0-9]
ENV: Final = "dev"
TABLE_NAME: Final = f"User-{API_ID}-{ENV}"
#: Amplify Gen 1 names an auth trigger ``<auth resource name><Trigger>-<env>``.
TRIGGER_NAME: Final = f"recipeauthPostConfirmation-{ENV}"
TRIGGER_PACKAGE: Final = "tests.recipe.post_confirmation"
BASE_TABLE_TTL_MINUTES: Final = 43_200
PASSWORD: Final = "Recipe-Passw0rd!"  # the stack pool's policy: 12+, all four kinds


@dataclass(frozen=True)
class RecipeUser:
    sub: str
    email: str


def _now() -> tuple[str, int, int]:
    """Now as AppSync writes it: ISO 8601 with milliseconds (``$util.time.nowISO8601()``),
    epoch milliseconds, epoch seconds."""
    now = datetime.now(UTC)
    iso = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return iso, int(now.timestamp() * 1000), int(now.timestamp())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class RecipeApp:
    def __init__(self, stack: LocalStack) -> None:
        outputs = stack.outputs()
        self.stack = stack
        self.clients = stack.clients()
        self.pool_id = str(outputs["user_pool_id"])
        self.client_id = str(outputs["user_pool_client_id"])
        self.outbox_path = Path(outputs["outbox_path"])
        self.table_name = TABLE_NAME
        self.trigger_arn = ""
        self.users: list[RecipeUser] = []
        self._run = uuid.uuid4().hex[:8]  # one app's addresses never meet another's
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def deploy(cls, stack: LocalStack) -> RecipeApp:
        """The table, the trigger as a function of the stack, attached to the pool."""
        app = cls(stack)
        dynamodb = app.clients.dynamodb
        dynamodb.create_table(
            TableName=TABLE_NAME,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        dynamodb.update_time_to_live(
            TableName=TABLE_NAME,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "_ttl"},
        )
        trigger = stack.add_function(TRIGGER_NAME, TRIGGER_PACKAGE, {"USERTABLE": TABLE_NAME})
        app.trigger_arn = trigger.arn
        app.use_trigger(trigger.arn)
        return app

    # --- the pool ---------------------------------------------------------------------------

    def lambda_config(self) -> dict[str, Any]:
        pool = self.clients.cognito.describe_user_pool(UserPoolId=self.pool_id)["UserPool"]
        return dict(pool.get("LambdaConfig") or {})

    def use_trigger(self, arn: str | None) -> None:
        """Make ``arn`` the pool's PostConfirmation trigger (``None``: no trigger). UpdateUserPool
        sets what it is not given to Cognito's defaults (API reference, UpdateUserPool), so the
        call carries the pool's whole updatable configuration, read first, with this one
        change."""
        update_user_pool(self.clients, self.pool_id, post_confirmation=arn)

    # --- users ------------------------------------------------------------------------------

    def sign_up(self, count: int) -> list[RecipeUser]:
        """``count`` users who sign up and confirm with the emailed code, one after another;
        the trigger the pool names writes their items."""
        return [self.sign_up_one() for _ in range(count)]

    def sign_up_one(self) -> RecipeUser:
        email = f"recipe-{self._run}-{next(self._numbers):06d}@example.com"
        cognito = self.clients.cognito
        sub = cognito.sign_up(ClientId=self.client_id, Username=email, Password=PASSWORD)["UserSub"]
        cognito.confirm_sign_up(
            ClientId=self.client_id, Username=email, ConfirmationCode=self.code(email)
        )
        user = RecipeUser(sub, email)
        with self._lock:
            self.users.append(user)
        return user

    def reset_password(self, user: RecipeUser, new_password: str = PASSWORD + "2") -> None:
        """ForgotPassword and ConfirmForgotPassword with the emailed code: the second fires
        PostConfirmation (``PostConfirmation_ConfirmForgotPassword``)."""
        cognito = self.clients.cognito
        cognito.forgot_password(ClientId=self.client_id, Username=user.email)
        cognito.confirm_forgot_password(
            ClientId=self.client_id,
            Username=user.email,
            ConfirmationCode=self.code(user.email, outbox.FORGOT_PASSWORD),
            Password=new_password,
        )

    def code(self, email: str, kind: str = outbox.SIGN_UP) -> str:
        code = outbox.latest_code(self.outbox_path, email, kind)
        if code is None:
            raise LookupError(f"no {kind} code in the outbox for that address")
        return code

    # --- the table, as DataStore changes it -------------------------------------------------

    def edit(self, user: RecipeUser, *, name: str | None = None, age: int | None = None) -> None:
        """A DataStore save of the user's own item: ``updateUser`` with the ``_version`` the
        client holds (optimistic concurrency: the write is conditional on it); AppSync sets
        ``updatedAt``, ``_version`` +1 and ``_lastChangedAt``."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = {"S": name}
        if age is not None:
            changes["age"] = {"N": str(age)}
        iso, millis, _ = _now()
        changes["updatedAt"] = {"S": iso}
        self._versioned_write(user, changes, millis)

    def datastore_delete(self, user: RecipeUser) -> None:
        """A DataStore delete: AppSync keeps the item as a tombstone (``_deleted`` true,
        ``_version`` +1, ``_lastChangedAt``) that DynamoDB's TTL removes ``BaseTableTTL``
        minutes later (``_ttl``, epoch seconds)."""
        _, millis, seconds = _now()
        changes = {
            "_deleted": {"BOOL": True},
            "_ttl": {"N": str(seconds + BASE_TABLE_TTL_MINUTES * 60)},
        }
        self._versioned_write(user, changes, millis)

    def _versioned_write(self, user: RecipeUser, changes: Mapping[str, Any], millis: int) -> None:
        held = self.item(user.sub)
        if held is None:
            raise LookupError(f"no item for {user.sub}")
        names = {f"#f{i}": field for i, field in enumerate(changes)}
        values = {f":f{i}": value for i, value in enumerate(changes.values())}
        assignments = [f"#f{i} = :f{i}" for i in range(len(changes))]
        self.clients.dynamodb.update_item(
            TableName=self.table_name,
            Key={"id": {"S": user.sub}},
            UpdateExpression="SET "
            + ", ".join([*assignments, "#v = #v + :one", "#changed = :changed"]),
            ConditionExpression="#v = :held",
            ExpressionAttributeNames={**names, "#v": "_version", "#changed": "_lastChangedAt"},
            ExpressionAttributeValues={
                **values,
                ":one": {"N": "1"},
                ":held": {"N": str(held["_version"])},
                ":changed": {"N": str(millis)},
            },
        )

    def item(self, sub: str) -> dict[str, Any] | None:
        found = self.clients.dynamodb.get_item(
            TableName=self.table_name, Key={"id": {"S": sub}}, ConsistentRead=True
        ).get("Item")
        return _from_dynamodb(found) if found else None

    def items(self) -> dict[str, dict[str, Any]]:
        """Every item of the table, by ``id``, with plain Python values."""
        found: dict[str, dict[str, Any]] = {}
        for page in self.clients.dynamodb.get_paginator("scan").paginate(
            TableName=self.table_name, ConsistentRead=True
        ):
            for raw in page.get("Items", []):
                item = _from_dynamodb(raw)
                found[str(item["id"])] = item
        return found


def _from_dynamodb(raw: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {name: _plain(deserializer.deserialize(value)) for name, value in raw.items()}


def update_user_pool(clients: Clients, pool_id: str, *, post_confirmation: str | None) -> None:
    """``UpdateUserPool`` with the pool's updatable configuration as ``DescribeUserPool`` reads
    it (the members botocore's model gives UpdateUserPool), ``LambdaConfig.PostConfirmation``
    changed: what the API reference tells a caller to do ("construct this API request to pass
    the existing configuration of your user pool, modified to include the changes"): the
    request ``userpipe attach-triggers`` sends (``userpipe.ops.triggers.update_request``)."""
    cognito = clients.cognito
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    triggers = dict(pool.get("LambdaConfig") or {})
    if post_confirmation is None:
        triggers.pop("PostConfirmation", None)
    else:
        triggers["PostConfirmation"] = post_confirmation
    cognito.update_user_pool(**update_request(pool, triggers))


class SignUpStream:
    """Users signing up and confirming at ``per_second`` in a thread of its own until
    ``stop()``: the sign-ups that arrive while an adoption runs. ``confirmed`` holds each user
    whose confirmation Cognito accepted, in order; a failed sign-up is kept in ``errors`` and
    the stream goes on."""

    def __init__(self, app: RecipeApp, per_second: float = 5.0) -> None:
        self.app = app
        self.interval = 1.0 / per_second
        self.confirmed: list[RecipeUser] = []
        self.errors: list[Exception] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recipe-sign-ups", daemon=True)

    def start(self) -> SignUpStream:
        self._thread.start()
        return self

    def stop(self) -> list[RecipeUser]:
        self._stopping.set()
        self._thread.join(timeout=60)
        return list(self.confirmed)

    def __enter__(self) -> SignUpStream:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                self.confirmed.append(self.app.sign_up_one())
            except Exception as error:  # kept for the test to report; the stream goes on
                self.errors.append(error)
            next_at += self.interval
            self._stopping.wait(max(0.0, next_at - time.monotonic()))
