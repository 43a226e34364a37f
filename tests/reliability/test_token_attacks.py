"""Forged, stolen and tampered tokens against the local GraphQL endpoint: every one refused
with AppSync's 401, and none reaches the resolver (its function is never invoked).

The emulator signs every pool's tokens with one RSA key that ships inside moto, so a test can
mint a token valid in every way but one (``tests.forged_tokens``). On AWS each pool has its own
keys; here a token of another pool is told apart by its issuer alone — which is the check AppSync
makes after the signature (Cognito developer guide, "Verifying a JSON web token").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from joserfc.jwk import RSAKey

from contracts.topology import USER_API
from tests import forged_tokens
from tests.integration.test_local_stack import ME, PASSWORD, new_email, signed_up
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack


def with_admin_group_and_signature_kept(token: str) -> str:
    """The payload edited to add the Admin group; the original signature left in place."""
    header, _, signature = token.split(".")
    claims = {**forged_tokens.claims_of(token), "cognito:groups": ["Admin"]}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def with_admin_group_resigned_by_the_attacker(token: str) -> str:
    """Admin group added, re-signed with the attacker's own key under the pool's key id."""
    claims = {**forged_tokens.claims_of(token), "cognito:groups": ["Admin"]}
    return forged_tokens.signed(claims, key=RSAKey.generate_key(2048), kid="dummy")


def of_another_pool(client: StackClient) -> str:
    """A real access token of a user of another pool in the same emulator."""
    cognito = client.aws.cognito
    pool = cognito.create_user_pool(PoolName="another-app")["UserPool"]["Id"]
    app = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="another-app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    email = new_email()
    cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True
    )
    result = cognito.initiate_auth(
        ClientId=app,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )
    access: str = result["AuthenticationResult"]["AccessToken"]
    return access


Attack = Callable[[str, StackClient], str | None]
REFUSED_TOKENS: dict[str, Attack] = {
    "missing": lambda token, client: None,
    "garbage": lambda token, client: "not-a-jwt",
    "bad-signature": lambda token, client: forged_tokens.tampered_signature(token),
    "unsigned-alg-none": lambda token, client: forged_tokens.unsigned(token),
    "hs256-with-the-public-key-as-secret": lambda token, client: forged_tokens.hmac_with_public_key(
        token
    ),
    "another-key": lambda token, client: forged_tokens.another_key(),
    "another-pools-token": lambda token, client: of_another_pool(client),
    "expired": lambda token, client: forged_tokens.expired(token),
    "not-yet-valid": lambda token, client: forged_tokens.resigned(token, nbf=10**10),
    "wrong-issuer": lambda token, client: forged_tokens.resigned(token, iss="https://evil.example"),
    "wrong-client": lambda token, client: forged_tokens.resigned(token, client_id="someoneelse"),
    "no-token-use": lambda token, client: forged_tokens.resigned(token, token_use=None),
    "refresh-token-use": lambda token, client: forged_tokens.resigned(token, token_use="refresh"),
    # An access token names its app client in client_id, an ID token in aud: swapping the use
    # must not let either skip the client check.
    "access-token-claiming-id-use": lambda token, client: forged_tokens.resigned(
        token, token_use="id"
    ),
    "admin-group-injected-signature-kept": lambda token, client: (
        with_admin_group_and_signature_kept(token)
    ),
    "admin-group-injected-resigned-by-attacker": lambda token, client: (
        with_admin_group_resigned_by_the_attacker(token)
    ),
}


@pytest.mark.parametrize("attack", REFUSED_TOKENS.values(), ids=REFUSED_TOKENS.keys())
def test_a_token_appsync_would_refuse_is_401_and_never_reaches_the_resolver(
    attack: Attack, stack: LocalStack, client: StackClient
) -> None:
    _, _, token = signed_up(client)
    forged = attack(token, client)
    invocations = stack.sandboxes[USER_API.id].invocations
    answer = client.graphql(ME, token=forged)
    assert answer.status == 401
    assert answer.body == {
        "errors": [{"errorType": "UnauthorizedException", "message": answer.errors[0]["message"]}]
    }
    assert stack.sandboxes[USER_API.id].invocations == invocations


def test_an_id_token_claiming_access_use_is_refused_but_the_real_one_works(
    client: StackClient,
) -> None:
    email, sub, _ = signed_up(client)
    own = client.sign_in(email, PASSWORD)
    swapped = forged_tokens.resigned(own.id, token_use="access")  # no client_id in an ID token
    assert client.graphql(ME, token=swapped).status == 401
    assert client.graphql(ME, token=own.id).data["me"]["id"] == sub
    assert client.graphql(ME, token=f"Bearer {own.access}").data["me"]["id"] == sub


def test_tokens_of_another_app_client_of_the_same_pool_are_refused(client: StackClient) -> None:
    email, _, _ = signed_up(client)
    other_client = client.aws.cognito.create_user_pool_client(
        UserPoolId=client.pool_id,
        ClientName="another-app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    foreign = client.aws.cognito.initiate_auth(
        ClientId=other_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    assert client.graphql(ME, token=foreign["AccessToken"]).status == 401
    assert client.graphql(ME, token=foreign["IdToken"]).status == 401
