"""What Cognito does around the emulator's user pool, as a client sees it.

moto stores a pool's triggers but never invokes them, accepts any confirmation code, never
sets ``email_verified`` and does not implement ``ResendConfirmationCode``. This front sits
before it on the same endpoint and adds what a real pool does:

- ``SignUp``, ``ResendConfirmationCode`` and ``ForgotPassword`` generate a six-digit code and
  "send" it: a line in the outbox (no mail leaves the machine).
- ``ConfirmSignUp`` and ``ConfirmForgotPassword`` check it: ``CodeMismatchException`` for a
  wrong code, ``ExpiredCodeException`` after 24 hours (Cognito's validity for these codes).
- After a successful ``ConfirmSignUp``, ``AdminConfirmSignUp`` or ``ConfirmForgotPassword``,
  the PostConfirmation trigger runs with the event Cognito sends (trigger source,
  ``callerContext.clientId``, the user's attributes with ``sub``, ``email``,
  ``email_verified`` and ``cognito:user_status``). Cognito waits 5 s and makes at most three
  calls (Cognito developer guide, "Customizing user pool workflows with Lambda triggers"); a
  failing trigger answers the client with ``UserLambdaValidationException`` ("PostConfirmation
  failed with error ...") and the user stays confirmed, as in Cognito.
- ``RevokeToken`` (Amplify's ``signOut``) revokes the refresh token and the access tokens
  issued from it for Cognito's own API, as Cognito does ("Revoking tokens": they "can't be used
  with any Amazon Cognito API calls that require a token", yet a JWT library that checks
  signature and expiry — AppSync's check — still accepts them until they expire).
- The pool's ``/.well-known/jwks.json`` publishes the stack's own signing key
  (``userpipe.local.signing``), not the one inside moto.
- SES v2 ``SendEmail`` (what the example consumer calls) goes to the outbox too.

Everything else reaches the emulator unchanged.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts.names import TRIGGER_CONFIRM_FORGOT_PASSWORD, TRIGGER_CONFIRM_SIGN_UP
from userpipe.local import outbox
from userpipe.local.aws import EmulatorError, InProcessAws
from userpipe.local.outbox import Outbox
from userpipe.local.sandbox import ACCOUNT, FunctionSandbox

TARGET_PREFIX: Final = "AWSCognitoIdentityProviderService."
CODE_VALIDITY_SECONDS: Final = 24 * 3600
TRIGGER_CALLS: Final = 3  # Cognito retries a trigger that does not answer in time, 3 calls in all
ADMIN_CLIENT: Final = "CLIENT_ID_NOT_APPLICABLE"  # callerContext.clientId of admin calls

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class PendingCode:
    code: str
    sent_at: float


class CognitoError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class CognitoFront:
    """WSGI middleware in front of the emulator: Cognito's codes and triggers (see module)."""

    def __init__(
        self,
        emulator: WSGIApp,
        *,
        aws: InProcessAws,
        user_pool_id: str,
        client_id: str,
        region: str,
        trigger: FunctionSandbox,
        outbox: Outbox,
        jwks: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._emulator = emulator
        self._aws = aws
        self._pool = user_pool_id
        self._client_id = client_id
        self._region = region
        self._trigger = trigger
        self._outbox = outbox
        self._jwks = json.dumps(jwks).encode()
        self._clock = clock
        self._codes: dict[tuple[str, str], PendingCode] = {}  # (kind, username) -> code
        self._lock = threading.Lock()

    # --- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        path = environ.get("PATH_INFO", "")
        if path.startswith("/v2/email/outbound-emails"):
            return self._send_email(environ, start_response)
        if path == f"/{self._pool}/.well-known/jwks.json":
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(self._jwks)))],
            )
            return [self._jwks]
        if not target.startswith(TARGET_PREFIX):
            return self._emulator(environ, start_response)
        operation = target.removeprefix(TARGET_PREFIX)
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            return self._emulator(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):  # as Cognito answers a body it cannot read
            answer = {
                "__type": "SerializationException",
                "message": "the body is not a JSON object",
            }
            return _respond(start_response, 400, answer)
        if not self._ours(request):
            return self._forward(environ, body, start_response)  # another pool's: as it is
        try:
            status, answer = handler(environ, body, request)
        except CognitoError as error:
            status, answer = 400, {"__type": error.code, "message": error.message}
        return _respond(start_response, status, answer)

    def _ours(self, request: dict[str, Any]) -> bool:
        if "UserPoolId" in request:
            return bool(request["UserPoolId"] == self._pool)
        return bool(request.get("ClientId") == self._client_id)

    def _forward(
        self, environ: dict[str, Any], body: bytes, start_response: Callable[..., Any]
    ) -> Any:
        return self._emulator(_with_body(environ, body), start_response)

    def _call_emulator(self, environ: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> Callable[..., None]:
            captured["status"] = int(status.split()[0])
            return lambda _data: None

        chunks = self._emulator(_with_body(environ, body), capture)
        data = b"".join(chunks)
        answer: dict[str, Any] = json.loads(data or b"{}")
        return captured["status"], answer

    # --- operations ---------------------------------------------------------------------------

    def _SignUp(  # noqa: N802 - named for the Cognito operation
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        status, answer = self._call_emulator(environ, body)
        if status == 200:
            user = self._user(answer["UserSub"])
            email = user["attributes"].get("email", request.get("Username", ""))
            self._send_code(outbox.SIGN_UP, user["username"], email)
            answer["CodeDeliveryDetails"] = _delivery(email)
        return status, answer

    def _ResendConfirmationCode(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        user = self._user(request.get("Username", ""))
        email = user["attributes"].get("email", "")
        if user["status"] != "UNCONFIRMED":
            raise CognitoError("InvalidParameterException", "User is already confirmed.")
        self._send_code(outbox.RESEND, user["username"], email, kind_key=outbox.SIGN_UP)
        return 200, {"CodeDeliveryDetails": _delivery(email)}

    def _ConfirmSignUp(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        user = self._unconfirmed_user(request.get("Username", ""))
        self._check_code(outbox.SIGN_UP, user["username"], str(request.get("ConfirmationCode", "")))
        status, answer = self._call_emulator(environ, body)
        if status != 200:
            return status, answer
        self._verify_email(user["username"])
        confirmed = _confirmed(user, email_verified=True)
        self._run_trigger(confirmed, TRIGGER_CONFIRM_SIGN_UP, self._client_id)
        return status, answer

    def _AdminConfirmSignUp(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        user = self._unconfirmed_user(request.get("Username", ""))
        status, answer = self._call_emulator(environ, body)
        if status == 200:
            self._run_trigger(_confirmed(user), TRIGGER_CONFIRM_SIGN_UP, ADMIN_CLIENT)
        return status, answer

    def _ForgotPassword(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        status, answer = self._call_emulator(environ, body)
        if status == 200:
            user = self._user(request.get("Username", ""))
            email = user["attributes"].get("email", "")
            self._send_code(outbox.FORGOT_PASSWORD, user["username"], email)
            answer["CodeDeliveryDetails"] = _delivery(email)
        return status, answer

    def _ConfirmForgotPassword(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        user = self._user(request.get("Username", ""))
        self._check_code(
            outbox.FORGOT_PASSWORD, user["username"], str(request.get("ConfirmationCode", ""))
        )
        status, answer = self._call_emulator(environ, body)
        if status == 200:
            self._run_trigger(user, TRIGGER_CONFIRM_FORGOT_PASSWORD, self._client_id)
        return status, answer

    def _RevokeToken(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Revoke a refresh token and the access tokens it issued (answered 200 for an unknown
        token, as OAuth's revocation endpoint does: RFC 7009, section 2.2)."""
        from moto.cognitoidp.models import cognitoidp_backends

        pool = cognitoidp_backends[ACCOUNT][self._region].user_pools[self._pool]
        token = str(request.get("Token", ""))
        with self._lock:
            issued = pool.refresh_tokens.get(token)
            if issued is not None and issued[0] == request.get("ClientId"):
                pool.refresh_tokens[token] = None
                origin = issued[2]
                for access in list(pool.access_tokens):
                    if _claims(access).get("origin_jti") == origin:
                        pool.access_tokens.pop(access, None)
        return 200, {}

    # --- codes --------------------------------------------------------------------------------

    def _send_code(
        self, kind: str, username: str, email: str, *, kind_key: str | None = None
    ) -> None:
        code = f"{secrets.randbelow(1_000_000):06d}"
        with self._lock:
            self._codes[(kind_key or kind, username)] = PendingCode(code, self._clock())
        self._outbox.append(email, kind, code)

    def _check_code(self, kind: str, username: str, code: str) -> None:
        with self._lock:
            pending = self._codes.get((kind, username))
            if pending is None or not secrets.compare_digest(pending.code, code):
                raise CognitoError(
                    "CodeMismatchException", "Invalid verification code provided, please try again."
                )
            if self._clock() - pending.sent_at > CODE_VALIDITY_SECONDS:
                raise CognitoError(
                    "ExpiredCodeException", "Invalid code provided, please request a code again."
                )
            del self._codes[(kind, username)]

    # --- users and the trigger ----------------------------------------------------------------

    def _user(self, username: str) -> dict[str, Any]:
        """The user as Cognito knows it (by username or email), or Cognito's own error."""
        try:
            found = self._aws.call(
                "cognito-idp",
                f"{TARGET_PREFIX}AdminGetUser",
                {"UserPoolId": self._pool, "Username": username},
            )
        except EmulatorError as error:
            raise CognitoError(error.code, error.message) from None
        return {
            "username": found["Username"],
            "status": found["UserStatus"],
            "attributes": {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])},
        }

    def _unconfirmed_user(self, username: str) -> dict[str, Any]:
        """The user, who must not be confirmed yet (Cognito refuses to confirm twice)."""
        user = self._user(username)
        if user["status"] == "CONFIRMED":
            raise CognitoError(
                "NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED"
            )
        return user

    def _verify_email(self, username: str) -> None:
        """Confirming with the emailed code verifies the address (moto never sets the flag)."""
        self._aws.call(
            "cognito-idp",
            f"{TARGET_PREFIX}AdminUpdateUserAttributes",
            {
                "UserPoolId": self._pool,
                "Username": username,
                "UserAttributes": [{"Name": "email_verified", "Value": "true"}],
            },
        )

    def post_confirmation_event(
        self, user: Mapping[str, Any], trigger_source: str, client_id: str
    ) -> dict[str, Any]:
        """The event Cognito sends the trigger, for ``user`` as ``_user`` read it (and as the
        confirmation left it: see ``_confirmed``)."""
        attributes = {**user["attributes"], "cognito:user_status": user["status"]}
        return {
            "version": "1",
            "region": self._region,
            "userPoolId": self._pool,
            "userName": user["username"],
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
            "triggerSource": trigger_source,
            "request": {"userAttributes": attributes},
            "response": {},
        }

    def _run_trigger(self, user: Mapping[str, Any], trigger_source: str, client_id: str) -> None:
        event = self.post_confirmation_event(user, trigger_source, client_id)
        for _ in range(TRIGGER_CALLS):
            invocation = self._trigger.invoke(event)
            if invocation.ok:
                return
            error = invocation.error or {}
            if error.get("errorType") != "Sandbox.Timedout":
                raise CognitoError(
                    "UserLambdaValidationException",
                    f"PostConfirmation failed with error {error.get('errorMessage', '')}.",
                )
        raise CognitoError(
            "UnexpectedLambdaException",
            "PostConfirmation invocation failed due to error Socket timeout while invoking "
            "Lambda function.",
        )

    # --- SES v2, for the example consumer -----------------------------------------------------

    def _send_email(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = json.loads(body or b"{}")
        content = request.get("Content", {}).get("Simple", {})
        subject = content.get("Subject", {}).get("Data", "")
        for to in request.get("Destination", {}).get("ToAddresses", []):
            self._outbox.append(to, outbox.EMAIL, subject=subject)
        return _respond(start_response, 200, {"MessageId": str(uuid.uuid4())})


def _claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified: only to match tokens this pool issued."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _delivery(email: str) -> dict[str, str]:
    """How Cognito describes where a code went: the address, masked."""
    local, _, domain = email.partition("@")
    return {
        "Destination": f"{local[:1]}***@{domain[:1]}***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }


def _with_body(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def _respond(
    start_response: Callable[..., Any], status: int, answer: dict[str, Any]
) -> list[bytes]:
    data = json.dumps(answer).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))]
    if status >= 400:
        headers.append(("x-amzn-ErrorType", str(answer.get("__type", ""))))
    reason = "OK" if status == 200 else "Bad Request"
    start_response(f"{status} {reason}", headers)
    return [data]


def _confirmed(user: Mapping[str, Any], *, email_verified: bool = False) -> dict[str, Any]:
    """The user as the emulator holds it once confirmed, without reading it again: moto finds a
    user of a pool that signs in by email by walking every user's attributes, so each read
    costs in proportion to the pool (``make bench``, the emulator growth row)."""
    attributes = dict(user["attributes"])
    if email_verified:
        attributes["email_verified"] = "true"
    return {**user, "status": "CONFIRMED", "attributes": attributes}
