"""The local stack attacked as a stranger would: a web page of another origin, a DNS-rebound
name, unsigned or forged IAM callers, a token minted with moto's public key pair, a neighbour on
the LAN. Each is refused before it reaches the emulator, the resolver or a function; SDKs signed
with the stack's credentials keep working."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from contracts.topology import USER_API
from tests.support import STACK_PASSWORD, confirmed
from userpipe.aws.clients import Clients
from userpipe.local.client import StackClient
from userpipe.local.guard import machine_names
from userpipe.local.stack import LocalStack, LocalStackOptions

pytestmark = pytest.mark.integration
LIST_USERS = "query { listUsers { items { id email } } }"


def request(
    url: str,
    *,
    method: str = "POST",
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, Message, bytes]:
    sent = urllib.request.Request(url, data=body, headers=headers or {}, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(sent, timeout=10, context=tls) as answer:  # noqa: S310
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read()


def test_a_dns_rebound_name_is_refused_everywhere(stack: LocalStack, client: StackClient) -> None:
    rebound = {"Host": f"attacker.example:{stack.port}"}
    scan = {"X-Amz-Target": "DynamoDB_20120810.Scan", **rebound}
    for path in ("/", "/graphql", "/console/code?email=a@example.com", "/moto-api/data.json"):
        status, _, body = request(f"{stack.endpoint_url}{path}", headers=scan)
        assert status == 403 and b"DNS rebinding" in body, path
    # The browser of a rebinding attack connects to 127.0.0.1 but names the attacker's host.
    unchecked = ssl.create_default_context(cafile=client.outputs["ca_cert_path"])
    unchecked.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", stack.tls_port)) as raw,
        pytest.raises(InvalidStatus) as refused,
    ):
        connect(
            f"wss://attacker.example:{stack.tls_port}/graphql/realtime",
            sock=raw,
            ssl=unchecked,
            subprotocols=["graphql-ws"],  # type: ignore[list-item]
        )
    assert refused.value.response.status_code == 403


def test_a_page_of_another_origin_can_neither_call_nor_read_the_stack(
    stack: LocalStack, client: StackClient
) -> None:
    _, _, token = confirmed(client, admin=True)
    evil = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    graphql = json.dumps({"query": LIST_USERS}).encode()
    status, headers, _ = request(
        client.outputs["graphql_url"],
        body=graphql,
        headers={**evil, "Authorization": token},
        tls=client.tls,
    )
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    for path in ("/", "/console/code?email=a@example.com", "/2015-03-31/functions/x/invocations"):
        status, headers, _ = request(f"{stack.endpoint_url}{path}", headers=evil)
        assert status == 403 and "Access-Control-Allow-Origin" not in headers, path
    preflight = {**evil, "Access-Control-Request-Method": "POST"}
    status, headers, _ = request(f"{stack.endpoint_url}/", method="OPTIONS", headers=preflight)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    with pytest.raises(InvalidStatus):
        connect(
            stack.realtime_url,
            subprotocols=["graphql-ws"],  # type: ignore[list-item]
            ssl=client.tls,
            origin="https://evil.example",  # type: ignore[arg-type]
        )


def test_the_stacks_own_origin_is_answered_with_cors(
    stack: LocalStack, client: StackClient
) -> None:
    _, _, token = confirmed(client, admin=True)
    own = stack.tls_endpoint_url
    status, headers, body = request(
        client.outputs["graphql_url"],
        body=json.dumps({"query": LIST_USERS}).encode(),
        headers={"Origin": own, "Authorization": token, "Content-Type": "application/json"},
        tls=client.tls,
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == own
    assert json.loads(body)["data"]["listUsers"]["items"]


def test_an_unsigned_invoke_cannot_run_the_resolver_as_an_admin(
    stack: LocalStack, client: StackClient
) -> None:
    """Lambda's Invoke route once ran any function with any event: a forged identity in the
    event made its sender an Admin of the API."""
    resolver = stack.sandboxes[USER_API.id]
    invocations = resolver.invocations
    forged = {
        "arguments": {},
        "identity": {"sub": "x", "claims": {"cognito:groups": ["Admin"]}, "groups": ["Admin"]},
        "info": {"parentTypeName": "Query", "fieldName": "listUsers", "selectionSetList": []},
    }
    url = f"{stack.endpoint_url}/2015-03-31/functions/{resolver.function_name}/invocations"
    status, headers, _ = request(
        url, body=json.dumps(forged).encode(), headers={"Content-Type": "application/json"}
    )
    assert status == 403 and headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    stranger = Clients(stack.endpoint_url, credentials=("AKIDEXAMPLE", "guessed"))
    with pytest.raises(ClientError) as refused:
        stranger.lambda_.invoke(FunctionName=resolver.function_name, Payload=json.dumps(forged))
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert resolver.invocations == invocations  # the function never ran
    operator = stack.clients().lambda_.invoke(
        FunctionName=resolver.function_name, Payload=json.dumps(forged)
    )
    assert operator["StatusCode"] == 200  # the stack's own operator may, as IAM would let it


def test_aws_apis_answer_only_the_stacks_credentials(stack: LocalStack) -> None:
    table = stack.outputs()["user_table_name"]
    status, headers, _ = request(
        f"{stack.endpoint_url}/",
        body=json.dumps({"TableName": table}).encode(),
        headers={
            "X-Amz-Target": "DynamoDB_20120810.Scan",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert status == 403 and headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    for credentials, code in (
        (("AKIDEXAMPLE", "guessed"), "UnrecognizedClientException"),
        ((stack.credentials.operator.access_key_id, "guessed"), "InvalidSignatureException"),
    ):
        with pytest.raises(ClientError) as refused:
            Clients(stack.endpoint_url, credentials=credentials).dynamodb.scan(TableName=table)
        assert refused.value.response["Error"]["Code"] == code
    wrong_region = Clients(
        stack.endpoint_url,
        region="us-east-1",
        credentials=(
            stack.credentials.operator.access_key_id,
            stack.credentials.operator.secret_access_key,
        ),
    )
    with pytest.raises(ClientError, match="region is eu-west-1"):
        wrong_region.dynamodb.scan(TableName=table)
    assert "Items" in stack.clients().dynamodb.scan(TableName=table)


def test_a_token_minted_with_motos_key_pair_is_refused(
    stack: LocalStack, client: StackClient
) -> None:
    _, sub, token = confirmed(client)
    jwks = json.loads(
        request(f"{stack.endpoint_url}/{client.pool_id}/.well-known/jwks.json", method="GET")[2]
    )
    assert [key["kid"] for key in jwks["keys"]] == [stack.signing_key.kid]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    moto_key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    minted = jwt.encode(
        {"alg": "RS256", "kid": "dummy"},
        {**claims, "exp": int(time.time()) + 3600, "cognito:groups": ["Admin"]},
        moto_key,
    )
    answer = client.graphql(LIST_USERS, token=minted)
    assert (answer.status, answer.error_type) == (401, "UnauthorizedException")
    assert client.graphql("query { me { id } }", token=token).data["me"]["id"] == sub


def test_sign_out_revokes_the_refresh_token(client: StackClient) -> None:
    email, _, _ = confirmed(client)
    tokens = client.sign_in(email, STACK_PASSWORD)
    cognito = client.aws.cognito
    cognito.revoke_token(Token=tokens.refresh, ClientId=client.client_id)
    with pytest.raises(ClientError) as refused:
        cognito.initiate_auth(
            ClientId=client.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": tokens.refresh},
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    with pytest.raises(ClientError):
        cognito.get_user(AccessToken=tokens.access)  # the access tokens it issued, too


# --- a neighbour on the LAN -----------------------------------------------------------------------


def _lan_address() -> str:
    for name in machine_names():
        if name[0].isdigit() and not name.startswith("127."):
            return name
    pytest.skip("this machine has no non-loopback IPv4 address to play the neighbour from")


@pytest.fixture(scope="module")
def lan_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("lan")
    options = LocalStackOptions(host="0.0.0.0", state_dir=state, stage="lan")  # noqa: S104
    with LocalStack(options) as running:
        yield running


def test_a_neighbour_cannot_read_codes_or_use_the_emulators_admin_api(
    lan_stack: LocalStack,
) -> None:
    address = _lan_address()
    base = f"http://{address}:{lan_stack.port}"
    for path in ("/console/code?email=a@example.com", "/console/status", "/moto-api/data.json"):
        status, _, body = request(f"{base}{path}", method="GET")
        assert status == 403 and b"--allow-remote-admin" in body, path
    status, _, _ = request(f"{base}/moto-api/reset")
    assert status == 403
    # ...while what a frontend on the LAN needs is served, with a certificate for the address.
    tls = ssl.create_default_context(cafile=lan_stack.outputs()["ca_cert_path"])
    status, _, body = request(
        f"https://{address}:{lan_stack.tls_port}/console/config.json", method="GET", tls=tls
    )
    config: dict[str, Any] = json.loads(body)
    assert status == 200
    assert config["amplify"]["API"]["GraphQL"]["endpoint"] == (
        f"https://{address}:{lan_stack.tls_port}/graphql"
    )  # where the browser came from, not 127.0.0.1
    assert lan_stack.outputs()["endpoint_url"].startswith("http://127.0.0.1:")
