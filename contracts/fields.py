"""The kinds of value a field table's row can hold, with their rules — plain Python.

Every field table (``user_fields``, ``event_fields``, ``audit_fields``) writes its rows with
these kinds, and every place derived from a table reads a rule from its kind in three ways:

- ``holds(value)``: the plain check on the cold paths (values as JSON or DynamoDB gives them,
  no coercion);
- ``requirement``: what a value must be, in words, naming the rule and never the value;
- ``constraints()``: the rule as pydantic ``Field`` arguments, and so as JSON Schema keywords.

Plain classes with ``__slots__``, not dataclasses: a dataclass writes and compiles its methods
when the module is imported (~1.5 ms each), and this module is on the trigger's, the projector's
and the audit trail's cold paths.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from contracts.rules import TIMESTAMP_PATTERN


class Kind:
    """What every kind answers; a kind gives its ``requirement``, ``holds`` and (when it has
    any) ``constraints``."""

    __slots__ = ()

    @property
    def requirement(self) -> str:
        raise NotImplementedError

    def holds(self, value: object) -> bool:
        raise NotImplementedError

    def annotation(self) -> Any:
        """Its type in a read model."""
        return str

    def constraints(self) -> dict[str, Any]:
        return {}

    def rule(self, field: str) -> str:
        return f"{field} {self.requirement}"

    def problem(self, field: str, value: object) -> str | None:
        """Why ``value`` cannot be stored in ``field`` (``None``: it can); never the value."""
        return None if self.holds(value) else self.rule(field)


class Text(Kind):
    """A string of ``length`` characters. Without ``pattern``: printable characters and ordinary
    spaces, not only spaces (NUL, escapes, line breaks and bidi overrides would reach every
    client that shows it). With ``pattern`` (explicit ASCII classes, see ``contracts.rules``):
    what it matches, described to the client as ``shape``."""

    __slots__ = ("length", "pattern", "shape")

    def __init__(self, length: tuple[int, int], pattern: str | None = None, shape: str = ""):
        self.length = length
        self.pattern = pattern
        self.shape = shape

    @property
    def requirement(self) -> str:
        low, high = self.length
        if self.pattern is None:
            return (
                f"must be {low}-{high} printable characters "
                "(no control or formatting characters), not only spaces"
            )
        return f"must be {low}-{high} characters: {self.shape}"

    def holds(self, value: object) -> bool:
        low, high = self.length
        if not isinstance(value, str) or not low <= len(value) <= high:
            return False
        if self.pattern is None:  # "Other", "Separator" but " "
            return bool(value.strip()) and value.isprintable()
        return re.fullmatch(self.pattern, value) is not None

    def constraints(self) -> dict[str, Any]:
        low, high = self.length
        bounds: dict[str, Any] = {"min_length": low, "max_length": high}
        return bounds | ({"pattern": self.pattern} if self.pattern else {})


class Chars(Kind):
    """Any string of ``length`` characters (what an upstream system, not a user, decides)."""

    __slots__ = ("length",)

    def __init__(self, length: tuple[int, int]) -> None:
        self.length = length

    @property
    def requirement(self) -> str:
        return f"must be a string of {self.length[0]}-{self.length[1]} characters"

    def holds(self, value: object) -> bool:
        return isinstance(value, str) and self.length[0] <= len(value) <= self.length[1]

    def constraints(self) -> dict[str, Any]:
        return {"min_length": self.length[0], "max_length": self.length[1]}


class WholeNumber(Kind):
    """An integer (never a boolean) from ``minimum`` to ``maximum`` (``None``: unbounded)."""

    __slots__ = ("maximum", "minimum")

    def __init__(self, minimum: int, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    @property
    def requirement(self) -> str:
        if self.maximum is None:
            return f"must be a whole number of at least {self.minimum}"
        return f"must be a whole number from {self.minimum} to {self.maximum}"

    def holds(self, value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value >= self.minimum
            and (self.maximum is None or value <= self.maximum)
        )

    def annotation(self) -> Any:
        return int

    def constraints(self) -> dict[str, Any]:
        return {"ge": self.minimum} | ({"le": self.maximum} if self.maximum is not None else {})


class Matching(Kind):
    """A string matching ``pattern`` (of at most ``max_length`` characters, when given), as
    ``contracts.rules`` declares it for the values the pipeline copies from Cognito."""

    __slots__ = ("max_length", "message", "pattern")

    def __init__(self, pattern: str, max_length: int | None, message: str) -> None:
        self.pattern = pattern
        self.max_length = max_length
        self.message = message

    @property
    def requirement(self) -> str:
        return self.message

    def rule(self, field: str) -> str:
        return f"{field}: {self.message}"

    def holds(self, value: object) -> bool:
        return (
            isinstance(value, str)
            and (self.max_length is None or len(value) <= self.max_length)
            and re.fullmatch(self.pattern, value) is not None
        )

    def constraints(self) -> dict[str, Any]:
        length = {"max_length": self.max_length} if self.max_length is not None else {}
        return {"pattern": self.pattern} | length


class Flag(Kind):
    """``true`` or ``false``, never a number or a string that reads like one."""

    __slots__ = ()

    @property
    def requirement(self) -> str:
        return "must be true or false"

    def holds(self, value: object) -> bool:
        return isinstance(value, bool)

    def annotation(self) -> Any:
        return bool


class AnyString(Kind):
    """Any string."""

    __slots__ = ()

    @property
    def requirement(self) -> str:
        return "must be a string"

    def holds(self, value: object) -> bool:
        return isinstance(value, str)


class Timestamp(Kind):
    """A time as every userpipe timestamp is written: RFC 3339 with seconds and a zone, on a day
    the month has. The read model holds it as an aware ``datetime`` and writes it back with
    ``contracts.names.iso_utc``."""

    __slots__ = ()

    @property
    def requirement(self) -> str:
        return "must be an RFC 3339 time with seconds and a time zone"

    def holds(self, value: object) -> bool:
        if not isinstance(value, str) or re.fullmatch(TIMESTAMP_PATTERN, value) is None:
            return False
        try:
            datetime.fromisoformat(value)
        except ValueError:  # a day the month does not have
            return False
        return True

    def annotation(self) -> Any:
        return datetime

    def constraints(self) -> dict[str, Any]:
        # "format" is only an annotation in JSON Schema 2020-12; the pattern makes the shape
        # every producer writes (iso_utc) part of the contract.
        return {"json_schema_extra": {"format": "date-time", "pattern": TIMESTAMP_PATTERN}}


class OneOf(Kind):
    """One of a few strings (JSON Schema's ``enum``, a ``Literal`` in the read model)."""

    __slots__ = ("values",)

    def __init__(self, *values: str) -> None:
        self.values = values

    @property
    def requirement(self) -> str:
        return f"must be one of {', '.join(self.values)}"

    def holds(self, value: object) -> bool:
        return value in self.values

    def annotation(self) -> Any:
        return Literal[self.values]


class Constant(Kind):
    """Always the number ``value`` (JSON Schema's ``const``: any number equal to it, ``1.0`` for
    ``1`` too, never ``true``); the read model's default."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    @property
    def requirement(self) -> str:
        return f"must be the number {self.value}"

    def holds(self, value: object) -> bool:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and value == self.value
        )

    def annotation(self) -> Any:
        return Literal[self.value]


def attribute(name: str) -> str:
    """A stored or JSON name as a Python attribute: ``_lastChangedAt`` is ``last_changed_at``."""
    bare = name.lstrip("_")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", bare).lower()
