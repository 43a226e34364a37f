"""The local stack's outbox: every message Cognito or the functions would have emailed, as JSON
lines (``to``, ``kind``, ``code``, ``at``; emails also ``subject``). No mail leaves the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.names import iso_utc

SIGN_UP = "sign-up"
RESEND = "resend-confirmation"
FORGOT_PASSWORD = "forgot-password"  # noqa: S105 - the kind of message, not a password
VERIFY_ATTRIBUTE = "verify-attribute"  # a code that verifies a new (or unverified) email
EMAIL = "email"


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def append(self, to: str, kind: str, code: str | None = None, **extra: Any) -> None:
        entry = {"to": to.lower(), "kind": kind, "code": code, "at": iso_utc(datetime.now(UTC))}
        entry |= extra
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")

    def entries(self, to: str | None = None) -> list[dict[str, Any]]:
        return [entry for entry in read(self.path) if to is None or entry["to"] == to.lower()]


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every entry of an outbox file, oldest first (the file of a stack that is not running
    reads the same)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield json.loads(line)


def latest_code(path: Path, to: str, kind: str = SIGN_UP) -> str | None:
    """The newest code sent to ``to`` of ``kind`` (a resend counts as a sign-up code)."""
    kinds = {kind, RESEND} if kind == SIGN_UP else {kind}
    codes = [e["code"] for e in read(path) if e["to"] == to.lower() and e["kind"] in kinds]
    return codes[-1] if codes else None
