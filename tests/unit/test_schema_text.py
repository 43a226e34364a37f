"""contracts/schema.graphql is written in the part of the GraphQL SDL AppSync parses.

- No descriptions (``"…"`` or ``\"\"\"…\"\"\"`` before a definition): AppSync has refused them
  with "Failed to parse schema document" (aws/aws-appsync-community#38, still open; tools that
  deploy to AppSync strip them: sid88in/serverless-appsync-plugin#317 and #340). A 2023 comment
  there is cited as "AppSync seems to support it" (aws-amplify/amplify-category-api#2094), but
  AWS has not said so: the developer guide ("Designing your GraphQL schema") never mentions
  descriptions, and Amplify closed that request in 2024 as a service limitation. The schema's
  documentation is ``#`` comments.
- No ``#`` comment inside an enum: AppSync fails to parse one before an enum value when it holds
  ``null``, ``true`` or ``false`` (aws/aws-appsync-community#410), and serverless-appsync-plugin
  #340 found enum comments refused outright.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    NameNode,
    Node,
    Token,
    TokenKind,
    Visitor,
    parse,
    visit,
)

from contracts.appsync import schema_sdl


def described(document: DocumentNode) -> list[str]:
    """Every definition in ``document`` that has a description, named by its path
    (``Type``, ``Type.field``, ``Type.field.argument``, ``Enum.VALUE``, ``Input.field``)."""
    found: list[str] = []

    class Descriptions(Visitor):
        def enter(
            self, node: Node, key: object, parent: object, path: object, ancestors: list[Any]
        ) -> None:
            if getattr(node, "description", None) is None:
                return
            names = [getattr(n, "name", None) for n in [*ancestors, node]]
            named = [name.value for name in names if isinstance(name, NameNode)]
            found.append(".".join(named) or "schema")

    visit(document, Descriptions())
    return found


def enum_comments(document: DocumentNode) -> list[str]:
    """Every ``#`` comment inside an enum definition, as ``Enum: comment``."""
    assert document.loc is not None
    enums = [d for d in document.definitions if isinstance(d, EnumTypeDefinitionNode)]
    found = []
    token: Token | None = document.loc.start_token
    while token is not None:
        if token.kind == TokenKind.COMMENT:
            found += [
                f"{enum.name.value}: #{token.value}"
                for enum in enums
                if enum.loc and enum.loc.start < token.start < enum.loc.end
            ]
        token = token.next
    return found


def test_the_schema_has_no_descriptions_appsync_may_refuse() -> None:
    assert described(parse(schema_sdl())) == []


def test_the_schema_has_no_comments_inside_an_enum() -> None:
    assert enum_comments(parse(schema_sdl())) == []


def test_a_description_anywhere_is_found() -> None:
    """The checks above can fail: every place SDL allows a description, and enum comments."""
    document = parse(
        '"s" schema { query: Q }\n'
        '"t" type Q { "f" f("a" a: Int): E }\n'
        '"""i""" input I { "g" g: Int }\n'
        '"e" enum E { "v" V\n # null\n W }\n'
        '"c" scalar S\n'
        '"d" directive @d("x" x: Int) on FIELD_DEFINITION\n'
    )
    assert described(document) == [
        "schema",
        "Q",
        "Q.f",
        "Q.f.a",
        "I",
        "I.g",
        "E",
        "E.V",
        "S",
        "d",
        "d.x",
    ]
    assert enum_comments(document) == ["E: # null"]


def test_the_schema_is_plain_ascii() -> None:
    """AppSync reads comments more closely than the GraphQL spec says it must (#410 above), and
    nothing says how it reads non-ASCII in them: the schema stays ASCII, comments included."""
    text = schema_sdl()
    assert [(n, line) for n, line in enumerate(text.splitlines(), 1) if not line.isascii()] == []
