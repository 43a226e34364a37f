"""The API's real entry point on moto: secret-backed page tokens, DynamoDB paging, audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from services.user_api.errors import ConflictUnhandled, Unauthorized
from services.user_api.tokens import InvalidNextToken
from tests.support import cognito_identity, iam_identity
from userpipe.local.pipeline import LocalPipeline

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery"
ADMIN = cognito_identity("00000000-0000-4000-8000-00000000000c", ["Admin"])


def every_page(pipeline: LocalPipeline, field: str, limit: int, **arguments: Any) -> list[Any]:
    pages, token = [], None
    while True:
        page = pipeline.graphql(
            "Query", field, {**arguments, "limit": limit, "nextToken": token}, ADMIN
        )
        pages.append(page["items"])
        token = page["nextToken"]
        if token is None:
            return pages


def test_listing_every_user_over_several_pages_returns_each_once(pipeline: LocalPipeline) -> None:
    subs = {pipeline.sign_up(f"user{i}@example.com", PASSWORD) for i in range(12)}
    pipeline.settle()
    pages = every_page(pipeline, "listUsers", limit=5)
    seen = [item["id"] for page in pages for item in page]
    assert len(pages) >= 3
    assert sorted(seen) == sorted(subs)


def test_an_owner_edits_their_profile_and_the_audit_trail_shows_it(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()
    owner = cognito_identity(sub)
    me = pipeline.graphql("Query", "me", {}, owner)
    for version, name in enumerate(["Ada", "Ada L.", "Ada Lovelace"], start=me["_version"]):
        update = {"id": sub, "name": name, "expectedVersion": version}
        pipeline.graphql("Mutation", "updateUser", {"input": update}, owner)
    with pytest.raises(ConflictUnhandled, match="_version 4"):
        pipeline.graphql(
            "Mutation", "updateUser", {"input": {"id": sub, "age": 3, "expectedVersion": 1}}, owner
        )
    pipeline.settle()

    pages = every_page(pipeline, "auditTrail", limit=3, userId=sub)
    trail = [record for page in pages for record in page]
    assert [r["eventName"] for r in trail] == ["MODIFY", "MODIFY", "MODIFY", "INSERT"]
    assert [r["newVersion"] for r in trail] == [4, 3, 2, 1]
    assert all("ada@example.com" not in r["changes"] for r in trail)
    assert (
        pipeline.graphql("Query", "getUser", {"id": sub}, iam_identity())["name"] == "Ada Lovelace"
    )


def test_a_user_cannot_read_anothers_audit_trail_or_profile(pipeline: LocalPipeline) -> None:
    ada = pipeline.sign_up("ada@example.com", PASSWORD)
    eve = pipeline.sign_up("eve@example.com", PASSWORD)
    pipeline.settle()
    with pytest.raises(Unauthorized):
        pipeline.graphql("Query", "getUser", {"id": ada}, cognito_identity(eve))
    with pytest.raises(Unauthorized):
        pipeline.graphql("Query", "auditTrail", {"userId": ada}, cognito_identity(eve))


def test_a_forged_token_is_refused_by_the_deployed_resolver(pipeline: LocalPipeline) -> None:
    for i in range(3):
        pipeline.sign_up(f"user{i}@example.com", PASSWORD)
    pipeline.settle()
    page = pipeline.graphql("Query", "listUsers", {"limit": 1}, ADMIN)
    with pytest.raises(InvalidNextToken):
        pipeline.graphql(
            "Query", "listUsers", {"limit": 1, "nextToken": page["nextToken"][:-3]}, ADMIN
        )
