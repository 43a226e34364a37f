"""Reading a function's settings from its environment, with an error that names what is wrong."""

from __future__ import annotations

import os
from collections.abc import Mapping


class MissingSettingError(RuntimeError):
    """A required environment variable is unset or empty."""

    def __init__(self, name: str) -> None:
        super().__init__(f"required setting {name} is not set (an environment variable)")
        self.name = name


class InvalidSettingError(ValueError):
    """An environment variable is set to something the function cannot use."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name} is invalid: {reason}")
        self.name = name


def require(name: str, environ: Mapping[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(name, "").strip()
    if not value:
        raise MissingSettingError(name)
    return value


def optional_positive_int(name: str, environ: Mapping[str, str] | None = None) -> int | None:
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidSettingError(name, f"expected a whole number, got {raw!r}") from None
    if value <= 0:
        raise InvalidSettingError(name, f"expected a number above 0, got {value}")
    return value


def optional(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None
