"""examples/apollo — Apollo Client 3 for queries and mutations with Amplify's session, Amplify's
generateClient for subscriptions (AWS's "Migrate from DataStore" guide) — against the local
stack, step by step (examples/apollo/main.mjs prints one JSON line per step): lists hold a
deleted user's tombstone and the example drops it, an update with ``_version`` bumps it, a
stale ``_version`` is ``ConflictUnhandled`` and the example's retry lands, and an Admin's edit
reaches Apollo's cache through the subscription."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.user_fields import USER_FIELDS
from tests.integration.test_amplify_js import EDIT, NodeClient
from tests.support import confirmed
from userpipe.local.client import StackClient, wait_for
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apollo" / "main.mjs"
#: What a DataStore client's edit selects (its model has no email): AppSync hands subscribers
#: what the mutation selected, so the example must read the user again rather than take it.
DATASTORE_EDIT = EDIT


@pytest.fixture(scope="module")
def tombstone(client: StackClient) -> str:
    """A user who deleted their Cognito account: their item is now a ``_deleted`` tombstone
    (user_sync, after CloudTrail's DeleteUser); their sub."""
    _, sub, access = confirmed(client)
    client.aws.cognito.delete_user(AccessToken=access)
    wait_for(lambda: client.users()[sub].deleted, timeout=10, what="the tombstone")
    return sub


def test_an_admins_list_holds_a_tombstone_and_the_example_drops_it(
    stack: LocalStack, client: StackClient, tombstone: str, nodes: list[NodeClient]
) -> None:
    admin_email, admin_sub, _ = confirmed(client, admin=True)
    run = NodeClient(stack, "list", admin_email, script=EXAMPLE)
    nodes.append(run)

    assert run.step("signed-in")["groups"] == ["Admin"]
    listed = run.step("listUsers")  # every page, as the API answers it
    assert {tombstone, admin_sub} <= set(listed["ids"]) and listed["deleted"] == [tombstone]
    live = run.step("liveUsers")  # what a screen shows
    assert admin_sub in live["ids"] and tombstone not in live["ids"] and live["deleted"] == []
    run.finish()


def test_an_owner_edits_with_version_recovers_from_a_conflict_and_sees_an_admins_edit(
    stack: LocalStack, client: StackClient, tombstone: str, nodes: list[NodeClient]
) -> None:
    email, sub, _ = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    run = NodeClient(stack, "edit", email, script=EXAMPLE)
    nodes.append(run)

    assert run.step("signed-in")["sub"] == sub
    # Every field the API serves: an edit through the example reaches every other subscriber
    # (Gen 2, DataStore) whole — AppSync gives them what the mutation selected.
    served = {field.name for field in USER_FIELDS if field.graphql is not None}
    assert set(run.step("fields")["fields"]) == served
    assert run.step("listUsers") == {"step": "listUsers", "ids": [sub], "deleted": []}
    assert run.step("liveUsers")["ids"] == [sub]
    read = run.step("getUser")["user"]
    assert (read["id"], read["_version"], read["_deleted"]) == (sub, 1, None)
    assert read["_lastChangedAt"] > 0

    renamed = run.step("updateUser")["user"]
    assert (renamed["name"], renamed["_version"]) == ("Ada", 2)
    stale = run.step("stale")  # the copy read at _version 1, sent as it is
    assert stale["errorType"] == "ConflictUnhandled"
    assert (stale["data"]["id"], stale["data"]["name"], stale["data"]["_version"]) == (
        sub, "Ada", 2,
    )  # fmt: skip
    retried = run.step("retried")["user"]  # updateUser retried on the server's _version
    assert (retried["name"], retried["_version"]) == ("Ada Lovelace", 3)
    assert client.users()[sub].name == "Ada Lovelace"

    run.step("subscribed")
    edited = client.graphql(
        DATASTORE_EDIT,
        {"input": {"id": sub, "name": "Edited by an Admin", "_version": 3}},
        token=admin,
    )
    assert not edited.errors, edited.errors
    cached = run.step("cache")  # the subscription wrote it; the watched query shows it
    for user in (cached["user"], cached["fragment"]):
        assert (user["id"], user["name"], user["_version"]) == (sub, "Edited by an Admin", 4)
        assert user["email"] == email
    run.finish()
