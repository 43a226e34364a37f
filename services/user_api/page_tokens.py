"""Opaque, signed pagination tokens: a page's position, bound to the query it came from.

A token is ``base64url(json).base64url(hmac-sha256)``, unpadded. A forged, altered or foreign
token (from another query or another user's audit trail) fails verification and is rejected
with a clear error instead of reaching DynamoDB. Verification compares the exact canonical
text: base64 decoders skip padding and stray characters, so decoding first and comparing bytes
would let ``==`` or junk appended to a token through.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from services.user_api.errors import BadRequest


class InvalidNextToken(BadRequest):
    def __init__(self) -> None:
        super().__init__("nextToken is not valid for this query; start again without it")


class PageTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the page-token key must be at least 32 bytes")
        self._key = key

    def encode(self, scope: str, position: dict[str, Any] | None) -> str | None:
        if not position:
            return None
        payload = _b64(json.dumps({"s": scope, "p": position}, sort_keys=True).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def decode(self, scope: str, token: str | None) -> dict[str, Any] | None:
        if token is None:
            return None
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), _b64(self._sign(payload)).encode()):
            raise InvalidNextToken()
        try:
            raw = _unb64(payload)
            body = json.loads(raw) if _b64(raw) == payload else None
        except (ValueError, binascii.Error):
            raise InvalidNextToken() from None
        if (
            not isinstance(body, dict)
            or body.get("s") != scope
            or not isinstance(body.get("p"), dict)
        ):
            raise InvalidNextToken()
        position: dict[str, Any] = body["p"]
        return position

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
