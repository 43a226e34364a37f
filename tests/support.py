"""Real event shapes (tests/events/*.json), loaded by one helper, and builders on top of them."""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.names import REPLAY_MARK

if TYPE_CHECKING:
    from tests.harness import InProcessPipeline

EVENTS = Path(__file__).parent / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json`` with top-level keys overridden."""
    return {**copy.deepcopy(_load(name)), **overrides}


def cognito_sign_up(sub: str | None = None, email: str = "ada@example.com") -> dict[str, Any]:
    event = load_event("cognito_post_confirmation_sign_up")
    if sub:
        event["userName"] = sub
        event["request"]["userAttributes"]["sub"] = sub
    event["request"]["userAttributes"]["email"] = email
    return event


def user_confirmed_envelope(
    sub: str | None = None,
    *,
    confirmed_at: str = "2026-11-28T06:59:59.870Z",
    replay_name: str | None = None,
) -> dict[str, Any]:
    """An EventBridge ``UserConfirmed`` event with a new event id, as a replay would have (no
    email: the projector reads it from Cognito)."""
    envelope = load_event("eventbridge_user_confirmed", id=str(uuid.uuid4()))
    detail = envelope["detail"]
    if sub:
        detail["sub"] = sub
    detail["confirmedAt"] = confirmed_at
    if replay_name:
        envelope["replay-name"] = replay_name
    return envelope


def sqs_event(*bodies: str | dict[str, Any]) -> dict[str, Any]:
    """An SQS batch for Lambda; dict bodies are JSON-encoded, message ids are unique."""
    records = []
    for body in bodies:
        record = load_event("sqs_record", messageId=str(uuid.uuid4()))
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


def stream_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def all_stream_records(pipe: InProcessPipeline) -> list[dict[str, Any]]:
    """Every record the User table's stream holds, from the start, as Lambda would see them."""
    from userpipe.aws.streams import stream_record

    streams, arn = pipe.clients.streams, pipe.attribute("UserTable", "stream_arn")
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        response = streams.get_records(ShardIterator=iterator, Limit=1000)
        records += [stream_record(record, arn) for record in response["Records"]]
    return records


def cognito_identity(sub: str, groups: list[str] | None = None) -> dict[str, Any]:
    """The identity AppSync passes for a Cognito user pool caller (from an access token)."""
    identity = load_event("appsync_get_user")["identity"]
    identity["sub"] = identity["username"] = sub
    identity["claims"] |= {"sub": sub, "username": sub}
    identity["groups"] = groups
    if groups:
        identity["claims"]["cognito:groups"] = groups
    else:
        del identity["claims"]["cognito:groups"]
    return identity


def iam_identity() -> dict[str, Any]:
    """An IAM principal of the account: an operator."""
    return load_event("appsync_identity_iam")


def identity_pool_identity(*, authenticated: bool) -> dict[str, Any]:
    """An IAM caller whose credentials came from a Cognito identity pool: an app's guest or
    signed-in end user, as AppSync describes it for AWS_IAM."""
    identity = load_event("appsync_identity_iam")
    identity |= {
        "cognitoIdentityPoolId": "eu-west-1:0f6b7c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b",
        "cognitoIdentityId": "eu-west-1:9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
        "cognitoIdentityAuthType": "authenticated" if authenticated else "unauthenticated",
        "cognitoIdentityAuthProvider": (
            '"cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E",'
            '"cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E:CognitoSignIn:'
            '7d8ca528-4931-4254-9273-ea5ee853f271"'
            if authenticated
            else None
        ),
        "userArn": "arn:aws:sts::123456789012:assumed-role/app-identity-pool-role/"
        "CognitoIdentityCredentials",
        "username": "AROAEXAMPLEAPP:CognitoIdentityCredentials",
    }
    return identity


def appsync_event(
    type_name: str,
    field: str,
    arguments: dict[str, Any],
    identity: dict[str, Any] | None,
) -> dict[str, Any]:
    """An AppSync direct Lambda resolver event for one field."""
    event = load_event("appsync_get_user", arguments=arguments, identity=identity)
    event["info"] |= {"parentTypeName": type_name, "fieldName": field}
    return event


def unwrap(answer: dict[str, Any]) -> Any:
    """The field's value from the API resolver's answer; an error answer is raised as the API's
    own error class of that ``type``, carrying the answer's message and ``data``."""
    from services.user_api import errors, page_tokens

    if "error" not in answer:
        return answer["data"]
    failure = answer["error"]
    by_error_type = {
        getattr(value, "error_type", None): value
        for value in vars(errors).values()
        if isinstance(value, type)
    }
    kind = (
        by_error_type.get(failure["type"])
        or getattr(errors, failure["type"], None)
        or getattr(page_tokens, failure["type"])
    )
    error = kind.__new__(kind)
    Exception.__init__(error, failure["message"])
    error.data = failure["data"]
    raise error


def confirmed(client: Any, *, admin: bool = False) -> tuple[str, str, str]:
    """A new confirmed, projected user of the local stack (``client``: a ``StackClient``), in
    the Admin group if asked: (email, sub, access token)."""
    import uuid

    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    sub, tokens = client.confirmed_user(email, STACK_PASSWORD, groups=("Admin",) if admin else ())
    return email, sub, tokens.access


#: The password every test user of the local stack signs up with.
STACK_PASSWORD = "Correct-Horse-9-Battery!"


def replay_writes(record: dict[str, Any], mark: str = "userpipe-rebuild-1") -> list[dict[str, Any]]:
    """The User-stream records of the projector's two writes replaying the change ``record``
    made: its new image with the replay mark set, then the mark removed."""
    marked = copy.deepcopy(record)
    marked["dynamodb"]["NewImage"][REPLAY_MARK] = {"S": mark}
    cleanup = copy.deepcopy(marked)
    cleanup["eventName"] = "MODIFY"
    cleanup["dynamodb"]["OldImage"] = copy.deepcopy(marked["dynamodb"]["NewImage"])
    del cleanup["dynamodb"]["NewImage"][REPLAY_MARK]
    cleanup["dynamodb"]["SequenceNumber"] += "9"
    return [marked, cleanup]
