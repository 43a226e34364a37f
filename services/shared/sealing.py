"""Seals personal data for events: AES-256-GCM under a per-user key (crypto-shredding).

An event carries a user's profile only as ``v1.`` + base64url(nonce | ciphertext | tag), no
padding, sealed under that user's key (``services.shared.user_keys``). Deleting the key makes
every copy unreadable at once: archived, queued or dead-lettered.

``context`` is GCM's associated data: authenticated, not encrypted, and not carried in the text.
The producer binds a sealed value to where it belongs (``"{userPoolId}/{sub}/{_version}"``), so
a value moved to another user or version fails to open instead of opening as the wrong fact.

Why random 96-bit nonces are safe here: NIST SP 800-38D (2007), section 8.3, allows at most 2^32
invocations of GCM's encryption per key when IVs are random, so that the chance of a repeated IV
(which would expose the key's authentication subkey) stays below 2^-32; NIST restates the limit
("the number of invocations is limited to 2^32 if the random nonce generation method is
employed") in its pre-draft call for comments on SP 800-38D Rev. 1,
https://csrc.nist.gov/pubs/sp/800/38/d/r1/iprd. Each user has their own key, and a key seals
once per profile change of that one user: many orders of magnitude below 2^32.

Errors never quote the plaintext, the key or the sealed text: a log line of one is safe.
Requires the ``crypto`` layer (``cryptography``): import this module only in functions that
attach it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.shared.user_keys import KEY_BYTES, new_key

__all__ = [
    "InvalidKeyError",
    "UnreadableSealError",
    "new_key",
    "open_json",
    "open_sealed",
    "seal",
    "seal_json",
]

PREFIX: Final = "v1."
NONCE_BYTES: Final = 12  # 96 bits: GCM's direct IV length (SP 800-38D, 8.2.2)
TAG_BYTES: Final = 16  # AESGCM appends a full 128-bit tag
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


class UnreadableSealError(ValueError):
    """A sealed value that does not open: malformed text, another key or context, or tampering.

    Says which of those it could tell apart (a malformed text, versus a failed authentication
    that covers the other three), never a value."""


class InvalidKeyError(ValueError):
    """A key of the wrong length (its length is named, never its bytes). Keys come from
    ``new_key`` (``services.shared.user_keys``, which creates and stores them)."""


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise InvalidKeyError(f"a data key is {KEY_BYTES} bytes, this one is {len(key)}")
    return AESGCM(key)


def seal(key: bytes, plaintext: bytes, *, context: str) -> str:
    """``plaintext`` sealed under ``key`` and bound to ``context``, as ``v1.<base64url>``."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(key).encrypt(nonce, plaintext, context.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")


def open_sealed(key: bytes, sealed: str, *, context: str) -> bytes:
    """The plaintext of ``sealed``; ``UnreadableSealError`` unless ``key`` and ``context`` are
    the ones it was sealed with and the text is intact."""
    cipher = _cipher(key)
    if not sealed.startswith(PREFIX):
        raise UnreadableSealError(f"a sealed value starts with {PREFIX!r}")
    body = sealed.removeprefix(PREFIX)
    if not _BASE64URL.fullmatch(body):
        raise UnreadableSealError("a sealed value is unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except binascii.Error:  # a length no base64 text has (4n + 1)
        raise UnreadableSealError("a sealed value is unpadded base64url") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise UnreadableSealError("a sealed value is too short to hold a nonce and a tag")
    try:
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise UnreadableSealError(
            "a sealed value failed authentication: another key or context, or altered"
        ) from None


def seal_json(key: bytes, value: dict[str, Any], *, context: str) -> str:
    """``value`` (JSON values only) sealed as compact JSON with sorted keys."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return seal(key, text.encode(), context=context)


def open_json(key: bytes, sealed: str, *, context: str) -> dict[str, Any]:
    """The object ``seal_json`` sealed; ``UnreadableSealError`` as ``open_sealed``, or when the
    plaintext is not a JSON object."""
    plaintext = open_sealed(key, sealed, context=context)
    try:
        value = json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnreadableSealError("a sealed value does not hold JSON") from None
    if not isinstance(value, dict):
        raise UnreadableSealError("a sealed value does not hold a JSON object")
    return value
