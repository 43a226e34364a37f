"""The key the local user pool signs its tokens with: made on this machine, never the one that
ships inside moto.

moto signs every pool's tokens with one RSA key pair published in its own package
(``moto/cognitoidp/resources/jwks-private.json``): anyone could mint a token the emulator's JWKS
accepts. The local stack makes an RSA-2048 key once (RS256, as Cognito signs), keeps it in
``<state_dir>/keys/token-signing-key.json`` (a private JWK, mode 0600), has the pool sign with it
under its own key id (the RFC 7638 thumbprint), and publishes only its public half at the
pool's ``/.well-known/jwks.json`` — so a token minted with moto's key pair is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from userpipe.local.files import write_secret

KEY_BITS = 2048


class TokenSigningKey:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.key = self._load_or_create()
        self.kid = self.key.thumbprint()

    def _load_or_create(self) -> RSAKey:
        try:
            key = RSAKey.import_key(json.loads(self.path.read_text()))
            if key.is_private:
                return key
        except (OSError, ValueError, TypeError, KeyError):
            pass
        key = RSAKey.generate_key(KEY_BITS, private=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_secret(self.path, json.dumps(key.as_dict(private=True)).encode())
        return key

    def jwks(self) -> dict[str, Any]:
        """The public key set, as a pool publishes it."""
        public = {**self.key.as_dict(private=False), "kid": self.kid, "alg": "RS256", "use": "sig"}
        return {"keys": [public]}

    def install(self, pool: Any) -> None:
        """Make moto's user pool ``pool`` sign with this key, under its key id: moto's
        ``create_jwt`` writes a fixed ``kid`` ("dummy", its own key's), so each token it makes is
        signed again here with the right header."""
        original: Callable[..., tuple[str, int]] = pool.create_jwt
        key, kid = self.key, self.kid

        def create_jwt(*args: Any, **kwargs: Any) -> tuple[str, int]:
            token, expires_in = original(*args, **kwargs)
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
            return jwt.encode({"alg": "RS256", "kid": kid}, claims, key), expires_in

        pool.json_web_key = key
        pool.create_jwt = create_jwt
