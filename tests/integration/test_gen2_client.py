"""A frontend on Amplify Gen 2's data client (aws-amplify 6.22.1, ``generateClient`` and
``client.models.User``, pinned in package-lock.json) works against the local stack, configured
from the ``amplify_outputs.json`` the stack writes plus the one line naming the local Cognito
(tests/clients/gen2_client.mjs; its snippet regions are what docs/api.md shows). Beside it, a
DataStore client on the same user sees the Gen 2 client's edits and the other way round, and the
two converge without a conflict loop."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_amplify_js import EDIT, PASSWORD, NodeClient
from tests.support import confirmed
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GEN2 = ROOT / "tests" / "clients" / "gen2_client.mjs"


def gen2(stack: LocalStack, nodes: list[NodeClient], scenario: str, email: str) -> NodeClient:
    node = NodeClient(stack, scenario, email, script=GEN2)
    nodes.append(node)
    return node


def heard(node: NodeClient, operation: str, user_id: str) -> dict[str, Any]:
    """The first event of ``operation`` about ``user_id`` the admin scenario reports."""
    while True:
        seen = node.step("heard")
        if seen["operation"] == operation and seen["user"]["id"] == user_id:
            user: dict[str, Any] = seen["user"]
            return user


def until(what: str, found: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.1)
    return value


def deleted(stack: LocalStack, client: StackClient, access_token: str, sub: str) -> None:
    """The user deletes their account in Cognito; the pipeline leaves a tombstone and announces
    it (``publishUserDeleted``, which ``onDeleteUser`` carries), as tests/integration/
    test_lifecycle.py drives it."""
    client.aws.cognito.delete_user(AccessToken=access_token)
    until("tombstone", lambda: (user := client.users().get(sub)) and user.deleted)
    stack.settle(timeout=60)


def test_an_owner_gets_lists_updates_and_hears_only_their_own_changes(
    stack: LocalStack, client: StackClient, nodes: list[NodeClient]
) -> None:
    email, sub, _ = confirmed(client)
    _, other, other_access = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    node = gen2(stack, nodes, "owner", email)

    assert node.step("signed-in")["sub"] == sub
    got = node.step("get")
    assert got["user"]["id"] == sub and got["user"]["_version"] == 1
    # The introspection's fields are what Gen 2 selects: the conflict fields included.
    assert {"_version", "_deleted", "_lastChangedAt", "email", "owner"} <= set(got["fields"])
    assert node.step("list")["ids"] == [sub]  # an owner lists their own item only

    with_version = node.step("update-with-version")["user"]
    assert (with_version["name"], with_version["_version"]) == ("From Gen 2", 2)
    # docs/api.md: without _version the edit is unconditional and still counts a version.
    without = node.step("update-without-version")
    assert without.get("errors") is None  # no errors at all
    assert (without["user"]["age"], without["user"]["_version"]) == (30, 3)
    stale = node.step("stale")
    # Gen 2 returns, not throws, a GraphQL error: data null (@aws-amplify/data-schema 1.26.2
    # handleSingularGraphQlError), the error as the API answered it, its data the current item.
    assert stale["data"] is None and stale["errorType"] == "ConflictUnhandled"
    assert "is at _version 3" in stale["message"]
    assert (stale["conflict"]["_version"], stale["conflict"]["name"]) == (3, "From Gen 2")
    assert "BadRequest: age must be a whole number from 0 to 150" in node.step("refused")["message"]
    assert node.step("delete") == {"step": "delete", "data": None, "errorType": "Unauthorized"}
    filtered = node.step("list-filtered")
    assert filtered == {"step": "list-filtered", "named": [sub], "tooOld": 0}
    assert [user["id"] for user in node.step("observe-synced")["items"]] == [sub]
    node.step("subscribed")

    # Others' changes — an edit, a sign-up, a deletion — all announced, none to this owner.
    assert not client.graphql(EDIT, {"input": {"id": other, "name": "Someone"}}, token=admin).errors
    client.sign_up(f"newcomer-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    deleted(stack, client, other_access, other)
    mine = {"id": sub, "name": "Edited by an Admin", "_version": 3}
    assert not client.graphql(EDIT, {"input": mine}, token=admin).errors

    heard_by_owner = node.step("heard")["heard"]
    events = {(event["operation"], event["id"], event["_version"]) for event in heard_by_owner}
    assert events == {("onUpdate", sub, 4), ("snippet-onUpdate", sub, 4)}
    last = node.step("observed")["last"]
    assert last["isSynced"] is True
    assert [(user["id"], user["name"], user["_version"]) for user in last["items"]] == [
        (sub, "Edited by an Admin", 4)
    ]
    node.finish()


def test_an_admin_lists_everyone_and_hears_every_creation_update_and_deletion(
    stack: LocalStack, client: StackClient, nodes: list[NodeClient]
) -> None:
    admin_email, admin_sub, _ = confirmed(client, admin=True)
    _, sub, access = confirmed(client)
    node = gen2(stack, nodes, "admin", admin_email)

    assert node.step("signed-in")["groups"] == ["Admin"]
    live = {user.id for user in client.users().values() if not user.deleted}
    listed = node.step("list")["ids"]
    assert sorted(listed) == sorted(live) and {admin_sub, sub} <= set(listed)
    assert node.step("list-filtered")["ids"] == [admin_sub]  # filtered on the email
    node.step("subscribed")

    newcomer = client.sign_up(f"newcomer-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    assert heard(node, "onCreate", newcomer)["_version"] == 1
    assert not client.graphql(EDIT, {"input": {"id": sub, "name": "Renamed"}}, token=access).errors
    assert heard(node, "onUpdate", sub)["name"] == "Renamed"
    deleted(stack, client, access, sub)
    tombstone = heard(node, "onDelete", sub)
    assert tombstone["_deleted"] is True and tombstone["name"] is None
    node.say("done")
    node.finish()


def test_a_datastore_client_and_a_gen2_client_on_one_user_see_each_others_edits_and_converge(
    stack: LocalStack, client: StackClient, nodes: list[NodeClient]
) -> None:
    email, sub, _ = confirmed(client)
    datastore = NodeClient(stack, "datastore-side-by-side", email)
    nodes.append(datastore)
    assert datastore.step("synced")["user"]["_version"] == 1
    gen2_client = gen2(stack, nodes, "side-by-side", email)
    assert gen2_client.step("subscribed")["user"]["_version"] == 1

    def gen2_hears(version: int) -> dict[str, Any]:
        while True:
            user: dict[str, Any] = gen2_client.step("heard")["user"]
            if user["_version"] == version:
                return user

    # Gen 2 edits; DataStore sees it.
    gen2_client.say("edit name Gen2")
    assert gen2_client.step("edited")["user"]["_version"] == 2
    datastore.say("await name Gen2")
    assert datastore.step("state")["user"]["_version"] == 2
    assert gen2_hears(2)["name"] == "Gen2"  # its own edit comes back too

    # DataStore edits; Gen 2 hears it.
    datastore.say("save age 33")
    assert datastore.step("saved")["user"]["_version"] == 3
    assert (gen2_hears(3)["age"], client.users()[sub].version) == (33, 3)

    # Both edit over version 3: DataStore's request waits while Gen 2's lands first; DataStore's
    # conflict handler retries over the server's version once.
    datastore.say("hold")
    datastore.say("save age 34")
    assert datastore.step("mutation-held")["variables"]["input"]["_version"] == 3
    gen2_client.say("edit name Gen2-again")
    assert gen2_client.step("edited")["user"]["_version"] == 4
    datastore.say("go")
    datastore.step("saved")
    datastore.say("await _version 5")
    retried = datastore.step("state")
    # DataStore's default conflict handler retries with its local model rebuilt from the
    # request's input alone ({...localModel, _version: remote's}; localModel =
    # modelInstanceCreator(variables.input): @aws-amplify/datastore 5.1.13 datastore.mjs
    # defaultConflictHandler, sync/processors/mutation.mjs), and sends it whole: a field it did
    # not change goes out as null, so Gen 2's concurrent name is cleared, not merged. Reported
    # as aws-amplify/amplify-js#12360; PR #12815 (send only the original update's fields) was
    # closed without merging.
    assert retried["sent"][-1] == {"id": sub, "name": None, "age": 34, "_version": 4}
    assert (retried["user"]["name"], retried["user"]["age"]) == (None, 34)
    assert (gen2_hears(5)["name"], client.users()[sub].name) == (None, None)

    # Gen 2 edits over the version it last read (4) after DataStore wrote 6: its conflict
    # handling (the gen2-update snippet) retries once over the current record.
    datastore.say("save name DataStore")
    assert datastore.step("saved")["user"]["_version"] == 6
    gen2_client.say("stale-edit age 35")
    lost = gen2_client.step("edited")
    assert (lost["user"]["_version"], lost["conflicts"], lost["mutations"]) == (7, 1, 4)
    datastore.say("await _version 7")
    datastore.step("state")

    time.sleep(2)  # a conflict loop would keep sending updates meanwhile
    datastore.say("show")
    datastore_end = datastore.step("state")
    datastore.say("done")
    gen2_client.say("done")
    gen2_end = gen2_client.step("final")
    server = client.users()[sub]

    # One conflict each, one retry each: DataStore sent 4 updates (33, 34 twice, the name),
    # Gen 2 4 (two edits, the stale one twice); nothing after. Gen 2's retry sends only what it
    # changes (its update input is the fields given), so DataStore's name stays.
    assert (len(datastore_end["sent"]), datastore_end["conflicts"]) == (4, 1)
    assert (gen2_end["mutations"], gen2_end["conflicts"]) == (4, 1)
    shown = ("name", "age", "_version")
    assert [datastore_end["user"][key] for key in shown] == [gen2_end["user"][key] for key in shown]
    assert (server.name, server.age, server.version) == ("DataStore", 35, 7)
    datastore.finish()
    gen2_client.finish()
