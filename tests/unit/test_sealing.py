"""Sealed personal data opens only with its key and its context, and says nothing when it won't."""

from __future__ import annotations

import base64

import pytest

from services.shared.sealing import (
    InvalidKeyError,
    UnreadableSealError,
    new_key,
    open_json,
    open_sealed,
    seal,
    seal_json,
)

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
CONTEXT = f"eu-west-1_Ab12Cd34E/{SUB}/3"
PROFILE = {"name": "Ada Lovelace", "age": 36}
SECRET = b"Ada Lovelace, 36"
KEY = new_key()
SEALED = seal_json(KEY, PROFILE, context=CONTEXT)


def body(sealed: str) -> bytes:
    text = sealed.removeprefix("v1.")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def text(raw: bytes) -> str:
    return "v1." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_sealed_value_opens_with_its_key_and_context() -> None:
    key = new_key()
    assert open_sealed(key, seal(key, SECRET, context=CONTEXT), context=CONTEXT) == SECRET
    assert open_sealed(key, seal(key, b"", context=CONTEXT), context=CONTEXT) == b""


def test_the_text_is_versioned_unpadded_base64url_of_nonce_ciphertext_and_tag() -> None:
    sealed = seal(new_key(), SECRET, context=CONTEXT)
    assert sealed.startswith("v1.")
    assert set(sealed.removeprefix("v1.")) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert len(body(sealed)) == 12 + len(SECRET) + 16
    assert SECRET not in body(sealed)


def test_sealing_twice_uses_two_nonces() -> None:
    key = new_key()
    first, second = (seal(key, SECRET, context=CONTEXT) for _ in range(2))
    assert first != second
    assert body(first)[:12] != body(second)[:12]


def test_json_is_sealed_compact_with_sorted_keys_and_opens_as_it_was() -> None:
    key = new_key()
    sealed = seal_json(key, {"name": "Zoë", "age": None}, context=CONTEXT)
    assert open_sealed(key, sealed, context=CONTEXT) == '{"age":null,"name":"Zoë"}'.encode()
    assert open_json(key, sealed, context=CONTEXT) == {"age": None, "name": "Zoë"}


def flipped(sealed: str, at: int) -> str:
    raw = bytearray(body(sealed))
    raw[at] ^= 0x01
    return text(bytes(raw))


def unreadable_cases() -> list[object]:
    """(key to open with, text to open), by case, for the profile sealed under KEY, CONTEXT."""
    sealed = SEALED
    cases = [
        ("another key", new_key(), sealed),
        ("a flipped nonce byte", KEY, flipped(sealed, 0)),
        ("a flipped ciphertext byte", KEY, flipped(sealed, 12)),
        ("a flipped tag byte", KEY, flipped(sealed, -1)),
        ("truncated", KEY, sealed[:-4]),
        ("cut to the prefix", KEY, "v1."),
        ("too short for a nonce and a tag", KEY, text(body(sealed)[:27])),
        ("no prefix", KEY, sealed.removeprefix("v1.")),
        ("another version", KEY, "v2." + sealed.removeprefix("v1.")),
        ("padded", KEY, sealed + "=="),
        ("standard base64", KEY, sealed.replace("-", "+").replace("_", "/") + "+/"),
        ("garbled", KEY, "v1.not base64 at all!"),
        ("an impossible length", KEY, "v1." + "A" * 33),
        ("not text", KEY, "v1.\u00e9\u00e9\u00e9\u00e9"),
    ]
    return [pytest.param(key, sealed, id=case) for case, key, sealed in cases]


@pytest.mark.parametrize(("key", "sealed"), unreadable_cases())
def test_a_value_that_does_not_open_raises_without_quoting_a_secret(
    key: bytes, sealed: str
) -> None:
    with pytest.raises(UnreadableSealError) as raised:
        open_json(key, sealed, context=CONTEXT)
    message = str(raised.value) + repr(raised.value)
    quoted = ("Ada", "Lovelace", "36", SEALED[3:15], *([sealed[3:15]] if sealed[3:15] else []))
    for secret in quoted:
        assert secret not in message
    assert KEY.hex() not in message and repr(KEY) not in message
    error = raised.value  # and a traceback shows no chained exception from the decoder
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize(
    "context",
    [f"eu-west-1_Ab12Cd34E/{SUB}/4", "eu-west-1_Ab12Cd34E/another-sub/3", "", CONTEXT + " "],
)
def test_a_value_moved_to_another_user_or_version_does_not_open(context: str) -> None:
    with pytest.raises(UnreadableSealError, match="failed authentication"):
        open_sealed(KEY, SEALED, context=context)


def test_a_sealed_non_object_is_unreadable_as_json() -> None:
    for plaintext in (b"[1, 2]", b"not json", b"\xff\xfe"):
        sealed = seal(KEY, plaintext, context=CONTEXT)
        with pytest.raises(UnreadableSealError, match="JSON"):
            open_json(KEY, sealed, context=CONTEXT)


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33])
def test_a_key_of_the_wrong_length_is_refused_by_its_length_alone(length: int) -> None:
    key = b"\x07" * length
    with pytest.raises(InvalidKeyError, match=f"this one is {length}$"):
        seal(key, SECRET, context=CONTEXT)
    with pytest.raises(InvalidKeyError):
        open_sealed(key, SEALED, context=CONTEXT)
