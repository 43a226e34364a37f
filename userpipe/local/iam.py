"""Who signed a request to the local stack: AWS Signature Version 4, checked with botocore's own
signer against the credentials the stack issued. Who may do what (IAM policies) is not checked
locally: the template tests guard least privilege (docs/local-stack.md).

The credentials, all made on this machine:

- **The operator's** (the AWS CLI, SDKs, ``userpipe`` commands): an access key id and secret made
  on first start and kept in ``<state_dir>/credentials`` (mode 0600), as an AWS shared
  credentials file with the profile ``userpipe-local``; ``userpipe local env`` prints them as
  environment variables.
- **Each function's**: its name as access key id (how ``userpipe.local.faults`` tells the caller),
  a secret and a session token derived from the operator's secret with HMAC, handed to its
  sandbox as Lambda hands a function its role's temporary credentials.

A request is verified as AWS verifies it (IAM user guide, "Elements of an AWS API request
signature", and "Create a signed AWS API request"): the ``Authorization`` header's credential
scope, signed headers and signature; ``X-Amz-Date`` within five minutes of now ("a request must
reach AWS within five minutes of the time stamp in the request"); the scope's date and region;
the session token when the credentials have one; the payload hash. The signature is recomputed
by ``botocore.auth.SigV4Auth`` — the signer every AWS SDK for Python uses — from the request as it
arrived (method, raw path, query, the signed headers, the body), never by hand-written crypto.

Which operations need no signature comes from botocore's service models too: Cognito's public
and token-authorized operations (``SignUp``, ``InitiateAuth``, ``RevokeToken``…) are marked
``"authtype": "none"`` there (Cognito developer guide, "Authorization models for API and SDK
authentication"). Every other AWS API call must be signed.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import io
import json
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape as xml_escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from userpipe.aws.clients import LOCAL_PROFILE as PROFILE
from userpipe.local.files import write_secret

ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_SKEW: Final = timedelta(minutes=5)
TIMESTAMP_FORMAT: Final = "%Y%m%dT%H%M%SZ"
#: The SigV4 ``Authorization`` header, strictly: three comma-separated parts in this order.
_AUTHORIZATION: Final = re.compile(
    r"AWS4-HMAC-SHA256 +Credential=(?P<credential>[^,\s]+) *, *"
    r"SignedHeaders=(?P<signed>[a-z0-9;_.-]+) *, *Signature=(?P<signature>[0-9a-f]{64})"
)
_KEY_ALPHABET: Final = string.ascii_uppercase + string.digits
MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN: Final = "The security token included in the request is invalid."  # noqa: S105


class SignatureError(Exception):
    """A request AWS would refuse for its signature: ``code`` as AWS names it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who signed: the operator, or one of the stack's functions."""

    access_key_id: str
    name: str  # "operator", or the function's name
    arn: str

    @property
    def is_function(self) -> bool:
        return self.name != "operator"


@dataclass(frozen=True)
class IssuedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    principal: Principal

    def environment(self) -> dict[str, str]:
        """As the AWS SDKs read them from the environment."""
        variables = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            variables["AWS_SESSION_TOKEN"] = self.session_token
        return variables


class LocalCredentials:
    """The credentials the local stack issues and accepts (see the module)."""

    def __init__(self, path: Path, account: str) -> None:
        self.path = path
        self._account = account
        self.operator = self._load_or_create()
        self._functions: dict[str, IssuedCredentials] = {}

    def _load_or_create(self) -> IssuedCredentials:
        parser = configparser.ConfigParser()
        try:
            parser.read_string(self.path.read_text())
            section = parser[PROFILE]
            key, secret = section["aws_access_key_id"], section["aws_secret_access_key"]
        except (OSError, KeyError, configparser.Error):
            key = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
            secret = secrets.token_urlsafe(30)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_secret(
                self.path,
                (
                    "# The local stack's operator credentials (userpipe local env prints them).\n"
                    f"[{PROFILE}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
                ).encode(),
            )
        arn = f"arn:aws:iam::{self._account}:user/{PROFILE}"
        return IssuedCredentials(key, secret, None, Principal(key, "operator", arn))

    def for_function(self, function_name: str, role: str | None = None) -> IssuedCredentials:
        """A function's credentials: stable for one operator secret, distinct per function."""
        if function_name not in self._functions:
            secret = self._derive("secret", function_name)
            token = self._derive("token", function_name)
            role_name = role or function_name
            arn = f"arn:aws:sts::{self._account}:assumed-role/{role_name}/{function_name}"
            self._functions[function_name] = IssuedCredentials(
                function_name, secret, token, Principal(function_name, function_name, arn)
            )
        return self._functions[function_name]

    def _derive(self, purpose: str, name: str) -> str:
        key = self.operator.secret_access_key.encode()
        return hmac.new(key, f"{purpose}:{name}".encode(), hashlib.sha256).hexdigest()

    def find(self, access_key_id: str) -> IssuedCredentials | None:
        if _same(access_key_id, self.operator.access_key_id):
            return self.operator
        return self._functions.get(access_key_id)


