"""The local GraphQL endpoint validates a query text once and serves it from then on; invalid
queries are answered with their errors every time and never kept."""

from __future__ import annotations

from typing import Any, cast

from userpipe.local.graphql import DOCUMENT_KEPT_AT_MOST, DOCUMENTS_KEPT, GraphqlEndpoint

ME = "query Me { me { id email name age _version } }"


def _endpoint() -> GraphqlEndpoint:
    unused = cast(Any, None)  # the document's path needs no tokens, signatures or resolver
    return GraphqlEndpoint(verifier=unused, signatures=unused, resolver=unused, region="eu-west-1")


def test_a_valid_query_is_validated_once_and_served_again_as_the_same_document() -> None:
    endpoint = _endpoint()
    first = endpoint._document({"query": ME})
    assert not isinstance(first, list)
    assert endpoint._document({"query": ME}) is first


def test_an_invalid_query_answers_its_errors_every_time_and_is_not_kept() -> None:
    endpoint = _endpoint()
    for _ in range(2):
        errors = endpoint._document({"query": "query { me { nope } }"})
        assert isinstance(errors, list)
        assert "nope" in errors[0]["message"]
    assert endpoint._document({"query": "query {"})[0]["message"].startswith("Syntax Error")  # type: ignore[index]
    assert endpoint._documents == {}


def test_the_documents_kept_are_bounded_and_the_oldest_goes_first() -> None:
    endpoint = _endpoint()
    queries = [f"query Q{i} {{ me {{ id }} }}" for i in range(DOCUMENTS_KEPT + 1)]
    for query in queries:
        endpoint._document({"query": query})
    assert len(endpoint._documents) == DOCUMENTS_KEPT
    assert queries[0] not in endpoint._documents and queries[-1] in endpoint._documents


def test_a_long_query_is_answered_but_never_kept() -> None:
    endpoint = _endpoint()
    aliases = " ".join(f"a{i}: __typename" for i in range(DOCUMENT_KEPT_AT_MOST // 10))
    long_query = f"query {{ {aliases} }}"
    assert len(long_query) > DOCUMENT_KEPT_AT_MOST
    assert not isinstance(endpoint._document({"query": long_query}), list)
    assert endpoint._documents == {}
