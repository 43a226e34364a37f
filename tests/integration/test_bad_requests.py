"""Malformed requests to the local stack, on its real ports: a scalar AppSync would refuse, a
key DynamoDB cannot hold, a body nested 100,000 deep, a NUL in the path. Each is answered as a
client's mistake (400/404, or a GraphQL error naming the rule), never as a 500 or
InternalFailure, and the stack answers normally afterwards."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from tests.support import confirmed
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
DEEP = b"[" * 100_000 + b"]" * 100_000
SYNC = "{ syncUsers(lastSync: %s) { startedAt } }"


@pytest.fixture(scope="module")
def admin(client: StackClient) -> str:
    return confirmed(client, admin=True)[2]


def post(stack: LocalStack, path: str, body: bytes, **headers: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data.startswith((b"{", b"[")) else data


def aws(service: str, target: str, version: str = "1.0") -> dict[str, str]:
    return {
        "X_Amz_Target": target,
        "Content_Type": f"application/x-amz-json-{version}",
        "Authorization": f"AWS4-HMAC-SHA256 Credential=t/20260101/eu-west-1/{service}/aws4_request",
    }


@pytest.mark.parametrize("literal", ['"yesterday"', "{a: 1}", "1.5", '"1795849200"'])
def test_an_awstimestamp_literal_that_is_not_an_integer_is_a_validation_error(
    client: StackClient, admin: str, literal: str
) -> None:
    answer = client.graphql(SYNC % literal, token=admin)
    assert answer.status == 400 and answer.data is None
    assert "AWSTimestamp" in answer.errors[0]["message"]


@pytest.mark.parametrize("value", ["yesterday", {"a": 1}, True])
def test_an_awstimestamp_variable_that_is_not_an_integer_is_refused(
    client: StackClient, admin: str, value: Any
) -> None:
    query = "query Q($t: AWSTimestamp) { syncUsers(lastSync: $t) { startedAt } }"
    answer = client.graphql(query, {"t": value}, token=admin)
    assert answer.data is None
    assert "AWSTimestamp" in answer.errors[0]["message"]
    assert answer.error_type != "InternalFailure"


def test_an_integer_last_sync_is_still_a_sync(client: StackClient, admin: str) -> None:
    answer = client.graphql(SYNC % "0", token=admin)
    assert answer.status == 200 and not answer.errors
    assert isinstance(answer.data["syncUsers"]["startedAt"], int)


@pytest.mark.parametrize("user_id", ["", "x" * 2049])
def test_get_user_with_an_id_no_user_can_have_is_a_bad_request(
    client: StackClient, admin: str, user_id: str
) -> None:
    answer = client.graphql(
        "query Q($id: ID!) { getUser(id: $id) { id } }", {"id": user_id}, token=admin
    )
    assert answer.error_type == "BadRequest"
    assert answer.errors[0]["message"] == "id must be 1 to 2048 bytes of UTF-8"


@pytest.mark.parametrize(
    ("path", "headers", "error_type"),
    [
        ("/graphql", {"Content_Type": "application/json"}, "MalformedHttpRequestException"),
        ("/2015-03-31/functions/{function}/invocations", {}, "InvalidRequestContentException"),
        ("/", aws("cognito-idp", "AWSCognitoIdentityProviderService.SignUp", "1.1"), None),
        ("/", aws("dynamodb", "DynamoDB_20120810.PutItem"), None),
        ("/", aws("sqs", "AmazonSQS.SendMessage"), None),
        ("/", aws("events", "AWSEvents.PutEvents", "1.1"), None),
    ],
    ids=["graphql", "lambda-invoke", "cognito", "dynamodb", "sqs", "eventbridge"],
)
def test_a_body_nested_100_000_deep_is_a_400_on_every_json_route(
    stack: LocalStack, path: str, headers: dict[str, str], error_type: str | None
) -> None:
    function = next(iter(stack.sandboxes.values())).function_name
    status, body = post(stack, path.format(function=function), DEEP, **headers)
    assert status == 400
    assert (error_type or "SerializationException") in json.dumps(body)


NUL_PATHS = [
    "/graphql%00",
    "/graphql/realtime%00",
    "/%00",
    "/index.html%00",
    "/console/%00",
    "/console/app.js%00",
    "/console/config.json%00",
    "/2015-03-31/functions/{function}%00/invocations",
    "/2015-03-31/functions/%00/invocations",
    "/userpipe-test-bucket/%00",
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", NUL_PATHS)
def test_a_nul_in_the_path_is_a_404_on_every_route(
    stack: LocalStack, method: str, path: str
) -> None:
    function = next(iter(stack.sandboxes.values())).function_name
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    connection.request(
        method, path.format(function=function), body=b"{}" if method == "POST" else None
    )
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())["__type"]) == (404, "NotFoundException")
    connection.close()


def test_the_stack_answers_normally_after_the_malformed_requests(
    client: StackClient, admin: str
) -> None:
    assert client.graphql("{ me { id } }", token=admin).data["me"]["id"]
    assert client.aws.dynamodb.list_tables()["TableNames"]
