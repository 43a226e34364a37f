"""The local stack end to end, driven only through its public endpoints: Cognito's API and the
outbox, GraphQL with real tokens, and the AWS APIs an operator uses."""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from contracts.topology import SUBSCRIPTIONS
from userpipe.aws.queues import wait_until_drained
from userpipe.local import outbox
from userpipe.local.client import StackClient, wait_for
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery!"

ME = "query { me { id email name age _version createdAt } }"
GET_USER = "query Get($id: ID!) { getUser(id: $id) { id email name } }"
LIST_USERS = (
    "query List($next: String) { listUsers(limit: 2, nextToken: $next) { items { id } nextToken } }"
)
EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age _version }
}"""
TRAIL = "query Trail($id: ID!) { auditTrail(userId: $id) { items { eventName newVersion } } }"

_people = iter(range(1_000_000))


def new_email() -> str:
    return f"person{next(_people)}@example.com"


def signed_up(client: StackClient) -> tuple[str, str, str]:
    """A confirmed, projected user: (email, sub, access token)."""
    email = new_email()
    sub, tokens = client.confirmed_user(email, PASSWORD)
    return email, sub, tokens.access


def settled(stack: LocalStack, client: StackClient) -> None:
    wait_until_drained(client.aws.sqs, client.queue_urls, timeout=30)
    stack.settle()


# --- sign-up, codes, confirmation ----------------------------------------------------------------


def test_a_sign_up_confirmed_with_the_outbox_code_becomes_an_item_an_audit_record_and_me(
    stack: LocalStack, client: StackClient
) -> None:
    email = new_email()
    answer = client.aws.cognito.sign_up(
        ClientId=client.client_id, Username=email, Password=PASSWORD
    )
    assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert answer["UserConfirmed"] is False
    (sent,) = [e for e in outbox.read(stack.outbox.path) if e["to"] == email]
    assert sent["kind"] == outbox.SIGN_UP and len(sent["code"]) == 6

    client.aws.cognito.confirm_sign_up(
        ClientId=client.client_id, Username=email, ConfirmationCode=sent["code"]
    )
    user = wait_for(lambda: client.users().get(answer["UserSub"]), what="the item")
    me = client.graphql(ME, token=client.sign_in(email, PASSWORD).access)

    assert (user.email, user.version, user.user_pool_id) == (email, 1, client.pool_id)
    assert me.status == 200 and me.data["me"]["id"] == answer["UserSub"]
    assert me.data["me"]["createdAt"] == user.created_at
    cognito_user = client.aws.cognito.admin_get_user(UserPoolId=client.pool_id, Username=email)
    attributes = {a["Name"]: a["Value"] for a in cognito_user["UserAttributes"]}
    assert (cognito_user["UserStatus"], attributes["email_verified"]) == ("CONFIRMED", "true")
    settled(stack, client)
    audit = [r for r in client.audit_records() if r.user_id == answer["UserSub"]]
    assert [r.event_name for r in audit] == ["INSERT"]


def test_a_wrong_code_is_refused_and_the_user_stays_unconfirmed(client: StackClient) -> None:
    email = new_email()
    client.sign_up(email, PASSWORD, confirm=False)
    wrong = f"{(int(client.code(email)) + 1) % 1_000_000:06d}"
    with pytest.raises(ClientError) as refused:
        client.aws.cognito.confirm_sign_up(
            ClientId=client.client_id, Username=email, ConfirmationCode=wrong
        )
    assert refused.value.response["Error"]["Code"] == "CodeMismatchException"
    user = client.aws.cognito.admin_get_user(UserPoolId=client.pool_id, Username=email)
    assert user["UserStatus"] == "UNCONFIRMED"


def test_a_resent_code_replaces_the_first(client: StackClient) -> None:
    email = new_email()
    sub = client.sign_up(email, PASSWORD, confirm=False)
    first = client.code(email)
    client.aws.cognito.resend_confirmation_code(ClientId=client.client_id, Username=email)
    second = client.code(email)
    if first != second:  # one in a million they are equal
        with pytest.raises(ClientError, match="CodeMismatchException"):
            client.aws.cognito.confirm_sign_up(
                ClientId=client.client_id, Username=email, ConfirmationCode=first
            )
    client.aws.cognito.confirm_sign_up(
        ClientId=client.client_id, Username=email, ConfirmationCode=second
    )
    wait_for(lambda: sub in client.users(), what="the item")


def test_confirming_twice_is_refused_as_cognito_does(client: StackClient) -> None:
    email, _, _ = signed_up(client)
    for confirm in (
        lambda: client.aws.cognito.confirm_sign_up(
            ClientId=client.client_id, Username=email, ConfirmationCode="000000"
        ),
        lambda: client.aws.cognito.admin_confirm_sign_up(UserPoolId=client.pool_id, Username=email),
    ):
        with pytest.raises(ClientError, match="NotAuthorizedException"):
            confirm()


def test_an_admin_confirmation_runs_the_trigger_too(client: StackClient) -> None:
    email = new_email()
    sub = client.sign_up(email, PASSWORD, confirm=False)
    client.aws.cognito.admin_confirm_sign_up(UserPoolId=client.pool_id, Username=email)
    assert wait_for(lambda: client.users().get(sub), what="the item").email == email


# --- GraphQL: who may see what ------------------------------------------------------------------


def test_a_user_is_refused_another_users_record_and_trail(client: StackClient) -> None:
    _, ada, _ = signed_up(client)
    _, _, eve = signed_up(client)
    assert client.graphql(GET_USER, {"id": ada}, token=eve).error_type == "Unauthorized"
    assert client.graphql(TRAIL, {"id": ada}, token=eve).error_type == "Unauthorized"
    assert client.graphql(GET_USER, {"id": ada}, token=eve).data == {"getUser": None}


def test_an_admin_pages_through_every_user(client: StackClient) -> None:
    for _ in range(3):
        signed_up(client)
    # confirmed_user signs in after adding the group: the token carries it
    _, tokens = client.confirmed_user(new_email(), PASSWORD, groups=("Admin",))
    admin = tokens.access
    listed, token, pages = [], None, 0
    while True:
        page = client.graphql(LIST_USERS, {"next": token}, token=admin).data["listUsers"]
        listed += [item["id"] for item in page["items"]]
        pages += 1
        if not (token := page["nextToken"]):
            break
    assert sorted(listed) == sorted(client.users()) and pages >= 3


def test_an_owner_edits_and_a_stale_edit_is_a_conflict_carrying_the_servers_item(
    stack: LocalStack, client: StackClient
) -> None:
    _, sub, token = signed_up(client)
    edit = {"id": sub, "name": "Ada", "age": 36, "_version": 1}
    edited = client.graphql(EDIT, {"input": edit}, token=token)
    stale = client.graphql(EDIT, {"input": {**edit, "name": "Eve"}}, token=token)

    assert edited.data["updateUser"] == {"id": sub, "name": "Ada", "age": 36, "_version": 2}
    assert stale.status == 200 and stale.data == {"updateUser": None}
    (error,) = stale.errors
    assert error["errorType"] == "ConflictUnhandled"
    assert error["path"] == ["updateUser"]
    assert error["data"] == {"id": sub, "name": "Ada", "age": 36, "_version": 2}  # as selected
    assert client.users()[sub].name == "Ada"
    settled(stack, client)
    trail = client.graphql(TRAIL, {"id": sub}, token=token)
    assert trail.error_type == "Unauthorized"  # the owner may not read the audit trail


def test_the_schemas_auth_directives_hold_for_iam_callers(client: StackClient) -> None:
    """A request SigV4-signed with the stack's credentials is an IAM operator: ``getUser``
    allows it, ``me`` does not."""
    _, sub, _ = signed_up(client)
    assert client.graphql(GET_USER, {"id": sub}, signed=True).data["getUser"]["id"] == sub
    refused = client.graphql(ME, signed=True)
    assert refused.error_type == "Unauthorized"
    assert refused.errors[0]["message"] == "Not Authorized to access me on type Query"


def test_a_forged_iam_caller_is_refused(client: StackClient) -> None:
    """An ``Authorization`` header that only starts like a signature, or a signature made with
    other credentials, never reaches the resolver (it once was an IAM operator)."""
    _, sub, _ = signed_up(client)
    forged = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/appsync/aws4_request, x"
    answer = client.graphql(GET_USER, {"id": sub}, token=forged)
    assert (answer.status, answer.error_type) == (403, "IncompleteSignatureException")
    assert answer.data is None
    stranger = StackClient({**client.outputs, "credentials_path": _stranger_credentials()})
    answer = stranger.graphql(GET_USER, {"id": sub}, signed=True)
    assert (answer.status, answer.error_type) == (403, "UnrecognizedClientException")


def test_a_query_that_does_not_validate_gets_appsyncs_error_shape(client: StackClient) -> None:
    _, _, token = signed_up(client)
    answer = client.graphql("query { me { id nosuchfield } }", token=token)
    assert answer.status == 400 and answer.data is None
    (error,) = answer.errors
    assert "nosuchfield" in error["message"]
    assert error["locations"] == [{"line": 1, "column": 17, "sourceName": None}]
    assert client.graphql("query {", token=token).status == 400


def test_a_browser_preflight_from_the_stacks_own_origin_is_answered(client: StackClient) -> None:
    origin = client.outputs["tls_endpoint_url"]
    request = urllib.request.Request(  # noqa: S310 - the stack's own URL
        client.outputs["graphql_url"],
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    with urllib.request.urlopen(request, context=client.tls) as response:  # noqa: S310
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "authorization" in response.headers["Access-Control-Allow-Headers"]


# --- the pipeline's promises --------------------------------------------------------------------


def test_a_password_reset_changes_nothing(stack: LocalStack, client: StackClient) -> None:
    email, sub, _ = signed_up(client)
    settled(stack, client)
    before, audited = client.users()[sub], len(client.audit_records())
    client.aws.cognito.forgot_password(ClientId=client.client_id, Username=email)
    with pytest.raises(ClientError, match="CodeMismatchException"):
        client.aws.cognito.confirm_forgot_password(
            ClientId=client.client_id, Username=email, ConfirmationCode="000000", Password=PASSWORD
        )
    client.aws.cognito.confirm_forgot_password(
        ClientId=client.client_id,
        Username=email,
        ConfirmationCode=client.code(email, outbox.FORGOT_PASSWORD),
        Password="Another-Horse-10-Battery!",
    )
    settled(stack, client)
    assert client.users()[sub] == before
    assert len(client.audit_records()) == audited
    client.sign_in(email, "Another-Horse-10-Battery!")


def test_redelivered_events_change_nothing(stack: LocalStack, client: StackClient) -> None:
    email, sub, token = signed_up(client)
    client.graphql(EDIT, {"input": {"id": sub, "name": "Ada", "_version": 1}}, token=token)
    settled(stack, client)
    before, audited = client.users()[sub], len(client.audit_records())
    for _ in range(3):
        client.publish_confirmation(email)
    settled(stack, client)
    assert client.users()[sub] == before
    assert len(client.audit_records()) == audited


def test_a_poison_event_ends_alone_in_the_dlq(stack: LocalStack, client: StackClient) -> None:
    outputs = client.outputs
    dead_before = client.depth(outputs["projector_dlq_url"])
    client.aws.sqs.send_message(
        QueueUrl=outputs["projector_queue_url"], MessageBody='{"detail-type": "UserConfirmed"}'
    )
    _, sub, _ = signed_up(client)
    wait_for(
        lambda: client.depth(outputs["projector_dlq_url"]) == dead_before + 1,
        timeout=60,
        what="the poison message in the DLQ",
    )
    assert sub in client.users()
    (dead, *_) = client.aws.sqs.receive_message(
        QueueUrl=outputs["projector_dlq_url"], MaxNumberOfMessages=10
    )["Messages"]
    assert "UserConfirmed" in dead["Body"]


def test_every_subscriber_gets_the_event_the_example_consumer_welcomes_by_email(
    stack: LocalStack, client: StackClient
) -> None:
    email, _, _ = signed_up(client)
    wait_for(
        lambda: [
            e for e in outbox.read(stack.outbox.path) if e["to"] == email and e["kind"] == "email"
        ],
        what="the welcome email in the outbox",
    )
    # Both subscribers of our bus (user_sync's rule is on the default bus, for CloudTrail's).
    assert {s.id for s in SUBSCRIPTIONS if s.bus == "Bus"} == {"Projector", "WelcomeNotifier"}


def _stranger_credentials() -> str:
    """A credentials file in the stack's format, with keys the stack never issued."""
    path = Path(tempfile.mkdtemp()) / "credentials"
    path.write_text(
        "[userpipe-local]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = guessed\n"
    )
    return str(path)
