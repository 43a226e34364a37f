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
- Which function a trigger is, is what the pool's ``LambdaConfig`` names at that moment, as in
  Cognito: the front reads it (``DescribeUserPool``) at each invocation and runs the function
  that ARN names (``functions``: the stack's sandboxes, by name or ARN), so
  ``aws cognito-idp update-user-pool --lambda-config PostConfirmation=<arn>`` switches the
  trigger at once. No trigger configured: none runs. An ARN the stack has no function for is
  what Cognito answers when it cannot invoke one — a deleted function, or one whose resource
  policy does not let Cognito in: ``UnexpectedLambdaException`` "PostConfirmation invocation
  failed due to error AccessDeniedException." (AWS re:Post knowledge center, "How do I
  troubleshoot errors related to Lambda triggers in Amazon Cognito?": "PreSignUp invocation
  failed due to error AccessDeniedException. ... This error also occurs when you delete a
  function that you added as a trigger"; API reference: ``UnexpectedLambdaException`` "is
  thrown when Amazon Cognito encounters an unexpected exception with Lambda"). Pre token
  generation is read from ``PreTokenGenerationConfig`` (``LambdaArn``, ``LambdaVersion``), else
  the legacy ``PreTokenGeneration`` (which, when both are set, "must be identical": API
  reference, LambdaConfigType).
- ``UpdateUserPool`` keeps what AWS's cannot change. AWS: "If you don't provide a value for an
  attribute, Amazon Cognito sets it to its default value" (API reference, UpdateUserPool) —
  for the parameters UpdateUserPool has; ``UsernameAttributes``, ``AliasAttributes``,
  ``UsernameConfiguration`` and ``Schema`` are CreateUserPool's alone (botocore's service
  model) and stay. moto 5.2.5 replaces the pool's whole stored configuration with its defaults
  plus what the call gave (``CognitoIdpUserPool.update_extended_config``), those four
  included: an update that names only ``LambdaConfig`` would drop ``UsernameAttributes`` and
  leave a pool that signs in by email unable to find its users by email. The front passes
  the four on from the pool as it is; everything else resets as in AWS.
- ``RevokeToken`` (Amplify's ``signOut``) revokes the refresh token and the access tokens
  issued from it for Cognito's own API, as Cognito does ("Revoking tokens": they "can't be used
  with any Amazon Cognito API calls that require a token", yet a JWT library that checks
  signature and expiry — AppSync's check — still accepts them until they expire).
- The pool's ``/.well-known/jwks.json`` publishes the stack's own signing key
  (``userpipe.local.signing``), not the one inside moto.
- SES v2 ``SendEmail`` (what the example consumer calls) goes to the outbox too.

The rest of a user's life, which moto lacks or gets wrong (moto 5.2.5 has no ``DeleteUser``,
``GetUserAttributeVerificationCode`` or ``VerifyUserAttribute``, and its
``UpdateUserAttributes`` overwrites the email at once), with moto's user record as the store:

- Email changes under the pool's ``AttributesRequireVerificationBeforeUpdate = ["email"]``:
  ``UpdateUserAttributes`` (and ``AdminUpdateUserAttributes`` without ``email_verified=true``)
  keeps the old, verified address and sends a code (outbox kind ``verify-attribute``) to the
  new one; ``GetUserAttributeVerificationCode`` sends a new code; ``VerifyUserAttribute``
  checks it and makes the new address the verified ``email``. An admin who sets
  ``email_verified=true`` in the same call changes the address at once.
- ``DeleteUser`` checks the access token as moto does and deletes the user; ``AdminDeleteUser``
  and ``AdminCreateUser`` pass through.
