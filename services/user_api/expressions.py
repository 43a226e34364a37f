"""Amplify's filter and condition inputs as DynamoDB expressions.

``listUsers(filter)``, ``syncUsers(filter)`` and ``updateUser(condition)`` take the inputs
Amplify's transformer generates (``ModelUserFilterInput``, ``ModelUserConditionInput``: per
field ``eq ne le lt ge gt contains notContains between beginsWith attributeExists
attributeType size``, combined with ``and``/``or``/``not``). AppSync's generated resolvers turn
them into a DynamoDB ``FilterExpression`` / ``ConditionExpression``
(``util.transform.toDynamoDBFilterExpression`` / ``toDynamoDBConditionExpression``), so
DynamoDB itself applies them — after ``Limit``, which is why a page can hold fewer items than
asked for. This module builds the same expressions, so the table (DynamoDB, or moto locally)
decides what matches, never a re-implementation of its comparison rules in Python.

Within one input object every clause must hold (fields, ``and``, ``or``, ``not`` are ANDed);
within one field, every operator must hold. A malformed input is a ``BadRequest`` naming its
path (``filter.and[1].age.between``), never a value.

Parentheses follow one rule, shared with every caller: ``Expression.text`` is one operand of
AND — a single clause, or one parenthesised group — so it joins other clauses as it is
(``conjunction``) and is never wrapped again. DynamoDB refuses a parenthesised group directly
inside another pair ("The expression has redundant parentheses;"), which is what wrapping
``(a AND b)`` once more produces. Parentheses that only restate precedence are accepted:
``(a AND b) AND c`` and ``a OR (b AND c)`` pass, ``((a AND b))`` does not (moto 5.2.5,
``moto/dynamodb/comparisons.py``: ``ConditionExpressionParser._assert_no_redundant_parentheses``
refuses a PARENTHESES node whose only child is another PARENTHESES node, after getmoto/moto#9911
relaxed a stricter check to match AWS; dynalite's grammar, written against live DynamoDB, refuses
the same ``((...))``). ``BETWEEN``'s own ``AND`` binds before the logical one (the guide's
precedence: comparators, IN, BETWEEN, functions, parentheses, NOT, AND, OR), so a BETWEEN clause
needs no parentheses of its own.

One exception to "DynamoDB decides": the key of a Query by key (``known``). DynamoDB refuses a
Query's filter that names a key attribute (API Reference, Query, ``FilterExpression``: "A
FilterExpression does not allow key attributes"), and the key condition already fixes its value,
so each clause on it compares one known string with the client's operand: it is decided here
(``_decided``), and the rest of the filter, decided or not, is what DynamoDB receives. Naming
another attribute that mirrors the key (``owner``) would leave out the items that do not hold
one: a recipe's items (docs/architecture.md, "Items in the recipe's shape").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from contracts import dynamodb
from services.user_api.errors import BadRequest

COMPARISONS: Final = {"eq": "=", "ne": "<>", "le": "<=", "lt": "<", "ge": ">=", "gt": ">"}
#: ModelAttributeTypes -> DynamoDB's type names for ``attribute_type``.
ATTRIBUTE_TYPES: Final = {
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
LOGICAL: Final = ("and", "or", "not")
#: DynamoDB refuses an expression longer than 4 KB or with more than 300 operators and functions
#: ("Constraints in Amazon DynamoDB", expression parameters; the SDK code example "Count
#: expression operators in DynamoDB" shows the 300). Both count the whole expression a request
#: sends, the store's own clauses included (``within_limits``). A filter past them is the
#: caller's error, answered as such rather than as a ValidationException turned InternalFailure.
MAX_EXPRESSION_BYTES: Final = 4096
MAX_OPERATORS: Final = 300
#: How deep and/or/not may nest: the builder recurses, and a filter deeper than this cannot stay
#: within MAX_OPERATORS in any useful way.
MAX_DEPTH: Final = 32
# Every comparator, logical keyword and function call the builder writes (BETWEEN's AND counts
# too, so the count errs on the safe side). Placeholders (#f0, :v0) never match.
_OPERATOR: Final = re.compile(r"<>|<=|>=|=|<|>|\b(?:AND|OR|NOT|BETWEEN)\b|\b[a-z_]+\(")


@dataclass(frozen=True)
class Expression:
    """An expression with its placeholders, ready for a DynamoDB request. ``text`` is one
    operand of AND (module docstring): join it with ``conjunction``, never wrap it again.
    ``names`` and ``values`` hold exactly the placeholders ``text`` uses: DynamoDB refuses a
    request that declares one its expressions do not use. ``root``: the argument it was built
    from (``filter``, ``condition``), for error messages."""

    text: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dynamodb.AttributeValue] = field(default_factory=dict)
    root: str = "filter"


#: A clause: DynamoDB's text, or ``True``/``False`` where it was decided here (``known``).
_Clause = str | bool


def conjunction(clauses: Sequence[str]) -> str:
    """``clauses`` ANDed into one expression for a request. Each is one operand, as
    ``Expression.text`` is: none is wrapped in parentheses here, for the reason in the module
    docstring."""
    return " AND ".join(clauses)


def within_limits(text: str, given: Expression) -> str:
    """``text`` — the whole expression a request sends, with the client's ``given`` in it — if
    DynamoDB's limits allow it (``MAX_EXPRESSION_BYTES``, ``MAX_OPERATORS``); otherwise the
    client's ``BadRequest``, naming its argument. DynamoDB counts what it receives, so the
    clauses the store adds around ``given`` count too."""
    size, operators = len(text.encode()), len(_OPERATOR.findall(text))
    if size <= MAX_EXPRESSION_BYTES and operators <= MAX_OPERATORS:
        return text
    # What is left for the client once the store's own clauses are counted:
    own_size = size - len(given.text.encode())
    own_operators = operators - len(_OPERATOR.findall(given.text))
    raise BadRequest(
        f"{given.root}: too large for DynamoDB (at most {MAX_OPERATORS - own_operators} "
        f"comparisons, functions and and/or/not in all, in an expression of at most "
        f"{MAX_EXPRESSION_BYTES - own_size} bytes); split it into several requests"
    )


def filter_expression(
    spec: Mapping[str, Any] | None,
    *,
    fields: frozenset[str],
    root: str = "filter",
    known: Mapping[str, str] | None = None,
) -> Expression | None:
    """The expression for ``spec`` (``None``, ``{}`` or a filter every item meets: no filter).
    ``fields``: the attribute names the input may name (its GraphQL input type's fields);
    ``root``: the argument's name, for error messages; ``known``: attributes whose value every
    item read holds (a Query's key), whose clauses are decided here (module docstring). Its
    size is checked where the request is put together (``within_limits``), since DynamoDB
    limits the whole expression sent."""
    if not spec:
        return None
    builder = _Builder(fields, known or {})
    text = builder.group(spec, root)
    if text is None or text is True:
        return None
    if text is False:
        return never(root)
    # A clause decided here may fold away a sibling already built (``not`` over a decided
    # ``False`` AND a field's clauses): DynamoDB refuses a name or value the text does not use
    # ("unused in expressions"), so only those the text names are sent.
    used = set(re.findall(r"[#:]\w+", text))
    names = {name: field for name, field in builder.names.items() if name in used}
    values = {name: value for name, value in builder.values.items() if name in used}
    return Expression(text, names, values, root)


def never(root: str = "filter") -> Expression:
    """A filter no item meets: what a filter decided false before the read (``known``) sends,
    so the request and its paging stay those of any other filter."""
    return Expression("(attribute_exists(#never) AND attribute_not_exists(#never))",
                      {"#never": "_version"}, {}, root)  # fmt: skip


class _Builder:
    def __init__(self, fields: frozenset[str], known: Mapping[str, str]) -> None:
        self._fields = fields
        self._known = known
        self.names: dict[str, str] = {}
        self.values: dict[str, dynamodb.AttributeValue] = {}

    def group(self, spec: Mapping[str, Any], path: str, depth: int = 0) -> _Clause | None:
        if not isinstance(spec, Mapping):
            raise BadRequest(f"{path}: must be an object")
        if depth > MAX_DEPTH:
            raise BadRequest(f"{path}: and/or/not nest deeper than {MAX_DEPTH} levels")
        clauses: list[_Clause] = []
        for key, value in spec.items():
            where = f"{path}.{key}"
            if value is None:
                continue  # an input field left null is an input field not given
            if key in ("and", "or"):
                clauses += self._joined(value, key.upper(), where, depth + 1)
            elif key == "not":
                inner = self.group(value, where, depth + 1)
                if isinstance(inner, bool):
                    clauses.append(not inner)
                elif inner:
                    clauses.append(f"(NOT {inner})")
            elif key in self._known and key in self._fields:
                clauses += _decided(self._known[key], value, where)
            elif key in self._fields:
                clauses += self._field(key, value, where)
            else:
                raise BadRequest(f"{where}: not a field this input can filter on")
        return _joined(clauses, "AND") if clauses else None

    def _joined(self, specs: Any, operator: str, path: str, depth: int) -> list[_Clause]:
        if not isinstance(specs, Sequence) or isinstance(specs, str):
            raise BadRequest(f"{path}: must be a list of objects")
        parts = [
            part
            for index, spec in enumerate(specs)
            if (part := self.group(spec, f"{path}[{index}]", depth)) is not None
        ]
        return [] if not parts else [_joined(parts, operator)]

    def _field(self, name: str, operators: Any, path: str) -> list[_Clause]:
        if not isinstance(operators, Mapping):
            raise BadRequest(f"{path}: must be an object of operators")
        attribute = self._placeholder(name)
        clauses: list[_Clause] = []
        for operator, operand in operators.items():
            where = f"{path}.{operator}"
            if operator in COMPARISONS:
                # {eq: null} compares with DynamoDB's NULL, as Amplify's resolvers do: the
                # transformer's maintainers suggest it for "null or absent" filters together
                # with attributeExists (aws-amplify/amplify-cli#5456).
                clauses.append(f"{attribute} {COMPARISONS[operator]} {self._value(operand)}")
                continue
            if operand is None:
                raise BadRequest(f"{where}: must be a value")
            if operator == "contains":
                clauses.append(f"contains({attribute}, {self._value(operand)})")
            elif operator == "notContains":
                clauses.append(f"(NOT contains({attribute}, {self._value(operand)}))")
            elif operator == "beginsWith":
                clauses.append(f"begins_with({attribute}, {self._value(operand)})")
            elif operator == "between":
                low, high = _pair(operand, where)
                clauses.append(f"{attribute} BETWEEN {self._value(low)} AND {self._value(high)}")
            elif operator == "attributeExists":
                if not isinstance(operand, bool):
                    raise BadRequest(f"{where}: must be true or false")
                kind = "attribute_exists" if operand else "attribute_not_exists"
                clauses.append(f"{kind}({attribute})")
            elif operator == "attributeType":
                if operand not in ATTRIBUTE_TYPES:
                    raise BadRequest(f"{where}: must be one of {', '.join(ATTRIBUTE_TYPES)}")
                clauses.append(
                    f"attribute_type({attribute}, {self._value(ATTRIBUTE_TYPES[operand])})"
                )
            elif operator == "size":
                clauses += self._size(attribute, operand, where)
            else:
                raise BadRequest(f"{where}: not an operator of this input")
        if clauses:  # `{}` or a size with only nulls uses no name, and must not declare one
            self.names[attribute] = name
        return clauses

    def _size(self, attribute: str, operators: Any, path: str) -> list[_Clause]:
        if not isinstance(operators, Mapping):
            raise BadRequest(f"{path}: must be an object of operators")
        clauses: list[_Clause] = []
        for operator, operand in operators.items():
            where = f"{path}.{operator}"
            if operand is None:
                continue
            if operator in COMPARISONS:
                clauses.append(f"size({attribute}) {COMPARISONS[operator]} {self._value(operand)}")
            elif operator == "between":
                low, high = _pair(operand, where)
                clauses.append(
                    f"size({attribute}) BETWEEN {self._value(low)} AND {self._value(high)}"
                )
            else:
                raise BadRequest(f"{where}: not an operator of size")
        return clauses

    def _placeholder(self, name: str) -> str:
        return f"#f{sorted(self._fields).index(name)}"

    def _value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = dynamodb.serialize(value)
        return placeholder


def _pair(operand: Any, path: str) -> tuple[Any, Any]:
    if not isinstance(operand, Sequence) or isinstance(operand, str) or len(operand) != 2:
        raise BadRequest(f"{path}: must be a list of two values, low and high")
    low, high = operand
    if low is None or high is None:
        raise BadRequest(f"{path}: both bounds must be values")
    # DynamoDB refuses a BETWEEN whose bounds differ in type, or whose low bound is above the
    # high one, before it reads an item ("The BETWEEN operator requires upper bound to be
    # greater than or equal to lower bound"; dynalite, tested against live DynamoDB, has both
    # checks). moto 5.2.5 just evaluates such a BETWEEN to false, so only this check keeps it
    # from being an InternalFailure in AWS. Python orders str by code point, which is the order
    # of the UTF-8 bytes DynamoDB compares.
    if _bound_kind(low) is None or _bound_kind(low) != _bound_kind(high):
        raise BadRequest(f"{path}: both bounds must be numbers, or both strings")
    if low > high:
        raise BadRequest(f"{path}: the low bound must not be above the high bound")
    return low, high


def _bound_kind(bound: Any) -> str | None:
    if isinstance(bound, str):
        return "S"
    if isinstance(bound, int | float | Decimal) and not isinstance(bound, bool):
        return "N"
    return None


def _group(clauses: list[str], operator: str) -> str:
    """Clauses joined by ``operator`` as one operand: a single clause as it is (it already is
    one), several inside one pair of parentheses. Nothing else in this module parenthesises a
    join, so no group ever lands directly inside another."""
    return clauses[0] if len(clauses) == 1 else "(" + f" {operator} ".join(clauses) + ")"


def _joined(clauses: Sequence[_Clause], operator: str) -> _Clause:
    """Clauses joined by ``operator`` (``AND``/``OR``), the decided ones folded in: ``False``
    ends an AND and ``True`` an OR; what is left undecided is one operand (``_group``)."""
    absorbing = operator == "OR"
    if absorbing in clauses:
        return absorbing
    texts = [clause for clause in clauses if isinstance(clause, str)]
    return _group(texts, operator) if texts else not absorbing


def _decided(held: str, operators: Any, path: str) -> list[_Clause]:
    """The clauses of one field on an attribute that holds the string ``held``, decided as
    DynamoDB decides them (its documented semantics, as ``tests/filter_reference.py`` holds
    them): another type never equals and always differs; strings order by their UTF-8 bytes
    ("Key condition expressions for the Query operation": "the results are returned in order of
    UTF-8 bytes"); ``size`` of a string counts its UTF-8 bytes ("DynamoDB item sizes and
    formats"; a Cognito sub is ASCII, where bytes and characters agree). The input is checked
    as for any other field, with the same messages."""
    if not isinstance(operators, Mapping):
        raise BadRequest(f"{path}: must be an object of operators")
    clauses: list[_Clause] = []
    for operator, operand in operators.items():
        where = f"{path}.{operator}"
        if operator in COMPARISONS:
            clauses.append(_compared(held, operator, operand))
            continue
        if operand is None:
            raise BadRequest(f"{where}: must be a value")
        if operator in ("contains", "notContains"):
            found = isinstance(operand, str) and operand in held
            clauses.append(found is (operator == "contains"))
        elif operator == "beginsWith":
            clauses.append(isinstance(operand, str) and held.startswith(operand))
        elif operator == "between":
            low, high = _pair(operand, where)
            clauses.append(_compared(held, "ge", low) and _compared(held, "le", high))
        elif operator == "attributeExists":
            if not isinstance(operand, bool):
                raise BadRequest(f"{where}: must be true or false")
            clauses.append(operand)
        elif operator == "attributeType":
            if operand not in ATTRIBUTE_TYPES:
                raise BadRequest(f"{where}: must be one of {', '.join(ATTRIBUTE_TYPES)}")
            clauses.append(ATTRIBUTE_TYPES[operand] == "S")
        elif operator == "size":
            clauses += _decided_size(len(held.encode()), operand, where)
        else:
            raise BadRequest(f"{where}: not an operator of this input")
    return clauses


def _decided_size(size: int, operators: Any, path: str) -> list[_Clause]:
    if not isinstance(operators, Mapping):
        raise BadRequest(f"{path}: must be an object of operators")
    clauses: list[_Clause] = []
    for operator, operand in operators.items():
        where = f"{path}.{operator}"
        if operand is None:
            continue
        if operator in COMPARISONS:
            clauses.append(_compared(size, operator, operand))
        elif operator == "between":
            low, high = _pair(operand, where)
            clauses.append(_compared(size, "ge", low) and _compared(size, "le", high))
        else:
            raise BadRequest(f"{where}: not an operator of size")
    return clauses


def _compared(held: str | int, operator: str, operand: Any) -> bool:
    """``held <operator> operand`` as DynamoDB answers it: another type (NULL included) is never
    equal, always different and in no order."""
    if _bound_kind(operand) != _bound_kind(held):
        return operator == "ne"
    left, right = (held.encode(), operand.encode()) if isinstance(held, str) else (held, operand)
    holds: bool = {
        "eq": left == right,
        "ne": left != right,
        "lt": left < right,
        "le": left <= right,
        "gt": left > right,
        "ge": left >= right,
    }[operator]
    return holds
