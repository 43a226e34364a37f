"""Step 14's "done when", on the local stack through public APIs only: a running recipe app
(``tests/recipe``: its pool's users, its ``User-<apiId>-<env>`` table, its direct-write trigger)
taken over by the cutover docs/adoption.md describes, while users keep signing up.

500 recipe users — some edited (``_version`` > 1), some deleted by DataStore, one whose password
reset let the recipe's trigger overwrite their item — then, with sign-ups arriving all along:
adopt → switch the trigger (``userpipe attach-triggers``) → adopt again. Every user ends in
userpipe's table exactly once, the recipe's name/age/createdAt/``_version`` kept, its tombstones
kept as userpipe tombstones, zero drift in ``userpipe reconcile``; a third adopt finds nothing to
do; a DataStore client pointed at userpipe sees the ``_version`` the recipe gave it and saves
without a conflict. Times are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_amplify_js import NodeClient
from tests.recipe.app import PASSWORD, RecipeApp, RecipeUser, SignUpStream
from userpipe.aws.tables import scan
from userpipe.cli import main
from userpipe.local.client import StackClient, wait_for
from userpipe.local.stack import LocalStack, LocalStackOptions

pytestmark = pytest.mark.integration

RECIPE_USERS = 500
DURING = 20  # sign-ups arriving while the adoption runs, at least
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("adoption")
    with LocalStack(LocalStackOptions(state_dir=state / "state", stage="adopt")) as running:
        yield running
    for what, seconds in TIMES.items():
        print(f"{what}: {seconds:.1f} s")


def userpipe(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """A command's JSON summary (every command here takes ``--json``), exit status 0."""
    capsys.readouterr()
    started = time.monotonic()
    code = main([*args, "--json", "--outputs", str(stack.outputs_path)])
    TIMES[" ".join(args[:1]) + f" #{len(TIMES)}"] = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 0, (out, err[-3000:])
    return json.loads(out)


def ours(stack: LocalStack) -> dict[str, dict[str, Any]]:
    from contracts import dynamodb

    table = stack.outputs()["user_table_name"]
    return {
        str(item["id"]["S"]): dynamodb.from_item(item)
        for item in scan(stack.clients().dynamodb, table)
    }


def test_a_running_recipe_app_is_adopted_while_users_keep_signing_up(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = RecipeApp.deploy(stack)
    started = time.monotonic()
    users = app.sign_up(RECIPE_USERS)
    TIMES[f"{RECIPE_USERS} recipe sign-ups"] = time.monotonic() - started
    edited, deleted = users[1::4], users[3::10]
    for number, user in enumerate(edited):
        app.edit(user, name=f"Recipe user {number}", age=20 + number % 60)
        if number % 3 == 0:
            app.edit(user, age=21 + number % 60)  # _version 3
    for user in deleted:
        app.datastore_delete(user)
    app.reset_password(users[0])  # the recipe's trigger overwrites the item (its known defect)

    with SignUpStream(app, per_second=1) as stream:
        first = userpipe(stack, capsys, "adopt", "--local", "--from-table", app.table_name,
                         "--rate", "200")  # fmt: skip
        switched = userpipe(stack, capsys, "attach-triggers", "--local", "--save-to",
                            str(tmp_path / "recipe-triggers.json"))  # fmt: skip
        before_switch = len(stream.confirmed)
        wait_for(lambda: len(stream.confirmed) >= max(DURING, before_switch + 5), timeout=60,
                 what="sign-ups during the adoption")  # fmt: skip
    arrived = stream.confirmed
    assert stream.errors == []
    assert len(arrived) >= DURING
    second = userpipe(stack, capsys, "adopt", "--local", "--from-table", app.table_name)
    stack.settle()

    with capsys.disabled():  # the commands' output is read through capsys
        for run, summary in (("first", first), ("second", second)):
            counts = {kind: n for kind, n in summary["counts"].items() if n}
            print(f"adopt, {run} run: {counts}, published {summary['published']}, "
                  f"landed {summary['landed']}")  # fmt: skip
        print(f"sign-ups during the adoption: {len(arrived)}")
    assert first["counts"]["invalid"] == second["counts"]["invalid"] == 0
    assert first["complete"] and second["complete"], (first, second)
    assert switched["written"] is True
    assert switched["lambdaConfig"]["before"]["PostConfirmation"] == app.trigger_arn
    assert switched["lambdaConfig"]["after"]["PostConfirmation"] == switched["trigger"]

    recipe, table = app.items(), ours(stack)
    everyone = [*users, *arrived]
    # Every user exactly once: one item per sub (the table's key), and nothing else.
    assert set(table) == {user.sub for user in everyone}
    gone = {user.sub for user in deleted}
    for user in everyone:
        item = table[user.sub]
        was = recipe.get(user.sub)
        if was is None:  # confirmed after the switch: userpipe's trigger made the record
            assert item["_version"] == 1 and item["email"] == user.email
            continue
        assert item["userPoolId"] == app.pool_id and item["owner"] == user.sub
        for name in ("createdAt", "_version", "_lastChangedAt"):
            assert item[name] == was[name], (name, user.sub)
        if user.sub in gone:
            assert item["_deleted"] is True and item["_ttl"] == was["_ttl"]
            assert not {"email", "name", "age"} & set(item)
        else:
            assert item["email"] == user.email
            assert (item.get("name"), item.get("age")) == (was.get("name"), was.get("age"))
            assert item["updatedAt"] == was["updatedAt"]
    after_switch = [user for user in arrived if user.sub not in recipe]
    assert after_switch, "some sign-ups must arrive after the switch"
    assert {u.sub for u in arrived} - {u.sub for u in after_switch}, "and some before it"

    # A third run finds nothing to do; reconcile finds no drift of any kind.
    third = userpipe(stack, capsys, "adopt", "--local", "--from-table", app.table_name)
    assert third["published"] == 0 and third["counts"]["unchanged"] == len(recipe)
    drift = userpipe(stack, capsys, "reconcile", "--local", "--dry-run")
    assert all(count == 0 for count in drift["drift"].values()), drift

    # A DataStore client that synced against the recipe, now configured for userpipe: the
    # same _version, and its next save is accepted as the next version (no conflict).
    kept = next(u for u in edited if u.sub not in gone and recipe[u.sub]["_version"] == 3)
    node = NodeClient(stack, "datastore", kept.email, PASSWORD)
    try:
        synced = node.step("synced")
        assert synced["user"]["id"] == kept.sub
        assert synced["user"]["_version"] == recipe[kept.sub]["_version"] == 3
        saved = node.step("saved")["user"]
        assert (saved["name"], saved["_version"]) == ("From DataStore", 4)
        assert node.step("mutation-held")["variables"]["input"]["_version"] == 4
    finally:
        node.kill()
    assert StackClient(stack.outputs()).users()[kept.sub].version == 4


def test_recipe_users_keep_their_records_through_a_rebuild(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The adopted items are in the event log (``UserAdopted``): emptying the table and
    rebuilding it from the archive writes each again, attribute for attribute."""
    before = ours(stack)
    assert before, "runs after the adoption test, on the same stack"
    from userpipe.aws.deployment import for_local_stack
    from userpipe.aws.tables import empty_user_table

    empty_user_table(for_local_stack(stack.outputs()))
    capsys.readouterr()
    code = main(["rebuild", "--local", "--outputs", str(stack.outputs_path)])
    out, err = capsys.readouterr()
    assert code == 0, (out, err[-3000:])
    assert ours(stack) == before


__all__ = ["RecipeUser"]