@dataclass(frozen=True)
class SignedRequest:
    """A request as it arrived: ``path`` and ``query`` raw (percent-encoded as sent)."""

    method: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def is_signed(authorization: str | None) -> bool:
    """Whether ``authorization`` claims to be a SigV4 signature (it is then verified, never
    trusted on its prefix alone)."""
    return (authorization or "").lstrip().startswith(ALGORITHM)


class SignatureVerifier:
    def __init__(
        self,
        credentials: LocalCredentials,
        region: str,
        clock: type[datetime] = datetime,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self._clock = clock

    def verify(self, request: SignedRequest, *, explain: bool = False) -> Principal:
        """The principal who signed ``request``; ``SignatureError`` as AWS would refuse it.
        ``explain``: a mismatch names the canonical request expected (AppSync does)."""
        authorization = (request.header("authorization") or "").strip()
        match = _AUTHORIZATION.fullmatch(authorization)
        if match is None:
            raise SignatureError(
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                f"parameters, in that order ({ALGORITHM} Credential=..., SignedHeaders=..., "
                "Signature=<64 hex digits>).",
            )
        key, date, region, service, terminal = _scope(match["credential"])
        issued = self.credentials.find(key)
        if issued is None:
            raise SignatureError("UnrecognizedClientException", INVALID_TOKEN)
        timestamp = request.header("x-amz-date") or ""
        signed_at = _parse_timestamp(timestamp)
        now = self._clock.now(UTC)
        if abs(now - signed_at) > MAX_SKEW:
            raise SignatureError(
                "InvalidSignatureException",
                f"Signature expired: {timestamp} is outside the five minutes around "
                f"{now.strftime(TIMESTAMP_FORMAT)} (the local stack's clock).",
            )
        if date != timestamp[:8] or terminal != "aws4_request":
            raise SignatureError(
                "InvalidSignatureException",
                f"Credential should be scoped to {timestamp[:8]}/<region>/<service>/aws4_request",
            )
        if region != self.region:
            raise SignatureError(
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region, not '{region}': the local "
                f"stack's region is {self.region} (pass --region {self.region} or set "
                f"AWS_REGION={self.region}).",
            )
        signed = match["signed"].split(";")
        if "host" not in signed:
            raise SignatureError("InvalidSignatureException", "'Host' must be a signed header.")
        for name in signed:
            if request.header(name) is None:
                raise SignatureError(
                    "IncompleteSignatureException",
                    f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP "
                    "request.",
                )
        token = request.header("x-amz-security-token")
        if issued.session_token is not None and not (
            token is not None and _same(token, issued.session_token)
        ):
            raise SignatureError("UnrecognizedClientException", INVALID_TOKEN)
        declared_hash = request.header("x-amz-content-sha256")
        if declared_hash is not None and declared_hash != hashlib.sha256(request.body).hexdigest():
            raise SignatureError(
                "InvalidSignatureException",
                "X-Amz-Content-SHA256 must be the SHA-256 of the payload (only S3 accepts "
                "unsigned payloads).",
            )
        signer = SigV4Auth(
            Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token),
            service,
            region,
        )
        prepared = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.path}",
            headers={name: request.header(name) for name in signed},
            data=request.body,
            # A list keeps repeated keys (botocore's canonical query sorts pairs); its stubs
            # say Mapping.
            params=parse_qsl(request.query, keep_blank_values=True),  # type: ignore[arg-type]
        )
        prepared.context["timestamp"] = timestamp
        canonical = signer.canonical_request(prepared)
        expected = signer.signature(signer.string_to_sign(prepared, canonical), prepared)
        if signer.signed_headers(signer.headers_to_sign(prepared)) != match["signed"]:
            canonical = "(a header botocore never signs was signed: " + match["signed"] + ")"
            expected = ""
        if not _same(expected, match["signature"]):
            message = MISMATCH
            if explain:
                message += (
                    f"\n\nThe Canonical String for this request should have been\n'{canonical}'"
                )
            raise SignatureError("InvalidSignatureException", message)
        return issued.principal


