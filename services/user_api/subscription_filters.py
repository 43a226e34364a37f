"""The enhanced filter a subscription is answered with, held to what AppSync accepts.

``resolver.js`` sets a subscription's filter with
``extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(filter))``, the call
Amplify's own subscription resolvers make with the client's ``filter`` argument
(aws-amplify/amplify-category-api, model transformer, ``resolvers/dynamodb/subscriptions.ts``).
AppSync checks the result when the client subscribes and answers a filter past its limits with
a bare ``{"message", "errorCode": 400}``. ``enhanced_filter`` applies the same limits first, in
Python, so the local stack (which runs this resolver) and AWS refuse the same filters, with a
``BadRequest`` naming the limit, the rule and where in the filter, never a value.

What AppSync does, and where it says so:

- ``toSubscriptionFilter`` takes an object whose keys are field names, ``and`` and ``or``: the
  keys of one object AND together, ``and``/``or`` take lists and nest; "When a field has two or
  more conditions on it, all of these conditions are considered to use the OR operation". It
  returns a ``filterGroup``: a list of filters ORed, each a list of conditions ANDed (its
  example turns two operators on one field, an ``and`` and a two-branch ``or`` into 2 x 2 = 4
  filters). There is no ``not``. (AppSync developer guide, "Transformation helpers in
  util.transform", toSubscriptionFilter and "Subscription filter arguments":
  transformation-helpers-in-utils-transform-js.html.)
- Operators: eq, ne, le, lt, ge, gt, contains, notContains, beginsWith, in, notIn, between (a
  pair), containsAny. Nothing else: not the attributeExists, attributeType and size that
  Amplify's ``ModelStringInput`` and ``ModelBooleanInput`` (on ``id`` and ``_deleted`` of
  ``ModelSubscriptionUserFilterInput``) let a client send. (Developer guide, resolver mapping
  template reference, "Extensions", "Field: operator": extensions.html.)
- Limits, same page, "Exceptions": at most five unique ``fieldName`` per filter (ANDed); at
  most 20 values for ``containsAny``; at most five for ``in`` and ``notIn``; each string at most
  256 characters; nested objects at most five levels (userpipe's fields are flat, so never
  reached); at most 10 filters in a ``filterGroup`` (ORed); and "The ``in`` operator is a
  special case of OR logic": each value is one more filter and "counts towards the maximum
  filters limit".
- AppSync's own answers, as clients saw them: "subscription exceeds maximum value limit 5 for
  operator `in`." (aws-amplify/amplify-category-api#740); "Filters exceed maximum attributes
  limit 5 for subscription" (aws-amplify/amplify-flutter#6142: the owner fields Amplify's
  resolver adds counted as attributes too, as the ``id`` this resolver adds does here); and
  "subscription filter uses same fieldName multiple time in single filter object."
  (aws-amplify/amplify-js#13384): a field may appear once per filter. Amplify DataStore
  retries a subscription without its filter, filtering in the client instead, when the error
  message contains "Filters exceed maximum attributes limit", "Filters combination exceed
  maximum limit" or "filter uses same fieldName multiple time" (amplify-js
  ``packages/datastore/src/sync/processors/subscription.ts``, ``catchRTFError``), so the
  refusals for those limits start with that wording.

Not documented, read here as the API reads every input and the local stack matches: an
operator, field or list given as null adds no condition, and a null element of ``and``/``or``
is an element without conditions. An ``in`` with no values counts as one filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from math import prod
from typing import Any, Final

from services.user_api.errors import BadRequest

#: Filters ORed in one filterGroup, values of ``in``/``notIn``/``containsAny``, fields ANDed in
#: one filter, characters in a string (module docstring: "Extensions", "Exceptions").
MAX_FILTERS: Final = 10
MAX_FIELDS: Final = 5
MAX_VALUES: Final = {"in": 5, "notIn": 5, "containsAny": 20}
MAX_STRING_CHARS: Final = 256
OPERATORS: Final = (
    "eq", "ne", "le", "lt", "ge", "gt", "contains", "notContains", "beginsWith", "in", "notIn",
    "between", "containsAny",
)  # fmt: skip
#: userpipe's, not AppSync's: the checker and the local stack's matcher recurse, so and/or may
#: nest this deep and no deeper (AppSync documents no limit on and/or nesting).
MAX_NESTING: Final = 32


@dataclass(frozen=True)
class _Condition:
    field: str
    operator: str
    filters: int  # how many filters it makes: one per value for ``in``, else one
    fixed: bool  # the resolver's own, not the client's


@dataclass(frozen=True)
class _Any:
    """Alternatives: a filter for each (``or``, the operators of one field)."""

    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _All:
    """Conditions that hold together (one object's keys, ``and``)."""

    parts: tuple[_Node, ...]


_Node = _Condition | _Any | _All


def enhanced_filter(
    spec: Mapping[str, Any] | None,
    *,
    required: Mapping[str, Any] | None = None,
    root: str = "filter",
) -> dict[str, Any] | None:
    """The filter to set for a subscription: the client's ``spec`` with the resolver's own
    ``required`` conditions ANDed in, if AppSync's limits allow it; else ``BadRequest`` naming
    the limit (``root``: the argument's name, for the message). ``None`` when the client sent
    no filter: the subscription's arguments are then its only filter."""
    if not spec:
        return None
    client = _parse(spec, root, fixed=False, depth=0)
    if required is None:
        tree, enhanced = client, dict(spec)
    else:
        tree = _All((_parse(required, "(resolver)", fixed=True, depth=0), client))
        enhanced = {"and": [dict(required), dict(spec)]}
    count = _filters(tree)
    if count > MAX_FILTERS:
        raise BadRequest(
            f"{root}: Filters combination exceed maximum limit of {MAX_FILTERS}: AppSync's "
            f"enhanced subscription filters OR at most {MAX_FILTERS} filters, and this one "
            f"expands to {_shown(count)} (each `or` branch, each operator of a field and each "
            "value of `in` is one filter; conditions ANDed with them multiply them)"
        )
    for conditions in _conjunctions(tree):
        _check_fields(conditions, root)
    return enhanced


def _parse(spec: Any, path: str, *, fixed: bool, depth: int) -> _All:
    if not isinstance(spec, Mapping):
        raise BadRequest(f"{path}: must be an object")
    if depth > MAX_NESTING:
        raise BadRequest(
            f"{path}: and/or nest deeper than {MAX_NESTING} levels (userpipe's limit; AppSync "
            "documents none for and/or)"
        )
    parts: list[_Node] = []
    for key, value in spec.items():
        where = f"{path}.{key}"
        if value is None:
            continue  # an input field left null is an input field not given
        if key in ("and", "or"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise BadRequest(f"{where}: must be a list of objects")
            elements = tuple(
                _All(()) if element is None else _parse(element, f"{where}[{index}]",
                                                        fixed=fixed, depth=depth + 1)
                for index, element in enumerate(value)
            )  # fmt: skip
            if elements:
                parts.append(_All(elements) if key == "and" else _Any(elements))
        elif key == "not":
            raise BadRequest(
                f"{where}: AppSync's enhanced subscription filters have no `not` "
                "(toSubscriptionFilter takes fields, and, or); write it with ne, notIn or "
                "notContains"
            )
        else:
            field = _field(key, value, where, fixed=fixed)
            if field.parts:
                parts.append(field)
    return _All(tuple(parts))


def _field(name: str, operators: Any, path: str, *, fixed: bool) -> _Any:
    if not isinstance(operators, Mapping):
        raise BadRequest(f"{path}: must be an object of operators")
    conditions = []
    for operator, operand in operators.items():
        where = f"{path}.{operator}"
        if operand is None:
            continue
        if operator not in OPERATORS:
            raise BadRequest(
                f"{where}: AppSync's enhanced subscription filters have no `{operator}` "
                f"operator (they take {', '.join(OPERATORS)})"
            )
        values = _values(operator, operand, where)
        for index, value in enumerate(values):
            if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
                at = f"{where}[{index}]" if values is operand else where
                raise BadRequest(
                    f"{at}: at most {MAX_STRING_CHARS} characters in a string (AppSync enhanced "
                    f"subscription filters), got {len(value)}"
                )
        filters = max(len(values), 1) if operator == "in" else 1
        conditions.append(_Condition(name, operator, filters, fixed))
    return _Any(tuple(conditions))


def _values(operator: str, operand: Any, path: str) -> Sequence[Any]:
    """The operand's values: the list for in/notIn/containsAny/between, else the one value."""
    if operator not in (*MAX_VALUES, "between"):
        return (operand,)
    if not isinstance(operand, Sequence) or isinstance(operand, str):
        raise BadRequest(f"{path}: must be a list of values")
    if operator == "between" and len(operand) != 2:
        raise BadRequest(
            f"{path}: `between` takes a pair, low and high (AppSync enhanced subscription "
            f"filters), got {len(operand)} values"
        )
    limit = MAX_VALUES.get(operator)
    if limit is not None and len(operand) > limit:
        raise BadRequest(
            f"{path}: at most {limit} values in `{operator}` (AppSync enhanced subscription "
            f"filters), got {len(operand)}"
        )
    return operand


def _filters(node: _Node) -> int:
    """How many filters AppSync makes of ``node``, counted rather than built: alternatives add,
    conditions that hold together multiply."""
    if isinstance(node, _Condition):
        return node.filters
    if isinstance(node, _Any):
        return sum(_filters(part) for part in node.parts)
    return prod(_filters(part) for part in node.parts)


def _shown(count: int) -> str:
    # A filter of thousands of ANDed or-lists counts past what is worth printing (and past the
    # digits Python converts to text by default).
    return str(count) if count < 10**15 else "more than 10**15"


def _conjunctions(node: _Node) -> list[tuple[_Condition, ...]]:
    """The conditions of each filter (``in`` not yet split by value). Called only once
    ``_filters`` is within MAX_FILTERS: every count is at least one, so no step here builds more
    than MAX_FILTERS lists."""
    if isinstance(node, _Condition):
        return [(node,)]
    if isinstance(node, _Any):
        return [conditions for part in node.parts for conditions in _conjunctions(part)]
    combined: list[tuple[_Condition, ...]] = [()]
    for part in node.parts:
        combined = [a + b for a, b in product(combined, _conjunctions(part))]
    return combined


def _check_fields(conditions: tuple[_Condition, ...], root: str) -> None:
    names = [condition.field for condition in conditions]
    fixed = sorted({condition.field for condition in conditions if condition.fixed})
    argument = f"; the subscription's {', '.join(fixed)} argument is one" if fixed else ""
    for name in names:
        if names.count(name) > 1:
            raise BadRequest(
                f"{root}: subscription filter uses same fieldName multiple time: AppSync refuses "
                f"a field named twice in one ANDed filter, and this filter ANDs `{name}` with "
                f"itself{argument} (use between for a range; two operators on one field are "
                "ORed, not ANDed)"
            )
    if len(names) > MAX_FIELDS:
        raise BadRequest(
            f"{root}: Filters exceed maximum attributes limit of {MAX_FIELDS}: AppSync's "
            f"enhanced subscription filters AND at most {MAX_FIELDS} fields in one filter, and "
            f"this one ANDs {len(names)} ({', '.join(sorted(names))}){argument}"
        )
