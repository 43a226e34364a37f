"""The API's Lambda entry point on moto, in-process, with the environment the declaration gives
it: secret-backed page tokens, DynamoDB paging, the audit trail, cold-start faults."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from contracts.user_model import User
from services.confirm_trigger.logic import user_confirmed_from
from services.confirm_trigger.publisher import EventBridgePublisher
from services.user_api.errors import (
    BadRequest,
    ConditionalCheckFailed,
    ConflictUnhandled,
    Unauthorized,
)
from services.user_api.page_tokens import InvalidNextToken
from tests.harness import InProcessPipeline, in_process_pipeline
from tests.support import (
    appsync_event,
    cognito_identity,
    iam_identity,
    unwrap,
)

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery"
ADMIN = cognito_identity("00000000-0000-4000-8000-00000000000c", ["Admin"])


class Pipeline:
    """Users confirmed through the bus and projected; the API called as AppSync would."""

    def __init__(self, pipe: InProcessPipeline) -> None:
        self.pipe = pipe
        self.clients = pipe.clients
        self.user_table = pipe.attribute("UserTable", "name")

    def sign_up(self, email: str, _password: str = PASSWORD) -> str:
        sub = str(uuid.uuid4())
        detail = user_confirmed_from(self.pipe.confirmation(sub, email), datetime.now(UTC))
        assert detail is not None
        EventBridgePublisher(self.clients.events, self.pipe.attribute("Bus", "name")).publish(
            detail
        )
        return sub

    def settle(self) -> None:
        self.pipe.settle()

    def users(self) -> dict[str, User]:
        return self.pipe.users()

    def graphql(self, type_name: str, field: str, arguments: dict[str, Any], identity: Any) -> Any:
        return unwrap(self.pipe.api(appsync_event(type_name, field, arguments, identity)))


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    with in_process_pipeline() as pipe:
        yield Pipeline(pipe)


def every_page(pipeline: Pipeline, field: str, limit: int, **arguments: Any) -> list[Any]:
    pages, token = [], None
    while True:
        page = pipeline.graphql(
            "Query", field, {**arguments, "limit": limit, "nextToken": token}, ADMIN
        )
        pages.append(page["items"])
        token = page["nextToken"]
        if token is None:
            return pages


def test_listing_every_user_over_several_pages_returns_each_once(pipeline: Pipeline) -> None:
    subs = {pipeline.sign_up(f"user{i}@example.com", PASSWORD) for i in range(12)}
    pipeline.settle()
    pages = every_page(pipeline, "listUsers", limit=5)
    seen = [item["id"] for page in pages for item in page]
    assert len(pages) >= 3
    assert sorted(seen) == sorted(subs)


def test_an_update_condition_is_honoured_and_a_failed_one_answers_as_appsync_does(
    pipeline: Pipeline,
) -> None:
    """``condition`` becomes part of DynamoDB's ConditionExpression (moto evaluates it); a
    failed one keeps the item and answers DynamoDB:ConditionalCheckFailedException."""
    sub = pipeline.sign_up("grace@example.com", PASSWORD)
    pipeline.settle()
    owner = cognito_identity(sub)
    edit = {"input": {"id": sub, "age": 40}, "condition": {"name": {"attributeExists": False}}}
    edited = pipeline.graphql("Mutation", "updateUser", edit, owner)
    assert (edited["age"], edited["_version"]) == (40, 2)

    refused = {"input": {"id": sub, "age": 41, "_version": 2}, "condition": {"age": {"lt": 40}}}
    with pytest.raises(ConditionalCheckFailed, match="The conditional request failed"):
        pipeline.graphql("Mutation", "updateUser", refused, owner)
    stale = {"input": {"id": sub, "age": 41, "_version": 1}, "condition": {"age": {"eq": 40}}}
    with pytest.raises(ConflictUnhandled, match="_version 2"):
        pipeline.graphql("Mutation", "updateUser", stale, owner)
    assert (pipeline.users()[sub].age, pipeline.users()[sub].version) == (40, 2)


def test_an_owner_edits_their_profile_and_the_audit_trail_shows_it(pipeline: Pipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()
    owner = cognito_identity(sub)
    me = pipeline.graphql("Query", "me", {}, owner)
    for version, name in enumerate(["Ada", "Ada L.", "Ada Lovelace"], start=me["_version"]):
        update = {"id": sub, "name": name, "_version": version}
        pipeline.graphql("Mutation", "updateUser", {"input": update}, owner)
    with pytest.raises(ConflictUnhandled, match="_version 4"):
        pipeline.graphql(
            "Mutation", "updateUser", {"input": {"id": sub, "age": 3, "_version": 1}}, owner
        )
    pipeline.settle()

    pages = every_page(pipeline, "auditTrail", limit=3, userId=sub)
    trail = [record for page in pages for record in page]
    assert [r["eventName"] for r in trail] == ["MODIFY", "MODIFY", "MODIFY", "INSERT"]
    assert [r["newVersion"] for r in trail] == [4, 3, 2, 1]
    assert all("ada@example.com" not in r["changes"] for r in trail)
    assert (
        pipeline.graphql("Query", "getUser", {"id": sub}, iam_identity())["name"] == "Ada Lovelace"
    )


def test_a_user_cannot_read_anothers_audit_trail_or_profile(pipeline: Pipeline) -> None:
    ada = pipeline.sign_up("ada@example.com", PASSWORD)
    eve = pipeline.sign_up("eve@example.com", PASSWORD)
    pipeline.settle()
    with pytest.raises(Unauthorized):
        pipeline.graphql("Query", "getUser", {"id": ada}, cognito_identity(eve))
    with pytest.raises(Unauthorized):
        pipeline.graphql("Query", "auditTrail", {"userId": ada}, cognito_identity(eve))


@pytest.mark.parametrize(
    ("field", "arguments"),
    [
        ("getUser", {"id": ""}),
        ("getUser", {"id": "é" * 1025}),  # 2,050 bytes: past DynamoDB's 2,048-byte key
        ("auditTrail", {"userId": ""}),
        ("auditTrail", {"userId": "x" * 2049}),
    ],
)
def test_a_key_dynamodb_cannot_hold_is_a_bad_request_not_an_internal_failure(
    pipeline: Pipeline, field: str, arguments: dict[str, Any]
) -> None:
    """DynamoDB refuses an empty key or one over 2,048 bytes with a ValidationException; the API
    answers the caller's mistake as one, naming the argument and the rule."""
    name = next(iter(arguments))
    with pytest.raises(BadRequest, match=rf"^{name} must be 1 to 2048 bytes"):
        pipeline.graphql("Query", field, arguments, ADMIN)


