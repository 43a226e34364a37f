"""What an Amplify filter or condition input selects, worked out in Python from DynamoDB's
documented semantics, item by item — an oracle for property tests, written without looking at
how ``services/user_api/expressions.py`` phrases the expression.

``reference(spec)`` returns a predicate over stored items (DynamoDB's typed attribute values,
as a Scan returns them), raises ``Refused`` naming the path of an input the API must answer
with ``BadRequest``, and raises ``Undefined`` when asked something the documentation does not
settle (a generator must not ask it; see the property tests for which and why).

DynamoDB's semantics, with where each comes from:

- Comparators ``= <> < <= > >=`` and ``a BETWEEN b AND c`` ("true if a is greater than or equal
  to b, and less than or equal to c"), the functions, ``NOT a`` ("true if a is false") and
  precedence (comparators, IN, BETWEEN, functions, parentheses, NOT, AND, OR): DynamoDB
  Developer Guide, "Condition and filter expressions, operators, and functions"
  (Expressions.OperatorsAndFunctions).
- Types must match: "If an item contains an AttributeValue element of a different type than the
  one provided in the request, the value does not match. For example, {"S":"6"} does not equal
  {"N":"6"}" (DynamoDB API Reference, ``Condition``, ComparisonOperator EQ/NE/LE/LT/GE/GT). So a
  comparison with another type is false and ``<>`` with another type is true.
- A missing attribute: the item does not hold the value, so ``=``, ``<``, ``<=``, ``>``, ``>=``,
  BETWEEN, ``begins_with`` and ``contains`` are false and ``<>`` is true ("a <> b — true if a is
  not equal to b"). This is our reading of the guide; dynalite, which is "tested against" live
  DynamoDB "including all limits and error messages" (its readme), evaluates it the same way
  (db/index.js ``compare``).
- NULL is a type like the others: an attribute stored as NULL exists (API Reference,
  ``Condition``, NOT_NULL: "If the data type of attribute "a" is null, and you evaluate it using
  NOT_NULL, the result is a Boolean true"), equals NULL and differs from every other value.
- Numbers compare numerically; strings "based on ASCII character code values" (API Reference,
  ``Condition``, AttributeValueList). The items and operands used here are ASCII.
- ``begins_with(path, substr)``: "True if the attribute specified by path begins with a
  particular substring"; ``contains(path, operand)``: "True if the attribute specified by path
  is: A String that contains a particular substring. A Set that contains a particular element
  within the set. A List that contains a particular element within the list" (guide, Functions).
- ``size(path)``: "If the attribute is of type String, size returns the length of the string";
  Binary: bytes; Set: elements; List or Map: child elements (guide, Functions). Nothing is said
  for Number, Boolean, NULL or a missing attribute: ``Undefined`` here.
- ``attribute_type(path, type)``: true when the attribute exists with that type descriptor;
  ``attribute_exists`` / ``attribute_not_exists`` (guide, Functions).
- BETWEEN with a low bound above the high bound, or bounds of two types, is refused before any
  item is read ("The BETWEEN operator requires upper bound to be greater than or equal to lower
  bound", dynalite db/conditionParser.pegjs and its tests): the API answers it as ``BadRequest``.

An item in the recipe's shape is judged as the item it stands for (``read_as``): what it lacks
of ``owner``, ``userPoolId`` and ``__typename`` is read as its ``id``, the API's pool and
``User`` (docs/architecture.md, "Items in the recipe's shape"), so a filter selects it exactly
when it selects its complete twin.

The input rules are the API's (services/user_api/expressions.py's docstring): within an input
object every clause holds (fields, ``and``, ``or``, ``not`` are ANDed), within a field every
operator holds; a field left null is not given; ``and``/``or``/``not`` that hold no clause add
none (as the Amplify AppSync simulator's ``generateFilterExpression`` does; so ``or: []`` and
``not: {}`` select everything); ``eq``/``ne`` null compare with NULL; a null operand of any
other operator is refused, except within ``size`` where it is not given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

StoredItem = Mapping[str, Mapping[str, Any]]
Predicate = Callable[[StoredItem], bool]

#: Amplify's ModelAttributeTypes -> DynamoDB's type descriptors (API Reference, AttributeValue).
TYPE_DESCRIPTORS: Final = {
    "binary": "B",
    "binarySet": "BS",
    "bool": "BOOL",
    "list": "L",
    "map": "M",
    "number": "N",
    "numberSet": "NS",
    "string": "S",
    "stringSet": "SS",
    "_null": "NULL",
}
ORDERINGS: Final = ("lt", "le", "gt", "ge")


class Refused(Exception):  # noqa: N818 - the outcome it names is the API's BadRequest
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Undefined(Exception):  # noqa: N818 - an outcome, not a fault
    """The documentation does not say what DynamoDB answers here."""


def read_as(item: StoredItem, pool: str) -> StoredItem:
    """``item`` as the item it stands for; a complete item as it is."""
    implied = {"owner": item["id"], "userPoolId": {"S": pool}, "__typename": {"S": "User"}}
    return {**implied, **item}


def reference(spec: Mapping[str, Any] | None, root: str = "filter") -> Predicate:
    """The predicate ``spec`` stands for (everything, for ``None`` or ``{}``)."""
    if spec is None:
        return _everything
    return _group(spec, root) or _everything


def _everything(item: StoredItem) -> bool:
    return True


def _group(spec: Any, path: str) -> Predicate | None:
    if not isinstance(spec, Mapping):
        raise Refused(path)
    clauses: list[Predicate] = []
    for key, value in spec.items():
        where = f"{path}.{key}"
        if value is None:
            continue
        if key in ("and", "or"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise Refused(where)
            parts = [
                part
                for index, element in enumerate(value)
                if (part := _group(element, f"{where}[{index}]")) is not None
            ]
            if parts:
                clauses.append(_all(parts) if key == "and" else _any(parts))
        elif key == "not":
            inner = _group(value, where)
            if inner is not None:
                clauses.append(_negated(inner))
        else:
            clauses += _field(key, value, where)
    return _all(clauses) if clauses else None


def _field(name: str, operators: Any, path: str) -> list[Predicate]:
    if not isinstance(operators, Mapping):
        raise Refused(path)
    clauses: list[Predicate] = []
    for operator, operand in operators.items():
        where = f"{path}.{operator}"
        if operator in ("eq", "ne", *ORDERINGS):
            clauses.append(_compared(name, operator, operand))
        elif operand is None:
            raise Refused(where)
        elif operator in ("contains", "notContains", "beginsWith"):
            clauses.append(_text_function(name, operator, operand))
        elif operator == "between":
            low, high = _bounds(operand, where)
            clauses.append(_between(lambda item: _stored(item, name), low, high))
        elif operator == "attributeExists":
            if not isinstance(operand, bool):
                raise Refused(where)
            clauses.append(lambda item, want=operand: (name in item) is want)
        elif operator == "attributeType":
            if operand not in TYPE_DESCRIPTORS:
                raise Refused(where)
            descriptor = TYPE_DESCRIPTORS[operand]
            clauses.append(lambda item, kind=descriptor: _type_of(item.get(name)) == kind)
        elif operator == "size":
            clauses += _size(name, operand, where)
        else:
            raise Refused(where)
    return clauses


def _size(name: str, operators: Any, path: str) -> list[Predicate]:
    if not isinstance(operators, Mapping):
        raise Refused(path)
    clauses: list[Predicate] = []
    for operator, operand in operators.items():
        where = f"{path}.{operator}"
        if operand is None:
            continue
        if operator in ("eq", "ne", *ORDERINGS):
            clauses.append(_comparison(lambda item: _size_of(item, name), operator, operand))
        elif operator == "between":
            low, high = _bounds(operand, where)
            clauses.append(_between(lambda item: _size_of(item, name), low, high))
        else:
            raise Refused(where)
    return clauses


def _compared(name: str, operator: str, operand: Any) -> Predicate:
    return _comparison(lambda item: _stored(item, name), operator, operand)


def _comparison(
    read: Callable[[StoredItem], tuple[str, Any] | None], operator: str, operand: Any
) -> Predicate:
    wanted = _typed(operand)
    if wanted[0] == "NULL" and operator in ORDERINGS:
        raise Undefined("ordering against NULL")

    def holds(item: StoredItem) -> bool:
        stored = read(item)
        if stored is None or stored[0] != wanted[0]:  # missing, or another type
            return operator == "ne"
        if operator in ("eq", "ne"):
            return (stored[1] == wanted[1]) is (operator == "eq")
        if wanted[0] not in ("S", "N"):
            return False
        left, right = _ordering_key(stored), _ordering_key(wanted)
        return {
            "lt": left < right,
            "le": left <= right,
            "gt": left > right,
            "ge": left >= right,
        }[operator]

    return holds


def _between(
    read: Callable[[StoredItem], tuple[str, Any] | None],
    low: tuple[str, Any],
    high: tuple[str, Any],
) -> Predicate:
    def holds(item: StoredItem) -> bool:
        stored = read(item)
        if stored is None or stored[0] != low[0]:
            return False
        return _ordering_key(low) <= _ordering_key(stored) <= _ordering_key(high)

    return holds


def _text_function(name: str, operator: str, operand: Any) -> Predicate:
    wanted = _typed(operand)
    if wanted == ("S", ""):
        raise Undefined("an empty substring or prefix")

    def found(item: StoredItem) -> bool:
        stored = _stored(item, name)
        if stored is None or stored[0] != "S" or wanted[0] != "S":
            if stored is not None and stored[0] in ("SS", "NS", "BS", "L", "B"):
                raise Undefined("sets, lists and binary are not stored by userpipe")
            return False
        text, part = _ascii(stored[1]), _ascii(wanted[1])
        return text.startswith(part) if operator == "beginsWith" else part in text

    return _negated(found) if operator == "notContains" else found


def _bounds(operand: Any, path: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
    if not isinstance(operand, Sequence) or isinstance(operand, str) or len(operand) != 2:
        raise Refused(path)
    low, high = operand
    if low is None or high is None:
        raise Refused(path)
    typed_low, typed_high = _typed(low), _typed(high)
    if typed_low[0] != typed_high[0] or typed_low[0] not in ("S", "N"):
        raise Refused(path)
    if _ordering_key(typed_low) > _ordering_key(typed_high):
        raise Refused(path)
    return typed_low, typed_high


def _stored(item: StoredItem, name: str) -> tuple[str, Any] | None:
    attribute = item.get(name)
    if attribute is None:
        return None
    ((kind, raw),) = attribute.items()
    if kind == "N":
        return "N", Decimal(raw)
    if kind == "NULL":
        return "NULL", True
    return kind, raw


def _type_of(attribute: Mapping[str, Any] | None) -> str | None:
    return None if attribute is None else next(iter(attribute))


def _size_of(item: StoredItem, name: str) -> tuple[str, Any] | None:
    stored = _stored(item, name)
    if stored is None or stored[0] not in ("S", "B", "SS", "NS", "BS", "L", "M"):
        raise Undefined(f"size() of {stored[0] if stored else 'a missing attribute'}")
    if stored[0] != "S":
        raise Undefined("only strings are sized here")
    return "N", Decimal(len(_ascii(stored[1])))


def _typed(value: Any) -> tuple[str, Any]:
    if value is None:
        return "NULL", True
    if isinstance(value, bool):
        return "BOOL", value
    if isinstance(value, int):
        return "N", Decimal(value)
    if isinstance(value, str):
        return "S", value
    raise Undefined(f"an operand of type {type(value).__name__}")


def _ordering_key(typed: tuple[str, Any]) -> Any:
    kind, value = typed
    return _ascii(value).encode("ascii") if kind == "S" else value


def _ascii(text: str) -> str:
    if not text.isascii():
        raise Undefined("non-ASCII text: the documentation speaks of ASCII code values")
    return text


# Every part is evaluated (no short-circuit), so an Undefined anywhere in a filter surfaces
# whatever the item: the generator must never ask it, not merely get lucky.
def _all(parts: list[Predicate]) -> Predicate:
    return lambda item: all([part(item) for part in parts])


def _any(parts: list[Predicate]) -> Predicate:
    return lambda item: any([part(item) for part in parts])


def _negated(part: Predicate) -> Predicate:
    return lambda item: not part(item)
