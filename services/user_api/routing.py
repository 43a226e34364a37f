"""Which function answers which GraphQL field. AppSync's direct Lambda resolver event names the
field (``info.parentTypeName`` and ``info.fieldName``) and carries its ``arguments``.

Written here instead of taking Powertools' ``AppSyncResolver``, for the cold start alone:
importing ``aws_lambda_powertools.event_handler`` imports every event handler it has (REST, ALB,
Bedrock agents, ...) and ``asyncio``, ≈20 ms of the API's cold path (``make bench``, the
``extra_imports_ms`` notes). What the API used of it is all there is here: one resolver per
field, called with the field's arguments as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Resolver = TypeVar("Resolver", bound=Callable[..., Any])


class UnknownFieldError(LookupError):
    def __init__(self, field: str) -> None:
        super().__init__(f"no resolver for {field}")
        self.field = field


def field_of(event: Mapping[str, Any]) -> str:
    """``Type.field`` of a resolver event (``None.None`` when it names none)."""
    info = event.get("info") or {}
    return f"{info.get('parentTypeName')}.{info.get('fieldName')}"


class FieldRouter:
    def __init__(self) -> None:
        self.resolvers: dict[str, Callable[..., Any]] = {}

    def resolver(self, type_name: str, field_name: str) -> Callable[[Resolver], Resolver]:
        """Register the decorated function as ``type_name.field_name``'s resolver."""

        def register(function: Resolver) -> Resolver:
            self.resolvers[f"{type_name}.{field_name}"] = function
            return function

        return register

    def resolve(self, event: Mapping[str, Any]) -> Any:
        """Call the field's resolver with its arguments; ``UnknownFieldError`` for a field
        without one."""
        field = field_of(event)
        resolver = self.resolvers.get(field)
        if resolver is None:
            raise UnknownFieldError(field)
        return resolver(**(event.get("arguments") or {}))
