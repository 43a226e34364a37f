"""The local pool signs with a key made on this machine (``userpipe.local.signing``): a token
minted with the key pair that ships inside moto is refused."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto import mock_aws
from moto.utilities.utils import load_resource

from userpipe.local.jwt_verification import InvalidTokenError, TokenVerifier
from userpipe.local.signing import TokenSigningKey

REGION = "eu-west-1"
PASSWORD = "Correct-Horse-9-Battery!"


@pytest.fixture
def pool() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pool_id = cognito.create_user_pool(PoolName="p", UsernameAttributes=["email"])["UserPool"][
            "Id"
        ]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="c", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        cognito.admin_create_user(UserPoolId=pool_id, Username="ada@example.com")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username="ada@example.com", Password=PASSWORD, Permanent=True
        )
        yield cognito, pool_id, client_id


def _emulated(pool_id: str) -> Any:
    from userpipe.local.stack import emulated_user_pool

    return emulated_user_pool(pool_id)


def test_the_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    key = TokenSigningKey(tmp_path / "keys" / "signing.json")
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert TokenSigningKey(key.path).kid == key.kid
    (public,) = key.jwks()["keys"]
    assert public["kid"] == key.kid and public["alg"] == "RS256" and "d" not in public


def test_tokens_are_signed_with_the_machines_key_and_moto_s_are_refused(
    tmp_path: Path, pool: tuple[Any, str, str]
) -> None:
    cognito, pool_id, client_id = pool
    key = TokenSigningKey(tmp_path / "signing.json")
    key.install(_emulated(pool_id))
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ada@example.com", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    verifier = TokenVerifier.for_pool(
        key.jwks(), region=REGION, user_pool_id=pool_id, client_id=client_id
    )
    claims = verifier.verify(tokens["AccessToken"])
    assert jwt.decode(tokens["IdToken"], key.key).header["kid"] == key.kid

    # The same claims, signed with the private key moto publishes in its package.
    moto_key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    minted = jwt.encode(
        {"alg": "RS256", "kid": "dummy"},
        {**claims, "exp": int(time.time()) + 3600, "cognito:groups": ["Admin"]},
        moto_key,
    )
    with pytest.raises(InvalidTokenError):
        verifier.verify(minted)
    served = json.dumps(key.jwks())
    assert json.dumps(moto_key.as_dict(private=False)["n"]) not in served