def test_an_edit_of_a_key_dynamodb_cannot_hold_is_a_bad_request(pipeline: Pipeline) -> None:
    edit = {"input": {"id": "x" * 2049, "name": "Ada"}}
    with pytest.raises(BadRequest, match=r"^input.id must be 1 to 2048 bytes"):
        pipeline.graphql("Mutation", "updateUser", edit, ADMIN)


def test_a_forged_token_is_refused_by_the_deployed_resolver(pipeline: Pipeline) -> None:
    for i in range(3):
        pipeline.sign_up(f"user{i}@example.com", PASSWORD)
    pipeline.settle()
    page = pipeline.graphql("Query", "listUsers", {"limit": 1}, ADMIN)
    with pytest.raises(InvalidNextToken):
        pipeline.graphql(
            "Query", "listUsers", {"limit": 1, "nextToken": page["nextToken"][:-3]}, ADMIN
        )


def test_items_with_attributes_the_model_does_not_know_are_read_and_edited_normally(
    pipeline: Pipeline,
) -> None:
    """A migration, a console edit or a later version may add attributes; reads ignore them
    (never echo them) and an edit still reports its own result."""
    subs = [pipeline.sign_up(f"user{i}@example.com", PASSWORD) for i in range(3)]
    pipeline.settle()
    pipeline.clients.dynamodb.update_item(
        TableName=pipeline.user_table,
        Key={"id": {"S": subs[1]}},
        UpdateExpression="SET phone = :p, flags = :f, avatar = :a",
        ExpressionAttributeValues={
            ":p": {"S": "+44 20 7946 0000"},
            ":f": {"NS": ["1", "2"]},
            ":a": {"B": b"\x89PNG"},
        },
    )
    owner = cognito_identity(subs[1])

    me = pipeline.graphql("Query", "getUser", {"id": subs[1]}, owner)
    listed = [item for page in every_page(pipeline, "listUsers", limit=2) for item in page]
    edited = pipeline.graphql(
        "Mutation",
        "updateUser",
        {"input": {"id": subs[1], "name": "Ada", "_version": me["_version"]}},
        owner,
    )

    assert me["id"] == subs[1] and "phone" not in me
    assert sorted(item["id"] for item in listed) == sorted(subs)
    assert all("phone" not in item and "avatar" not in item for item in listed)
    assert (edited["name"], edited["_version"]) == ("Ada", me["_version"] + 1)
    assert "phone" not in edited
    stored = pipeline.clients.dynamodb.get_item(
        TableName=pipeline.user_table, Key={"id": {"S": subs[1]}}
    )["Item"]
    assert stored["phone"] == {"S": "+44 20 7946 0000"}  # kept, just not served
    pipeline.settle()
    assert pipeline.pipe.audit.discarded == 0  # the changes to that item were audited too