- An admin-created user's first sign-in: when ``RespondToAuthChallenge`` (or its admin form)
  completes ``NEW_PASSWORD_REQUIRED``, the pool's pre token generation trigger runs with
  ``TokenGeneration_NewPasswordChallenge`` (Cognito developer guide, "Connecting API operations
  to Lambda triggers": AdminCreateUser → "Pre token generation / Trigger source:
  TokenGeneration_NewPasswordChallenge").
  Real Cognito invokes that trigger on every token issuance (``TokenGeneration_Authentication``,
  ``_RefreshTokens``, ...); userpipe's function returns at once for every other source, so the
  emulator invokes it only here: a documented simplification.
- After each successful lifecycle call (``UpdateUserAttributes``, ``VerifyUserAttribute``,
  ``AdminUpdateUserAttributes``, ``DeleteUser``, ``AdminDeleteUser``, ``AdminCreateUser``, and
  ``RespondToAuthChallenge`` / ``AdminRespondToAuthChallenge`` when they issue tokens) the
  CloudTrail-shaped event AWS would put on the default bus goes to the ``cloudtrail`` callback
  (``userpipe.local.cloudtrail``: values AWS hides are hidden). Its failure is logged and never
  fails the call.

Everything else reaches the emulator unchanged.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from contracts.names import TRIGGER_CONFIRM_FORGOT_PASSWORD, TRIGGER_CONFIRM_SIGN_UP
from userpipe.local import cloudtrail, outbox
from userpipe.local.aws import EmulatorError, InProcessAws
from userpipe.local.iam import PRINCIPAL_KEY
from userpipe.local.outbox import Outbox
from userpipe.local.sandbox import ACCOUNT, FunctionSandbox

TARGET_PREFIX: Final = "AWSCognitoIdentityProviderService."
CODE_VALIDITY_SECONDS: Final = 24 * 3600
TRIGGER_CALLS: Final = 3  # Cognito retries a trigger that does not answer in time, 3 calls in all
POST_CONFIRMATION: Final = "PostConfirmation"
PRE_TOKEN_GENERATION: Final = "PreTokenGeneration"  # noqa: S105 - a trigger's name
#: What only CreateUserPool sets: botocore's cognito-idp model, CreateUserPoolRequest's members
#: that UpdateUserPoolRequest lacks. AWS keeps them through an UpdateUserPool (see module).
CREATE_ONLY: Final = ("AliasAttributes", "Schema", "UsernameAttributes", "UsernameConfiguration")
#: The access token's scope for tokens from Cognito's API (not the hosted UI's OAuth flows).
SIGN_IN_SCOPE: Final = "aws.cognito.signin.user.admin"
ADMIN_CLIENT: Final = "CLIENT_ID_NOT_APPLICABLE"  # callerContext.clientId of admin calls
TOKEN_GENERATION_NEW_PASSWORD: Final = "TokenGeneration_NewPasswordChallenge"  # noqa: S105
NEW_PASSWORD_REQUIRED: Final = "NEW_PASSWORD_REQUIRED"  # noqa: S105 - a challenge's name

LOG = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _cognito_one_at_a_time(emulator: WSGIApp, lock: threading.RLock) -> WSGIApp:
    """``emulator`` with its Cognito calls made one at a time (each answer read whole inside
    the lock); every other service's as they come."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(TARGET_PREFIX):
            return emulator(environ, start_response)
        with lock:
            return list(emulator(environ, start_response))

    return call


class _CognitoOneAtATime:
    """An ``InProcessAws`` whose Cognito calls hold the front's lock."""

    def __init__(self, aws: InProcessAws, lock: threading.RLock) -> None:
        self._aws, self._lock = aws, lock

    def call(self, service: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        if service != "cognito-idp":
            return self._aws.call(service, target, payload)
        with self._lock:
            return self._aws.call(service, target, payload)


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
        functions: Callable[[str], FunctionSandbox | None],
        outbox: Outbox,
        jwks: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
        cloudtrail: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        # moto's Cognito backend is not thread-safe: a SignUp adding a user while AdminGetUser
        # walks the pool's users failed with "OrderedDict mutated during iteration" (a recipe
        # app's sign-ups during an adoption's lookups). Every Cognito call the front passes on or
        # makes holds one lock; the front never holds it while a trigger runs.
        lock = threading.RLock()
        self._emulator = _cognito_one_at_a_time(emulator, lock)
        self._aws = _CognitoOneAtATime(aws, lock)
        self._pool = user_pool_id
        self._client_id = client_id
        self._region = region
        self._functions = functions  # a function by its ARN, None for one the stack lacks
        self._outbox = outbox
        self._jwks = json.dumps(jwks).encode()
        self._clock = clock
        self._cloudtrail = cloudtrail
        self._codes: dict[tuple[str, str], PendingCode] = {}  # (kind, username) -> code
        self._pending_emails: dict[str, str] = {}  # username -> new address awaiting its code
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
        if "ClientId" in request:
            return bool(request["ClientId"] == self._client_id)
        if "AccessToken" in request:
            return self._token_is_ours(str(request["AccessToken"]))
        return False

    def _token_is_ours(self, token: str) -> bool:
        """An access token this pool's client issued, or one nobody could have (unreadable):
        the front answers the latter with Cognito's ``NotAuthorizedException``."""
        claims = _claims(token)
        if not claims:
            return True
        issuer = str(claims.get("iss", ""))
        return claims.get("client_id") == self._client_id or issuer.endswith(f"/{self._pool}")

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

    def _UpdateUserPool(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Resets what the call leaves out, as AWS does, but keeps what only CreateUserPool
        sets (``CREATE_ONLY``; moto would drop it: see module)."""
        stored = self._emulated_pool().extended_config
        kept = {name: stored[name] for name in CREATE_ONLY if name in stored}
        return self._call_emulator(environ, json.dumps({**request, **kept}).encode())

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

    # --- a user's own attributes (access token) ---------------------------------------------

    def _UpdateUserAttributes(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A new ``email`` waits for its code; every other attribute changes at once.

        The pool requires verification before an email update
        (``UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate = ["email"]``):
        "Amazon Cognito sends a verification message to the new phone number or email address.
        Amazon Cognito doesn't change the value of the attribute until your user responds to
        the verification message and confirms the new value" (Cognito API reference,
        UserAttributeUpdateSettingsType). The answer lists where the code went
        (``CodeDeliveryDetailsList``, API reference, UpdateUserAttributes). moto would
        overwrite the email at once and answer no delivery details.
        """
        user = self._token_user(str(request.get("AccessToken", "")))
        attributes = _attribute_list(request.get("UserAttributes"))
        new_email = _pop_attribute(attributes, "email")
        if attributes:
            self._admin_update(user["username"], attributes)
        deliveries = []
        if new_email is not None and new_email != user["attributes"].get("email"):
            self._await_email(user["username"], new_email)
            deliveries.append(_delivery(new_email))
        self._record(
            environ,
            "UpdateUserAttributes",
            request,
            user["attributes"]["sub"],
            response={
                "codeDeliveryDetailsList": [cloudtrail.hidden_delivery(d) for d in deliveries]
            },
        )
        return 200, {"CodeDeliveryDetailsList": deliveries}

    def _GetUserAttributeVerificationCode(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A new code for the address awaiting verification (else the current one); the
        earlier code stops working (moto does not implement this operation)."""
        user = self._token_user(str(request.get("AccessToken", "")))
        _only_email(request)
        with self._lock:
            address = self._pending_emails.get(user["username"])
        address = address or user["attributes"].get("email", "")
        self._send_code(outbox.VERIFY_ATTRIBUTE, user["username"], address)
        return 200, {"CodeDeliveryDetails": _delivery(address)}

    def _VerifyUserAttribute(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The emailed code makes the awaited address the user's verified ``email`` (moto does
        not implement this operation). A wrong code: ``CodeMismatchException``; after 24 hours:
        ``ExpiredCodeException`` (the same rules as the sign-up codes)."""
        user = self._token_user(str(request.get("AccessToken", "")))
        _only_email(request)
        self._check_code(outbox.VERIFY_ATTRIBUTE, user["username"], str(request.get("Code", "")))
        with self._lock:
            address = self._pending_emails.pop(user["username"], None)
        address = address or user["attributes"].get("email", "")
        self._pin_tokens(user["username"])
        self._admin_update(
            user["username"],
            [{"Name": "email", "Value": address}, {"Name": "email_verified", "Value": "true"}],
        )
        self._record(environ, "VerifyUserAttribute", request, user["attributes"]["sub"])
        return 200, {}

    def _DeleteUser(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The user deletes themself (moto does not implement it): the token is checked as
        moto checks one (unknown or revoked: ``NotAuthorizedException``), then the user is
        deleted from the emulator's pool."""
        user = self._token_user(str(request.get("AccessToken", "")))
        self._sign_out(user["username"])
        try:
            self._aws.call(
                "cognito-idp",
                f"{TARGET_PREFIX}AdminDeleteUser",
                {"UserPoolId": self._pool, "Username": user["username"]},
            )
        except EmulatorError as error:
            raise CognitoError(error.code, error.message) from None
        self._forget(user["username"])
        self._record(environ, "DeleteUser", request, user["attributes"]["sub"])
        return 200, {}

    # --- administrators' calls (signed) ------------------------------------------------------

    def _AdminUpdateUserAttributes(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """An admin's email change. With ``email_verified=true`` in the same call the new
        address is verified and active at once ("You can also call the
        AdminUpdateUserAttributes API and set email_verified or phone_number_verified to
        true"); without it the pool's verification rule applies as for the user's own change
        ("When you update a user attribute that has this option activated, Amazon Cognito sends
        a verification message to the new ... email address" and keeps the old value until it
        is confirmed): both from the API reference, UserAttributeUpdateSettingsType."""
        user = self._user(str(request.get("Username", "")))
        attributes = _attribute_list(request.get("UserAttributes"))
        verified = any(
            a["Name"] == "email_verified" and str(a.get("Value")).lower() == "true"
            for a in attributes
        )
        new_email = next((a.get("Value") for a in attributes if a["Name"] == "email"), None)
        awaits_code = (
            new_email is not None and not verified and new_email != user["attributes"].get("email")
        )
        if awaits_code:
            _pop_attribute(attributes, "email")
            if attributes:
                self._admin_update(user["username"], attributes)
            self._await_email(user["username"], str(new_email))
        else:
            if new_email is not None:
                self._pin_tokens(user["username"])
            status, answer = self._call_emulator(environ, body)
            if status != 200:
                return status, answer
            if new_email is not None:
                with self._lock:
                    self._pending_emails.pop(user["username"], None)
        self._record(
            environ, "AdminUpdateUserAttributes", request, user["attributes"]["sub"], signed=True
        )
        return 200, {}

    def _AdminDeleteUser(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Passes through (after signing the user out: see ``_sign_out``)."""
        user = self._user(str(request.get("Username", "")))
        self._sign_out(user["username"])
        status, answer = self._call_emulator(environ, body)
        if status == 200:
            self._forget(user["username"])
            self._record(
                environ, "AdminDeleteUser", request, user["attributes"]["sub"], signed=True
            )
        return status, answer

    def _AdminCreateUser(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        status, answer = self._call_emulator(environ, body)
        if status == 200:
            created = answer.get("User", {})
            sub = next(
                (a["Value"] for a in created.get("Attributes", []) if a["Name"] == "sub"),
                created.get("Username", ""),
            )
            self._record(environ, "AdminCreateUser", request, sub, signed=True)
        return status, answer

    # --- sign-in challenges --------------------------------------------------------------------

    def _RespondToAuthChallenge(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        return self._respond_to_challenge(environ, body, request, "RespondToAuthChallenge")

    def _AdminRespondToAuthChallenge(  # noqa: N802
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        return self._respond_to_challenge(environ, body, request, "AdminRespondToAuthChallenge")

    def _respond_to_challenge(
        self, environ: dict[str, Any], body: bytes, request: dict[str, Any], event_name: str
    ) -> tuple[int, dict[str, Any]]:
        """moto answers the challenge; when the answer issues tokens the call is recorded, and
        when it completes ``NEW_PASSWORD_REQUIRED`` (an admin-created user's first sign-in) the
        pre token generation trigger runs first, as ``TokenGeneration_NewPasswordChallenge``
        (see ``pre_token_event``). A failing trigger answers Cognito's error instead of the
        tokens."""
        status, answer = self._call_emulator(environ, body)
        tokens = answer.get("AuthenticationResult") if status == 200 else None
        if not isinstance(tokens, dict):
            return status, answer
        sub = str(_claims(str(tokens.get("AccessToken", ""))).get("sub", ""))
        first_sign_in = request.get("ChallengeName") == NEW_PASSWORD_REQUIRED
        trigger = _pre_token_trigger(self._lambda_config()) if first_sign_in else None
        if trigger is not None:
            arn, version = trigger
            responses = request.get("ChallengeResponses") or {}
            user = self._user(str(responses.get("USERNAME", sub)))
            event = self.pre_token_event(
                user,
                TOKEN_GENERATION_NEW_PASSWORD,
                str(request.get("ClientId", "")),
                client_metadata=request.get("ClientMetadata"),
                version=version,
            )
            self._invoke(self._function(arn, PRE_TOKEN_GENERATION), event, PRE_TOKEN_GENERATION)
        self._record(environ, event_name, request, sub, signed=event_name.startswith("Admin"))
        return status, answer

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
        """The PostConfirmation function the pool names now, if it names one."""
        arn = self._lambda_config().get(POST_CONFIRMATION)
        if not arn:
            return
        event = self.post_confirmation_event(user, trigger_source, client_id)
        self._invoke(self._function(str(arn), POST_CONFIRMATION), event, POST_CONFIRMATION)

    def _lambda_config(self) -> dict[str, Any]:
        """The pool's triggers as they are now (an ``UpdateUserPool`` counts from the next
        invocation on, as in Cognito)."""
        try:
            answer = self._aws.call(
                "cognito-idp", f"{TARGET_PREFIX}DescribeUserPool", {"UserPoolId": self._pool}
            )
        except EmulatorError as error:
            raise CognitoError(error.code, error.message) from None
        config = answer["UserPool"].get("LambdaConfig")
        return dict(config) if isinstance(config, dict) else {}

    def _function(self, arn: str, trigger: str) -> FunctionSandbox:
        """The function ``arn`` names, or Cognito's answer when it cannot invoke it."""
        function = self._functions(arn)
        if function is None:
            raise CognitoError(
                "UnexpectedLambdaException",
                f"{trigger} invocation failed due to error AccessDeniedException.",
            )
        return function

    def pre_token_event(
        self,
        user: Mapping[str, Any],
        trigger_source: str,
        client_id: str,
        *,
        client_metadata: Mapping[str, str] | None = None,
        version: str = "V1_0",
    ) -> dict[str, Any]:
        """The pre token generation event Cognito sends: the common fields, the user's
        attributes with ``sub`` and ``cognito:user_status``, the user's groups as
        ``groupConfiguration`` and ``response.claimsOverrideDetails`` (Cognito developer guide,
        "Pre token generation Lambda trigger"; the shape as typed in Powertools' parser
        ``PreTokenGenerationTriggerSchemaV1`` and in ``@types/aws-lambda``
        ``pre-token-generation.d.ts``: ``request {userAttributes, groupConfiguration
        {groupsToOverride, iamRolesToOverride, preferredRole}, clientMetadata?}``).

        ``version`` is the pool's ``LambdaVersion``: ``V2_0`` and ``V3_0`` events also carry
        the access token's ``request.scopes`` and answer in
        ``response.claimsAndScopeOverrideDetails`` (``@types/aws-lambda``
        ``pre-token-generation-v2.d.ts``); their ``version`` field is written as the version's
        digit, which no captured V2 event here confirms."""
        attributes = {**user["attributes"], "cognito:user_status": user["status"]}
        request: dict[str, Any] = {
            "userAttributes": attributes,
            "groupConfiguration": {
                "groupsToOverride": self._groups(user["username"]),
                "iamRolesToOverride": [],
                "preferredRole": None,
            },
        }
        if client_metadata:
            request["clientMetadata"] = dict(client_metadata)
        response: dict[str, Any] = {"claimsOverrideDetails": None}
        if version != "V1_0":
            request["scopes"] = [SIGN_IN_SCOPE]
            response = {"claimsAndScopeOverrideDetails": None}
        return {
            "version": version.removeprefix("V").split("_", 1)[0],
            "triggerSource": trigger_source,
            "region": self._region,
            "userPoolId": self._pool,
            "userName": user["username"],
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
            "request": request,
            "response": response,
        }

    def _invoke(self, function: FunctionSandbox, event: dict[str, Any], trigger: str) -> None:
        """Run a trigger as Cognito does: up to three calls while it times out; an error is
        answered as ``UserLambdaValidationException`` ("<Trigger> failed with error ...")."""
        for _ in range(TRIGGER_CALLS):
            invocation = function.invoke(event)
            if invocation.ok:
                return
            error = invocation.error or {}
            if error.get("errorType") != "Sandbox.Timedout":
                raise CognitoError(
                    "UserLambdaValidationException",
                    f"{trigger} failed with error {error.get('errorMessage', '')}.",
                )
        raise CognitoError(
            "UnexpectedLambdaException",
            f"{trigger} invocation failed due to error Socket timeout while invoking "
            "Lambda function.",
        )

    # --- lifecycle helpers --------------------------------------------------------------------

    def _token_user(self, token: str) -> dict[str, Any]:
        """The user an access token belongs to, checked as moto checks it (``GetUser``): an
        unknown, revoked or signed-out token, or a disabled user, is Cognito's
        ``NotAuthorizedException``."""
        try:
            found = self._aws.call("cognito-idp", f"{TARGET_PREFIX}GetUser", {"AccessToken": token})
        except EmulatorError as error:
            raise CognitoError(error.code, error.message) from None
        return {
            "username": found["Username"],
            "status": found.get("UserStatus", "CONFIRMED"),
            "attributes": {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])},
        }

    def _admin_update(self, username: str, attributes: list[dict[str, Any]]) -> None:
        try:
            self._aws.call(
                "cognito-idp",
                f"{TARGET_PREFIX}AdminUpdateUserAttributes",
                {"UserPoolId": self._pool, "Username": username, "UserAttributes": attributes},
            )
        except EmulatorError as error:
            raise CognitoError(error.code, error.message) from None

    def _await_email(self, username: str, address: str) -> None:
        """Keep ``address`` until its code comes back, and send the code there."""
        with self._lock:
            self._pending_emails[username] = address
        self._send_code(outbox.VERIFY_ATTRIBUTE, username, address)

    def _emulated_pool(self) -> Any:
        from moto.cognitoidp.models import cognitoidp_backends

        return cognitoidp_backends[ACCOUNT][self._region].user_pools[self._pool]

    def _pin_tokens(self, username: str) -> None:
        """Make the user's tokens name the user by username. moto records the name a user
        signed in with (in this pool, the email) and finds the user by it on every use, so
        without this a changed email would orphan the user's tokens; Cognito's tokens stay
        valid across an email change."""
        pool = self._emulated_pool()
        names = _sign_in_names(pool, username)
        with self._lock:
            for token, (client, signed_in_as) in list(pool.access_tokens.items()):
                if signed_in_as in names:
                    pool.access_tokens[token] = (client, username)
            for token, issued in list(pool.refresh_tokens.items()):
                if issued is not None and issued[1] in names:
                    pool.refresh_tokens[token] = (issued[0], username, *issued[2:])

    def _sign_out(self, username: str) -> None:
        """Revoke the user's tokens before a deletion, so they are refused as unknown
        (``NotAuthorizedException``); moto keeps a deleted user's tokens (and its own sign-out
        misses those recorded under the email)."""
        pool = self._emulated_pool()
        names = _sign_in_names(pool, username)
        with self._lock:
            for token, (_, signed_in_as) in list(pool.access_tokens.items()):
                if signed_in_as in names:
                    pool.access_tokens.pop(token, None)
            for token, issued in list(pool.refresh_tokens.items()):
                if issued is not None and issued[1] in names:
                    pool.refresh_tokens[token] = None

    def _forget(self, username: str) -> None:
        """A deleted user's codes and awaited address go with them."""
        with self._lock:
            self._pending_emails.pop(username, None)
            for key in [k for k in self._codes if k[1] == username]:
                del self._codes[key]

    def _groups(self, username: str) -> list[str]:
        try:
            answer = self._aws.call(
                "cognito-idp",
                f"{TARGET_PREFIX}AdminListGroupsForUser",
                {"UserPoolId": self._pool, "Username": username},
            )
        except EmulatorError as error:
            raise CognitoError(error.code, error.message) from None
        return [group["GroupName"] for group in answer.get("Groups", [])]

    def _record(
        self,
        environ: Mapping[str, Any],
        event_name: str,
        request: Mapping[str, Any],
        sub: str,
        *,
        signed: bool = False,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        """Hand the call's CloudTrail event to the emitter. CloudTrail's delivery is independent
        of the call: an emitter that fails is logged (by event name only) and the call still
        succeeds."""
        if self._cloudtrail is None:
            return
        try:
            identity = (
                cloudtrail.signer_identity(environ.get(PRINCIPAL_KEY), ACCOUNT) if signed else None
            )
            event = cloudtrail.api_call_event(
                event_name,
                request,
                user_pool_id=self._pool,
                sub=sub,
                account=ACCOUNT,
                region=self._region,
                user_identity=identity,
                source_ip=str(environ.get("REMOTE_ADDR") or "127.0.0.1"),
                user_agent=str(environ.get("HTTP_USER_AGENT", "")),
                at=datetime.fromtimestamp(self._clock(), UTC),
                response_elements=response,
            )
            self._cloudtrail(event)
        except Exception:  # delivery must never fail the Cognito call
            LOG.warning("the CloudTrail event of %s was not delivered", event_name, exc_info=True)

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


def _pre_token_trigger(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """The pre token generation function's ARN and event version a ``LambdaConfig`` names:
    ``PreTokenGenerationConfig`` first, else the legacy ``PreTokenGeneration`` (version 1)."""
    detailed = config.get("PreTokenGenerationConfig")
    if isinstance(detailed, dict) and detailed.get("LambdaArn"):
        return str(detailed["LambdaArn"]), str(detailed.get("LambdaVersion") or "V1_0")
    legacy = config.get(PRE_TOKEN_GENERATION)
    return (str(legacy), "V1_0") if legacy else None


def _sign_in_names(pool: Any, username: str) -> set[str]:
    """The names moto may have recorded a sign-in of ``username`` under: the username and the
    user's sign-in aliases (the pool's ``UsernameAttributes``)."""
    user = pool.users.get(username)
    if user is None:
        return {username}
    aliases = pool.extended_config.get("UsernameAttributes") or []
    return {username} | {
        str(user.attribute_lookup[a]) for a in aliases if a in user.attribute_lookup
    }


def _attribute_list(value: Any) -> list[dict[str, Any]]:
    """A request's ``UserAttributes`` as a list of ``{Name, Value}`` (anything else dropped)."""
    if not isinstance(value, list):
        return []
    return [dict(a) for a in value if isinstance(a, dict) and isinstance(a.get("Name"), str)]


def _pop_attribute(attributes: list[dict[str, Any]], name: str) -> str | None:
    """Remove ``name`` from ``attributes``; its value, or ``None`` when absent."""
    found = next((a for a in attributes if a["Name"] == name), None)
    if found is None:
        return None
    attributes.remove(found)
    return str(found.get("Value", ""))


def _only_email(request: Mapping[str, Any]) -> None:
    """The pool verifies email only (it has no phone numbers)."""
    if request.get("AttributeName") != "email":
        raise CognitoError(
            "InvalidParameterException", "Only the email attribute can be verified in this pool."
        )


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
