"""Tokens an attacker (or a clock) would present, signed or not with the emulator's key.

moto signs every pool's tokens with one RSA key that ships inside moto; knowing it, a test can
mint exactly the token it needs: expired, for another client, another pool, another use.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import importlib.resources
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


def emulator_key() -> RSAKey:
    resource = importlib.resources.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz"
    return RSAKey.import_key(json.loads(gzip.decompress(resource.read_bytes())))


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def signed(claims: dict[str, Any], key: RSAKey | None = None, kid: str = "dummy") -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key or emulator_key())


def resigned(token: str, **changes: Any) -> str:
    """The same claims with ``changes`` (``None`` removes a claim), signed with the emulator's
    key: valid in every way but the changed one."""
    claims = {**claims_of(token), **changes}
    return signed({k: v for k, v in claims.items() if v is not None})


def expired(token: str) -> str:
    now = int(time.time())
    return resigned(token, iat=now - 7200, exp=now - 3600)


def unsigned(token: str) -> str:
    """``alg: none`` with no signature."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{token.split('.')[1]}."


def hmac_with_public_key(token: str) -> str:
    """HS256 "signed" with the pool's public key as the secret: the classic algorithm confusion."""
    public = json.dumps(emulator_key().as_dict(private=False), sort_keys=True).encode()
    header = _b64(json.dumps({"alg": "HS256", "kid": "dummy"}).encode())
    signing_input = f"{header}.{token.split('.')[1]}".encode()
    return (
        f"{signing_input.decode()}.{_b64(hmac.new(public, signing_input, hashlib.sha256).digest())}"
    )


def tampered_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"


def another_key() -> str:
    """A token with the right claims shape, signed by a key that is not the pool's."""
    return signed(
        {"sub": "x", "token_use": "access", "exp": int(time.time()) + 600},
        key=RSAKey.generate_key(2048),
        kid="another",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