def test_writing_stays_strict_about_unknown_attributes() -> None:
    from pydantic import ValidationError

    from contracts.user_model import User

    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        User.model_validate(
            {
                "id": "00000000-0000-4000-8000-00000000000a",
                "userPoolId": "eu-west-1_Ab12Cd34E",
                "email": "a@example.com",
                "owner": "00000000-0000-4000-8000-00000000000a",
                "createdAt": "2026-11-28T07:00:00.000Z",
                "updatedAt": "2026-11-28T07:00:00.000Z",
                "_version": 1,
                "_lastChangedAt": 1,
                "phone": "+44",
            }
        )


@pytest.fixture
def cold_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API's Lambda entry point on a fresh cold start, with a secret set up by the test."""
    from moto import mock_aws

    from services.user_api import handler

    with mock_aws():
        secrets = boto3.client("secretsmanager")

        def start(**secret: Any) -> str:
            arn = secrets.create_secret(Name="page-token-key", **secret)["ARN"]
            for name, value in {
                "USER_TABLE_NAME": "users",
                "AUDIT_TABLE_NAME": "audit",
                "PAGE_TOKEN_SECRET_ARN": arn,
                "ADMIN_GROUP": "Admin",
                "USER_POOL_ID": "eu-west-1_Ab12Cd34E",
            }.items():
                monkeypatch.setenv(name, value)
            handler.default_api.cache_clear()
            return arn

        yield start
    handler.default_api.cache_clear()


@pytest.mark.parametrize(
    ("secret", "unset", "cause"),
    [
        ({"SecretString": "k" * 48}, "PAGE_TOKEN_SECRET_ARN", "MissingSettingError"),
        ({"SecretString": "k" * 48}, "USER_TABLE_NAME", "MissingSettingError"),
        ({}, None, "ResourceNotFoundException"),  # a secret without a value
        ({"SecretString": "short"}, None, "ValueError"),
        ({"SecretBinary": b"k" * 48}, None, "PageTokenKeyError"),
    ],
    ids=["no-secret-setting", "no-table-setting", "secret-without-value", "short", "binary"],
)
def test_a_dependency_that_cannot_be_built_is_an_internal_failure_naming_the_request(
    secret: dict[str, Any],
    unset: str | None,
    cause: str,
    cold_api: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    log_lines: Any,
) -> None:
    from services.user_api import handler
    from services.user_api.errors import InternalFailure
    from tests.support import appsync_event

    arn = cold_api(**secret)
    if unset:
        monkeypatch.delenv(unset)
    event = appsync_event("Query", "getUser", {"id": ADMIN["sub"]}, ADMIN)

    with pytest.raises(InternalFailure) as failure:
        unwrap(handler.lambda_handler(event, lambda_context))

    assert str(failure.value) == f"Internal failure (request {lambda_context.aws_request_id})"
    (line,) = [entry for entry in log_lines() if entry["level"] == "ERROR"]
    assert (line["message"], line["error"]) == ("resolver dependencies unavailable", cause)
    assert arn not in str(failure.value) and "arn:" not in str(failure.value)


