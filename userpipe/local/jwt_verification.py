"""Verifying Cognito tokens as AppSync does, against the local pool's JWKS.

joserfc (the JOSE library moto itself uses) checks the signature with the pool's published
keys and an algorithm allow-list of RS256 only: an unsigned token (``alg: none``), an HMAC
token signed with the public key as its secret, or a token from another pool's key is refused.
Then the claims: ``exp`` and ``nbf``; ``iss`` is the pool (moto names the real Cognito host, as
AWS does); ``token_use`` is ``id`` or ``access``; and the app client — ``aud`` in an ID token,
``client_id`` in an access token (Cognito developer guide, "Verifying a JSON web token") — must
be the stack's own (the deployed API has the same rule: ``AppIdClientRegex``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS: Final = ["RS256"]
TOKEN_USES: Final = frozenset({"id", "access"})


class InvalidTokenError(Exception):
    """A token AppSync would refuse. ``message`` is what AppSync answers."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason  # for logs and tests: why exactly


MISSING = "Valid authorization header not provided."
UNPARSEABLE = "Unable to parse JWT token."
EXPIRED = "Token has expired."


@dataclass(frozen=True)
class TokenVerifier:
    keys: KeySet
    issuer: str
    client_id: str
    clock: Callable[[], float] = time.time

    @classmethod
    def for_pool(
        cls, jwks: Mapping[str, Any], *, region: str, user_pool_id: str, client_id: str
    ) -> TokenVerifier:
        return cls(
            keys=KeySet.import_key_set(dict(jwks)),  # type: ignore[arg-type]
            issuer=f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}",
            client_id=client_id,
        )

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of the ``Authorization`` header's token (a bare token, or after
        ``Bearer ``, as AppSync accepts both)."""
        token = (authorization or "").strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            raise InvalidTokenError(MISSING, "no token")
        try:
            decoded = jwt.decode(token, self.keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidTokenError(UNPARSEABLE, f"{type(exc).__name__}: {exc}") from None
        claims: dict[str, Any] = dict(decoded.claims)
        now = self.clock()
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
            raise InvalidTokenError(EXPIRED, "expired (or no exp)")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now:
            raise InvalidTokenError(MISSING, "not valid yet (nbf)")
        if claims.get("iss") != self.issuer:
            raise InvalidTokenError(MISSING, "another issuer")
        use = claims.get("token_use")
        if use not in TOKEN_USES:
            raise InvalidTokenError(MISSING, "token_use is neither id nor access")
        client = claims.get("aud") if use == "id" else claims.get("client_id")
        if client != self.client_id:
            raise InvalidTokenError(MISSING, "another app client")
        if not isinstance(claims.get("sub"), str):
            raise InvalidTokenError(MISSING, "no sub")
        return claims
