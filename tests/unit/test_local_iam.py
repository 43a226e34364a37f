"""The local stack's signature check (``userpipe.local.iam``): requests signed by botocore with
the credentials the stack issued pass; anything else is refused the way AWS refuses it."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from userpipe.local import iam
from userpipe.local.iam import (
    IssuedCredentials,
    LocalCredentials,
    SignatureError,
    SignatureVerifier,
    SignedRequest,
)

HOST = "127.0.0.1:4747"
BODY = b'{"TableName": "userpipe-local-User"}'
PATH = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Ax/invocations"


@pytest.fixture
def credentials(tmp_path: Path) -> LocalCredentials:
    return LocalCredentials(tmp_path / "credentials", "123456789012")


@pytest.fixture
def verifier(credentials: LocalCredentials) -> SignatureVerifier:
    return SignatureVerifier(credentials, "eu-west-1")


def signed(
    issued: IssuedCredentials | Credentials,
    *,
    body: bytes = BODY,
    path: str = "/",
    query: str = "",
    region: str = "eu-west-1",
    service: str = "dynamodb",
) -> SignedRequest:
    """A request as botocore signs it, then as the server receives it."""
    if isinstance(issued, IssuedCredentials):
        issued = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(
        "POST",
        url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.Scan",
        },
    )
    SigV4Auth(issued, service, region).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = HOST
    return SignedRequest("POST", HOST, path, query, headers, body)


def refused(verifier: SignatureVerifier, request: SignedRequest) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verifier.verify(request)
    return caught.value


def test_the_operator_and_each_function_are_recognised(
    credentials: LocalCredentials, verifier: SignatureVerifier
) -> None:
    function = credentials.for_function("userpipe-local-UserApi")
    assert verifier.verify(signed(credentials.operator)).name == "operator"
    principal = verifier.verify(signed(function, path=PATH, query="Qualifier=%24LATEST"))
    assert principal.name == "userpipe-local-UserApi" and principal.is_function


def test_the_operator_credentials_are_kept_private_and_across_runs(
    tmp_path: Path, credentials: LocalCredentials
) -> None:
    assert (tmp_path / "credentials").stat().st_mode & 0o777 == 0o600
    again = LocalCredentials(tmp_path / "credentials", "123456789012")
    assert again.operator == credentials.operator
    assert again.for_function("f") == credentials.for_function("f")  # derived, not stored
    assert credentials.for_function("f").secret_access_key != credentials.operator.secret_access_key


def test_a_header_that_only_starts_like_a_signature_is_refused(
    verifier: SignatureVerifier,
) -> None:
    request = signed(verifier.credentials.operator)
    for forged in (
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/appsync/aws4_request, x",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=0",
    ):
        headers = {**request.headers, "authorization": forged}
        error = refused(verifier, SignedRequest("POST", HOST, "/", "", headers, BODY))
        assert error.code == "IncompleteSignatureException"


def test_other_credentials_are_refused(verifier: SignatureVerifier) -> None:
    stranger = refused(verifier, signed(Credentials("AKIDEXAMPLE", "secret")))
    assert stranger.code == "UnrecognizedClientException"
    request = signed(verifier.credentials.operator)
    odd = request.headers["authorization"].replace("Credential=", "Credential=ÄKIDé", 1)
    headers = {**request.headers, "authorization": odd, "x-amz-security-token": "tökén"}
    error = refused(verifier, SignedRequest("POST", HOST, "/", "", headers, BODY))
    assert error.code == "UnrecognizedClientException"  # not a TypeError from compare_digest
    operator = verifier.credentials.operator
    wrong_secret = refused(verifier, signed(Credentials(operator.access_key_id, "guessed")))
    assert wrong_secret.code == "InvalidSignatureException"


def test_a_function_must_present_its_session_token(verifier: SignatureVerifier) -> None:
    function = verifier.credentials.for_function("userpipe-local-UserApi")
    without = Credentials(function.access_key_id, function.secret_access_key)
    assert refused(verifier, signed(without)).code == "UnrecognizedClientException"


def test_a_changed_body_path_or_header_breaks_the_signature(verifier: SignatureVerifier) -> None:
    request = signed(verifier.credentials.operator)
    for changed in (
        SignedRequest("POST", HOST, "/", "", request.headers, b'{"TableName": "other"}'),
        SignedRequest("POST", HOST, "/other", "", request.headers, BODY),
        SignedRequest("POST", HOST, "/", "", {**request.headers, "x-amz-target": "X.Y"}, BODY),
        SignedRequest("PUT", HOST, "/", "", request.headers, BODY),
    ):
        assert refused(verifier, changed).code == "InvalidSignatureException"


def test_a_signed_header_that_is_missing_is_named(verifier: SignatureVerifier) -> None:
    request = signed(verifier.credentials.operator)
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-target"}
    error = refused(verifier, SignedRequest("POST", HOST, "/", "", headers, BODY))
    assert error.code == "IncompleteSignatureException" and "'x-amz-target'" in error.message


def test_a_signature_older_than_five_minutes_is_refused(
    credentials: LocalCredentials,
) -> None:
    request = signed(credentials.operator)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:  # type: ignore[override]
            return cls.fromtimestamp((datetime.now(UTC) + timedelta(minutes=6)).timestamp(), tz)

    error = refused(SignatureVerifier(credentials, "eu-west-1", clock=Later), request)
    assert error.code == "InvalidSignatureException" and "expired" in error.message


def test_another_region_is_named_with_the_stacks(verifier: SignatureVerifier) -> None:
    error = refused(verifier, signed(verifier.credentials.operator, region="us-east-1"))
    assert "us-east-1" in error.message and "eu-west-1" in error.message


def test_an_unsigned_payload_is_refused(verifier: SignatureVerifier) -> None:
    request = signed(verifier.credentials.operator)
    headers = {**request.headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    error = refused(verifier, SignedRequest("POST", HOST, "/", "", headers, BODY))
    assert error.code == "InvalidSignatureException"


def _environ(**headers: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(b"{}"),
        "CONTENT_LENGTH": "2",
        "HTTP_HOST": HOST,
    }
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


def test_only_cognitos_public_operations_may_be_unsigned(verifier: SignatureVerifier) -> None:
    for public in ("SignUp", "ConfirmSignUp", "InitiateAuth", "RevokeToken", "GetUser"):
        environ = _environ(X_AMZ_TARGET=f"AWSCognitoIdentityProviderService.{public}")
        assert iam.authenticate(environ, verifier)[iam.PRINCIPAL_KEY] is None
    for admin in (
        "AWSCognitoIdentityProviderService.AdminAddUserToGroup",
        "AWSCognitoIdentityProviderService.AdminSetUserPassword",
        "DynamoDB_20120810.Scan",
        "AmazonSQS.ReceiveMessage",
    ):
        with pytest.raises(SignatureError) as caught:
            iam.authenticate(_environ(X_AMZ_TARGET=admin), verifier)
        assert caught.value.code == "MissingAuthenticationTokenException"
    invoke = {**_environ(), "PATH_INFO": "/2015-03-31/functions/f/invocations"}
    with pytest.raises(SignatureError):
        iam.authenticate(invoke, verifier)


def test_a_pools_published_keys_are_public(verifier: SignatureVerifier) -> None:
    environ = {
        **_environ(),
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/eu-west-1_Ab12/.well-known/jwks.json",
    }
    assert iam.authenticate(environ, verifier)[iam.PRINCIPAL_KEY] is None


def test_a_refusal_speaks_the_requests_protocol() -> None:
    error = SignatureError("InvalidSignatureException", "no")
    seen: list[Any] = []
    json_body = iam.refuse({}, lambda *a: seen.append(a), error)
    assert b'"__type": "InvalidSignatureException"' in json_body[0]
    form = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    xml_body = iam.refuse(form, lambda *a: seen.append(a), error)
    assert b"<Code>SignatureDoesNotMatch</Code>" in xml_body[0]
    assert seen[0][0].startswith("403")


_FUZZED = LocalCredentials(Path(tempfile.mkdtemp()) / "credentials", "123456789012")
_TODAY = datetime.now(UTC).strftime("%Y%m%d")


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda key, date, signed, signature: (
                f"AWS4-HMAC-SHA256 Credential={key}/{date}/eu-west-1/dynamodb/aws4_request, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
            st.one_of(
                st.just(_FUZZED.operator.access_key_id),
                st.text(min_size=1, max_size=30).filter(lambda k: not set(k) & set(", /\t\n")),
            ),
            st.one_of(
                st.just(_TODAY), st.text(max_size=10).filter(lambda d: not set(d) & set("/,"))
            ),
            st.from_regex(r"[a-z0-9;_.-]{1,40}", fullmatch=True),
            st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
        ),
    ),
    headers=st.dictionaries(
        st.sampled_from(["x-amz-date", "host", "x-amz-security-token", "x-amz-content-sha256"]),
        st.one_of(st.just(datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")), st.text(max_size=40)),
    ),
    path=st.text(max_size=40),
    query=st.text(max_size=40),
    body=st.binary(max_size=64),
)
def test_no_request_makes_the_verifier_fail_otherwise_than_as_aws_refuses(
    authorization: str, headers: dict[str, str], path: str, query: str, body: bytes
) -> None:
    verifier = SignatureVerifier(_FUZZED, "eu-west-1")
    request = SignedRequest(
        "POST", HOST, "/" + path, query, {**headers, "authorization": authorization}, body
    )
    with pytest.raises(SignatureError):
        verifier.verify(request)