def test_a_failed_cold_start_is_retried_on_the_next_request(
    cold_api: Any, lambda_context: Any
) -> None:
    from services.user_api import handler
    from services.user_api.errors import InternalFailure
    from tests.support import appsync_event

    arn = cold_api()
    event = appsync_event("Query", "listUsers", {}, ADMIN)
    with pytest.raises(InternalFailure):
        unwrap(handler.lambda_handler(event, lambda_context))
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString="k" * 48)
    boto3.client("dynamodb").create_table(
        TableName="users",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    assert unwrap(handler.lambda_handler(event, lambda_context)) == {
        "items": [],
        "nextToken": None,
    }


def test_the_deployed_resolver_refuses_altered_tokens_federated_callers_and_control_characters(
    pipeline: Pipeline,
) -> None:
    """Items 9-11 of the hardening, through the API's Lambda entry point on moto."""
    from services.user_api.errors import BadRequest
    from tests.support import identity_pool_identity

    subs = [pipeline.sign_up(f"user{i}@example.com", PASSWORD) for i in range(3)]
    pipeline.settle()
    token = pipeline.graphql("Query", "listUsers", {"limit": 1}, ADMIN)["nextToken"]
    for altered in (token + "==", token + "!", token + "\n"):
        with pytest.raises(InvalidNextToken):
            pipeline.graphql("Query", "listUsers", {"limit": 1, "nextToken": altered}, ADMIN)
    for federated in (
        identity_pool_identity(authenticated=False),
        identity_pool_identity(authenticated=True),
    ):
        with pytest.raises(Unauthorized):
            pipeline.graphql("Query", "listUsers", {}, federated)
        with pytest.raises(Unauthorized):
            pipeline.graphql("Query", "getUser", {"id": subs[0]}, federated)
    owner = cognito_identity(subs[0])
    for name in ("Ada\x00", "Ada\x1b[2J", "Ada\r\nL.", "\u202eAda", "   "):
        update = {"id": subs[0], "name": name, "_version": 1}
        with pytest.raises(BadRequest, match="printable"):
            pipeline.graphql("Mutation", "updateUser", {"input": update}, owner)
    assert pipeline.users()[subs[0]].version == 1


# --- Amplify's list and sync: filters, owner scope, delta sync -------------------------------


def test_a_list_filter_is_applied_by_dynamodb_after_the_limit(pipeline: Pipeline) -> None:
    """As with Amplify's resolvers: a page may hold fewer items than ``limit``, and following
    ``nextToken`` to the end finds every match once."""
    wanted = {pipeline.sign_up(f"ada{i}@example.com", PASSWORD) for i in range(4)}
    for i in range(6):
        pipeline.sign_up(f"bob{i}@example.org", PASSWORD)
    pipeline.settle()
    pages = every_page(pipeline, "listUsers", limit=3, filter={"email": {"beginsWith": "ada"}})
    found = [item["id"] for page in pages for item in page]
    assert sorted(found) == sorted(wanted)
    # 10 users read 3 at a time: 4 pages, whatever the filter keeps of each (2 if it ran first)
    assert len(pages) == 4


def test_sync_pages_share_one_started_at_and_a_delta_brings_only_later_changes(
    pipeline: Pipeline,
) -> None:
    subs = [pipeline.sign_up(f"sync{i}@example.com", PASSWORD) for i in range(5)]
    pipeline.settle()
    pages, token = [], None
    while True:
        page = pipeline.graphql("Query", "syncUsers", {"limit": 2, "nextToken": token}, ADMIN)
        pages.append(page)
        token = page["nextToken"]
        if token is None:
            break
    started = pages[0]["startedAt"]
    assert len(pages) == 3 and {page["startedAt"] for page in pages} == {started}
    assert sorted(item["id"] for page in pages for item in page["items"]) == sorted(subs)

    owner = cognito_identity(subs[2])
    pipeline.graphql("Mutation", "updateUser", {"input": {"id": subs[2], "age": 9}}, owner)
    delta = pipeline.graphql("Query", "syncUsers", {"lastSync": started}, ADMIN)
    assert [(item["id"], item["age"]) for item in delta["items"]] == [(subs[2], 9)]
    assert delta["startedAt"] >= started and delta["nextToken"] is None
    full = pipeline.graphql("Query", "syncUsers", {"lastSync": 0}, ADMIN)
    assert len(full["items"]) == len(subs)

    mine = pipeline.graphql("Query", "syncUsers", {}, owner)
    assert [item["id"] for item in mine["items"]] == [subs[2]]  # the owner rule
    with pytest.raises(InvalidNextToken):  # a token belongs to its own sync
        pipeline.graphql(
            "Query", "syncUsers", {"lastSync": 1, "nextToken": pages[0]["nextToken"]}, ADMIN
        )