def _same(given: str, known: str) -> bool:
    """A constant-time comparison that takes any text a client sends (``compare_digest`` on
    ``str`` refuses non-ASCII with a ``TypeError``)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), known.encode())


def _scope(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise SignatureError(
            "IncompleteSignatureException",
            "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request.",
        )
    key, date, region, service, terminal = parts
    return key, date, region, service, terminal


def _parse_timestamp(value: str) -> datetime:
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException",
            "X-Amz-Date must be the signing time as YYYYMMDD'T'HHMMSS'Z'.",
        ) from None


@cache
def unsigned_operations(service: str) -> frozenset[str]:
    """Operations of ``service`` that AWS serves without a signature, from botocore's model."""
    from botocore.loaders import create_loader

    model = create_loader().load_service_model(service, "service-2")
    return frozenset(
        name
        for name, operation in model["operations"].items()
        if operation.get("authtype") == "none" or operation.get("auth") == ["smithy.api#noAuth"]
    )


def environ_headers(environ: Mapping[str, object]) -> dict[str, str]:
    """A WSGI request's headers, lower-case names (as SigV4 canonicalises them)."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = str(environ[key])
    return headers


# --- the AWS APIs of the local stack (WSGI) -------------------------------------------------------

PRINCIPAL_KEY: Final = "userpipe.principal"
_COGNITO_TARGET: Final = "AWSCognitoIdentityProviderService."
_PUBLIC_PATHS: Final = re.compile(r"/[\w-]+_\w+/\.well-known/(?:jwks\.json|openid-configuration)")
#: The codes the query protocol (form-encoded ``Action=...``) uses for the same refusals.
_QUERY_CODES: Final = {
    "IncompleteSignatureException": "IncompleteSignature",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
}


def signed_request(environ: Mapping[str, Any], body: bytes) -> SignedRequest:
    """The request as it arrived: the raw path (percent-encoded as sent) from the ASGI scope."""
    scope = environ.get("asgi.scope")
    raw = scope.get("raw_path") if isinstance(scope, Mapping) else None
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(str(environ["PATH_INFO"]))
    headers = environ_headers(environ)
    return SignedRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        host=headers.get("host", ""),
        path=path.split("?", 1)[0],
        query=str(environ.get("QUERY_STRING", "")),
        headers=headers,
        body=body,
    )


def read_body(environ: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The body, and an environ that can read it again."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    body: bytes = stream.read(int(length)) if length else stream.read()
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}, body


def authenticate(environ: dict[str, Any], verifier: SignatureVerifier) -> dict[str, Any]:
    """The environ of a request the stack may serve, with ``PRINCIPAL_KEY`` naming who signed it
    (``None``: one of Cognito's public operations); ``SignatureError`` otherwise."""
    environ, body = read_body(environ)
    if is_signed(environ.get("HTTP_AUTHORIZATION")):
        principal: Principal | None = verifier.verify(signed_request(environ, body))
    elif _public(environ):
        principal = None
    else:
        raise SignatureError(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token: sign the request with the local stack's credentials "
            "(`userpipe local env` prints them)",
        )
    return {**environ, PRINCIPAL_KEY: principal}


def _public(environ: Mapping[str, Any]) -> bool:
    """What AWS serves unsigned: Cognito's public operations and a pool's published keys."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target.startswith(_COGNITO_TARGET):
        return target[len(_COGNITO_TARGET) :] in unsigned_operations("cognito-idp")
    return environ.get("REQUEST_METHOD") in ("GET", "HEAD") and bool(
        _PUBLIC_PATHS.fullmatch(str(environ.get("PATH_INFO", "")))
    )


def refuse(
    environ: Mapping[str, Any], start_response: Callable[..., Any], error: SignatureError
) -> list[bytes]:
    """AWS's answer to a request it cannot authenticate, in the request's protocol."""
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        code = _QUERY_CODES.get(error.code, error.code)
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{xml_escape(error.message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ).encode()
        kind = "text/xml"
    else:
        code = error.code
        body = json.dumps({"__type": code, "message": error.message}).encode()
        kind = "application/x-amz-json-1.1"
    start_response(
        "403 Forbidden",
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [body]
