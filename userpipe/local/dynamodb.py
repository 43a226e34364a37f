"""Two rules DynamoDB enforces and moto 5.2.5 does not, enforced on the local emulator
(``install()``: this process only, idempotent). The local stack and the in-process test pipeline
both install them, so a request AWS would refuse fails locally too, with DynamoDB's error.

- **A Query's filter may not name a key attribute.** DynamoDB refuses a ``Query`` whose
  ``FilterExpression`` names the partition or sort key of what it queries (the table, or the
  index named by ``IndexName``): "Filter Expression can only contain non-primary key
  attributes: Primary key attribute: <name>". The API reference says so under ``Query``,
  ``FilterExpression``: "A FilterExpression does not allow key attributes. You cannot define a
  filter expression based on a partition key or a sort key."; so does the developer guide
  ("Filter expressions for the Query operation"). When an index is queried only its own keys
  count (dynalite, written against live DynamoDB, checks the queried key schema only).
  ``Scan`` has no such rule. moto evaluates such a filter like any other: without this check
  a query such as an owner's filtered ``listUsers`` would pass every local test and fail in AWS.
- **An expression is at most 4 KB.** "The maximum length of any expression string is 4 KB"
  ("Constraints in Amazon DynamoDB", expression parameters); past it DynamoDB answers "Invalid
  FilterExpression: Expression size has exceeded the maximum allowed size; expression size: N".
  moto takes any length.

Checked on the request as it arrives (placeholders as sent), before moto handles it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.responses import DynamoHandler

_MARK: Final = "_userpipe_checked"
#: The actions whose requests are checked: every one that takes an expression.
ACTIONS: Final = ("query", "scan", "get_item", "put_item", "update_item", "delete_item")
EXPRESSIONS: Final = (
    "KeyConditionExpression",
    "FilterExpression",
    "ConditionExpression",
    "UpdateExpression",
    "ProjectionExpression",
)
MAX_EXPRESSION_BYTES: Final = 4096
#: A name in an expression: a ``#placeholder`` or a bare name; ``:values`` are skipped whole, and
#: a name after ``.`` is nested (not a path's head). A name followed by ``(`` is a function.
_TOKEN: Final = re.compile(
    r":[A-Za-z0-9_]+|(?P<dot>\.\s*)?(?P<name>#[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*)(?P<call>\s*\()?"
)
_KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})


def install() -> None:
    for action in ACTIONS:
        original = getattr(DynamoHandler, action)
        if not getattr(original, _MARK, False):
            setattr(DynamoHandler, action, _checked(action, original))


def refusal(action: str, request: Mapping[str, Any], key_schema: Callable[[], Any]) -> str | None:
    """What DynamoDB answers ``request`` (a ``ValidationException``'s message) when one of the
    rules above refuses it; ``None`` when they let it through. ``key_schema``: the queried
    table's or index's ``KeySchema``, read only when needed."""
    for parameter in EXPRESSIONS:
        size = len(str(request.get(parameter) or "").encode())
        if size > MAX_EXPRESSION_BYTES:
            return (
                f"Invalid {parameter}: Expression size has exceeded the maximum allowed size; "
                f"expression size: {size}"
            )
    if action == "query" and request.get("FilterExpression"):
        names = request.get("ExpressionAttributeNames")
        named = set(path_heads(request["FilterExpression"], names))
        for key in key_schema():
            if key["AttributeName"] in named:
                return (
                    "Filter Expression can only contain non-primary key attributes: "
                    f"Primary key attribute: {key['AttributeName']}"
                )
    return None


def path_heads(expression: str, names: Mapping[str, str] | None = None) -> list[str]:
    """The top-level attribute of every document path in ``expression``, in order, with
    placeholders resolved (``#a.#b[0] > :v`` gives ``[names['#a']]``)."""
    heads = []
    for token in _TOKEN.finditer(expression):
        name = token["name"]
        if name is None or token["dot"] or token["call"] or name.upper() in _KEYWORDS:
            continue
        heads.append((names or {}).get(name, name) if name.startswith("#") else name)
    return heads


def _checked(action: str, handle: Callable[[DynamoHandler], Any]) -> Callable[..., Any]:
    def checked(self: DynamoHandler) -> Any:
        request = self.body

        def key_schema() -> Any:
            return self.dynamodb_backend.get_schema(
                table_name=request["TableName"], index_name=request.get("IndexName")
            )

        message = refusal(action, request, key_schema)
        if message is not None:
            raise MockValidationException(message)
        return handle(self)

    setattr(checked, _MARK, True)
    return checked
