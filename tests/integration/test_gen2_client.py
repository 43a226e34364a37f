"""A frontend on Amplify Gen 2's data client (aws-amplify 6.22.1, ``generateClient`` and
``client.models.User``, pinned in package-lock.json) works against the local stack, configured
from the ``amplify_outputs.json`` the stack writes plus the one line naming the local Cognito
(tests/clients/gen2_client.mjs; its snippet regions are what docs/frontends.md shows). Beside it, a
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


def snapshot(node: NodeClient, holds: Callable[[set[str]], bool]) -> set[str]:
    """The first list the admin scenario's observeQuery hands over (synced) that ``holds``."""
    while True:
        seen = node.step("snapshot")
        if seen["isSynced"] and holds(ids := set(seen["ids"])):
            return ids


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


# --- one owner's run (gen2_client.mjs "owner"), each step a check of its own -----------------


#: The owner scenario's steps up to its subscriptions, in the order it takes them.
OWNER_STEPS = (
    "signed-in",
    "get",
    "list",
    "update-with-version",
    "update-without-version",
    "stale",
    "refused",
    "delete",
    "list-filtered",
    "observe-synced",
    "subscribed",
)


@pytest.fixture(scope="module")
def owner(stack: LocalStack, client: StackClient) -> dict[str, Any]:
    """The owner scenario's steps by name, plus ``sub``; while it listens, other users change
    (an edit, a sign-up, a deletion), then an Admin edits the owner's record."""
    email, sub, _ = confirmed(client)
    _, other, other_access = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    node = NodeClient(stack, "owner", email, script=GEN2)
    try:
        steps = {name: node.step(name) for name in OWNER_STEPS}
        edit = {"id": other, "name": "Someone"}
        assert not client.graphql(EDIT, {"input": edit}, token=admin).errors
        client.sign_up(f"newcomer-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
        deleted(stack, client, other_access, other)
        mine = {"id": sub, "name": "Edited by an Admin", "_version": 3}
        assert not client.graphql(EDIT, {"input": mine}, token=admin).errors
        steps |= {name: node.step(name) for name in ("heard", "observed")}
        node.finish()
    finally:
        node.kill()
    return {"sub": sub, **steps}


def test_owner_signs_in_with_the_stacks_amplify_outputs(owner: dict[str, Any]) -> None:
    assert owner["signed-in"]["sub"] == owner["sub"] and owner["signed-in"]["groups"] == []


def test_owner_get_reads_their_record_with_the_conflict_fields(owner: dict[str, Any]) -> None:
    got = owner["get"]
    assert got["user"]["id"] == owner["sub"] and got["user"]["_version"] == 1
    # Gen 2 selects the introspection's fields: the ones DataStore and conflicts need too.
    assert {"_version", "_deleted", "_lastChangedAt", "email", "owner"} <= set(got["fields"])


def test_owner_list_holds_their_own_record_only(owner: dict[str, Any]) -> None:
    assert owner["list"]["ids"] == [owner["sub"]]  # every page read (the gen2-read snippet)


def test_owner_update_with_version_writes_the_next_version(owner: dict[str, Any]) -> None:
    user = owner["update-with-version"]["user"]
    assert (user["name"], user["_version"]) == ("From Gen 2", 2)


def test_owner_update_without_version_is_applied_unconditionally(owner: dict[str, Any]) -> None:
    """docs/api.md: without ``_version`` an edit is unconditional and still counts a version."""
    without = owner["update-without-version"]
    assert without.get("errors") is None
    assert (without["user"]["age"], without["user"]["_version"]) == (30, 3)


def test_owner_update_over_a_stale_version_is_a_conflict_with_the_current_record(
    owner: dict[str, Any],
) -> None:
    """Gen 2 returns, not throws, a GraphQL error: data null (@aws-amplify/data-schema 1.26.2
    ``handleSingularGraphQlError``) and the error as the API answered it, whose data is the
    current record (the gen2-update snippet returns it as ``conflict``)."""
    stale = owner["stale"]
    assert stale["data"] is None and stale["errorType"] == "ConflictUnhandled"
    assert "is at _version 3" in stale["message"]
    assert (stale["conflict"]["_version"], stale["conflict"]["name"]) == (3, "From Gen 2")


def test_owner_update_with_a_bad_value_is_a_clear_error(owner: dict[str, Any]) -> None:
    assert "BadRequest: age must be a whole number from 0 to 150" in owner["refused"]["message"]


def test_owner_delete_is_unauthorized(owner: dict[str, Any]) -> None:
    assert owner["delete"] == {"step": "delete", "data": None, "errorType": "Unauthorized"}


def test_owner_list_filters(owner: dict[str, Any]) -> None:
    filtered = owner["list-filtered"]
    assert (filtered["named"], filtered["tooOld"]) == ([owner["sub"]], 0)


def test_owner_observe_query_syncs_their_record(owner: dict[str, Any]) -> None:
    assert [user["id"] for user in owner["observe-synced"]["items"]] == [owner["sub"]]


def test_owner_on_create_update_delete_hear_only_their_own_change(owner: dict[str, Any]) -> None:
    """Another user's edit, a sign-up and a deletion were all announced; the owner, subscribed
    without arguments, heard only the Admin's edit of their own record (on both onUpdate
    subscriptions: the scenario's and the gen2-subscribe snippet's)."""
    events = {(e["operation"], e["id"], e["_version"]) for e in owner["heard"]["heard"]}
    assert events == {("onUpdate", owner["sub"], 4), ("snippet-onUpdate", owner["sub"], 4)}


def test_owner_observe_query_follows_the_change(owner: dict[str, Any]) -> None:
    last = owner["observed"]["last"]
    assert last["isSynced"] is True
    assert [(user["id"], user["name"], user["_version"]) for user in last["items"]] == [
        (owner["sub"], "Edited by an Admin", 4)
    ]


# --- an Admin's run (gen2_client.mjs "admin") --------------------------------------------------


@pytest.fixture(scope="module")
def admin(stack: LocalStack, client: StackClient) -> dict[str, Any]:
    """The admin scenario's steps, the users listed when it listed, and what it heard while a
    user signed up, another edited their record and then deleted their account."""
    admin_email, admin_sub, _ = confirmed(client, admin=True)
    _, sub, access = confirmed(client)
    live = sorted(user.id for user in client.users().values() if not user.deleted)
    node = NodeClient(stack, "admin", admin_email, script=GEN2)
    try:
        steps = {name: node.step(name) for name in ("signed-in", "list", "list-filtered")}
        node.step("subscribed")
        observed = {"synced": snapshot(node, lambda ids: sub in ids)}
        newcomer = client.sign_up(f"newcomer-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
        created = heard(node, "onCreate", newcomer)
        observed["created"] = snapshot(node, lambda ids: newcomer in ids)
        assert not client.graphql(
            EDIT, {"input": {"id": sub, "name": "Renamed"}}, token=access
        ).errors
        updated = heard(node, "onUpdate", sub)
        deleted(stack, client, access, sub)
        removed = heard(node, "onDelete", sub)
        observed["deleted"] = snapshot(node, lambda ids: sub not in ids)
        node.say("done")
        node.finish()
    finally:
        node.kill()
    return {"admin": admin_sub, "sub": sub, "live": live, "newcomer": newcomer, **steps,
            "onCreate": created, "onUpdate": updated, "onDelete": removed,
            "observed": observed}  # fmt: skip


def test_admin_signs_in_in_the_admin_group(admin: dict[str, Any]) -> None:
    assert admin["signed-in"]["groups"] == ["Admin"]


def test_admin_list_holds_every_live_user(admin: dict[str, Any]) -> None:
    listed = admin["list"]["ids"]
    assert sorted(listed) == admin["live"] and {admin["admin"], admin["sub"]} <= set(listed)


def test_admin_list_filters_on_the_email(admin: dict[str, Any]) -> None:
    assert admin["list-filtered"]["ids"] == [admin["admin"]]


def test_admin_on_create_hears_a_sign_up(admin: dict[str, Any]) -> None:
    assert admin["onCreate"]["_version"] == 1


def test_admin_on_update_hears_another_users_edit(admin: dict[str, Any]) -> None:
    assert admin["onUpdate"]["name"] == "Renamed"


def test_admin_on_delete_hears_a_deleted_account(admin: dict[str, Any]) -> None:
    assert admin["onDelete"]["_deleted"] is True and admin["onDelete"]["name"] is None


def test_admin_observe_query_converges_on_a_pipeline_created_user_and_a_deletion(
    admin: dict[str, Any],
) -> None:
    """observeQuery's list (tombstones filtered out) gains the user the pipeline created on
    sign-up (announced by publishUserCreated) and loses the user who deleted their account
    (publishUserDeleted), each time settling on exactly the live users."""
    observed = admin["observed"]
    assert set(admin["live"]) <= observed["synced"]
    assert observed["created"] == observed["synced"] | {admin["newcomer"]}
    assert observed["deleted"] == observed["created"] - {admin["sub"]}


# --- side by side ------------------------------------------------------------------------------


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
