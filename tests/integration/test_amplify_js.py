"""A frontend's Amplify JS v6 code (the published aws-amplify package from npm, pinned in
package-lock.json) runs unchanged against the local stack: signUp, confirmSignUp with the code
from the outbox, signIn with SRP, and generateClient().graphql queries and mutations, with the
configuration file the stack writes."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import STACK_PASSWORD, confirmed
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "clients" / "amplify_flow.mjs"


def node_env(stack: LocalStack) -> dict[str, str]:
    """How Node trusts the local stack's TLS port: its CA, added to Node's own."""
    return {**os.environ, "NODE_EXTRA_CA_CERTS": stack.outputs()["ca_cert_path"]}


def test_amplify_js_v6_signs_up_confirms_signs_in_and_calls_graphql_unchanged(
    stack: LocalStack,
) -> None:
    node = shutil.which("node")
    assert node, "Node is part of this project's toolchain"
    assert (ROOT / "node_modules" / "aws-amplify").is_dir(), "run `make install` (npm ci)"
    result = subprocess.run(
        [node, str(SCRIPT), str(stack.outputs_path), "amplify.user@example.com",
         "Correct-Horse-9-Battery!"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=node_env(stack),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["signUpStep"] == "CONFIRM_SIGN_UP" and seen["codeSentBy"] == "EMAIL"
    assert seen["wrongCode"] == "CodeMismatchException"
    assert seen["confirmed"] is True and seen["signedIn"] is True
    assert seen["me"] == {"id": seen["sub"], "email": "amplify.user@example.com", "_version": 1}
    assert seen["edited"] == {"id": seen["sub"], "name": "From Amplify", "_version": 2}
    assert seen["stale"]["errorType"] == "ConflictUnhandled"
    assert seen["stale"]["data"]["_version"] == 2
    assert seen["signedOut"] != "answered"  # no token after signOut: nothing to call with


# --- the codegen'd documents, subscriptions and DataStore (tests/clients/amplify_client.mjs) ---

CLIENT = ROOT / "tests" / "clients" / "amplify_client.mjs"
PASSWORD = STACK_PASSWORD
EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age _version _deleted _lastChangedAt createdAt updatedAt }
}"""


class NodeClient:
    """One Node process running a scenario of ``script`` (which takes the stack's outputs file,
    the scenario, an email and a password); its JSON lines read as they come."""

    def __init__(
        self,
        stack: LocalStack,
        scenario: str,
        email: str,
        password: str = PASSWORD,
        *,
        script: Path = CLIENT,
    ) -> None:
        node = shutil.which("node")
        assert node, "Node is part of this project's toolchain"
        self.process = subprocess.Popen(
            [node, "--experimental-websocket", str(script), str(stack.outputs_path), scenario,
             email, password],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=node_env(stack),
        )  # fmt: skip
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        self._pending: list[dict[str, Any]] = []
        threading.Thread(
            target=self._read, args=(self.process.stdout, self._lines), daemon=True
        ).start()
        threading.Thread(target=self._collect_errors, daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _collect_errors(self) -> None:
        assert self.process.stderr is not None
        self._errors.extend(self.process.stderr)

    def step(self, name: str, timeout: float = 60) -> dict[str, Any]:
        """The next step called ``name``; the steps of other names that came meanwhile wait for
        their own call (two clients' events may interleave either way)."""
        for index, seen in enumerate(self._pending):
            if seen["step"] == name:
                return self._pending.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {name!r} from Node in {timeout} s") from None
            if line is None:
                self.process.wait(5)
                raise AssertionError(f"Node ended before {name!r}: {''.join(self._errors)[-3000:]}")
            if line.startswith("{"):
                seen: dict[str, Any] = json.loads(line)
                if seen["step"] == name:
                    return seen
                self._pending.append(seen)

    def say(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def finish(self) -> None:
        assert self.process.wait(30) == 0, "".join(self._errors)[-3000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


def test_the_codegen_documents_run_unchanged_and_a_subscriber_sees_another_clients_edit(
    stack: LocalStack, client: StackClient, nodes: list[NodeClient]
) -> None:
    email, sub, _ = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    node = NodeClient(stack, "api", email)
    nodes.append(node)

    signed_in = node.step("signed-in")
    # In this pool the username is generated and is the sub: DataStore's owner value
    # (cognito:username) is the item's id.
    assert signed_in["sub"] == sub and signed_in["username"] == sub
    assert signed_in["email"] == email  # the SRP sign-in's ID token carries the address
    assert node.step("getUser")["user"]["id"] == sub
    listed = node.step("listUsers")
    assert listed["ids"] == [sub] and listed["filteredOut"] == 0  # an owner lists their own
    full = node.step("syncFull")
    assert [sub] == full["ids"] and full["nextToken"] is None and full["startedAt"] > 0
    assert node.step("updateUser")["user"]["_version"] == 2
    stale = node.step("stale")
    assert stale["errorType"] == "ConflictUnhandled"
    assert (stale["data"]["id"], stale["data"]["_version"], stale["data"]["name"]) == (
        sub, 2, "Codegen",
    )  # fmt: skip
    delta = node.step("syncDelta")
    assert delta["items"] == [{"id": sub, "_version": 2}] and delta["afterDelta"] == 0
    assert delta["startedAt"] >= full["startedAt"]

    node.step("subscribed")
    edited = client.graphql(
        EDIT, {"input": {"id": sub, "name": "Edited by an Admin", "_version": 2}}, token=admin
    )
    assert not edited.errors, edited.errors
    seen = node.step("onUpdateUser")["user"]
    assert (seen["id"], seen["name"], seen["_version"]) == (sub, "Edited by an Admin", 3)
    node.finish()


def test_an_admins_on_create_user_hears_of_a_user_the_pipeline_created(
    stack: LocalStack, client: StackClient, nodes: list[NodeClient]
) -> None:
    admin_email, _, _ = confirmed(client, admin=True)
    node = NodeClient(stack, "admin", admin_email)
    nodes.append(node)
    node.step("subscribed")

    newcomer = client.sign_up(f"newcomer-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)

    seen = node.step("onCreateUser")["user"]
    assert (seen["id"], seen["_version"], seen["__typename"]) == (newcomer, 1, "User")
    node.finish()


def test_datastore_syncs_saves_and_resolves_a_conflict_with_a_concurrent_admin_edit(
    stack: LocalStack, client: StackClient, nodes: list[NodeClient]
) -> None:
    email, sub, _ = confirmed(client)
    _, _, admin = confirmed(client, admin=True)
    node = NodeClient(stack, "datastore", email)
    nodes.append(node)

    synced = node.step("synced")
    assert synced["count"] == 1 and synced["user"]["id"] == sub
    assert synced["user"]["_version"] == 1
    saved = node.step("saved")["user"]
    assert (saved["name"], saved["_version"]) == ("From DataStore", 2)
    assert client.users()[sub].name == "From DataStore"

    held = node.step("mutation-held")
    assert held["variables"]["input"]["_version"] == 2
    concurrent = client.graphql(
        EDIT, {"input": {"id": sub, "name": "Admin was here", "_version": 2}}, token=admin
    )
    assert not concurrent.errors and concurrent.data["updateUser"]["_version"] == 3  # type: ignore[index]
    node.say("go")

    resolved = node.step("resolved")
    server = client.users()[sub]
    (conflict, *_) = resolved["conflicts"]
    assert conflict["data"]["_version"] == 3  # DataStore was told the server's item
    # DataStore's default handler retried its edit on the server's version: both sides agree.
    assert resolved["user"]["_version"] == server.version == 4
    assert (resolved["user"]["age"], server.age) == (41, 41)
    # …but its retry sends its whole model rebuilt from the held request's input, so the name it
    # did not change goes out as null and the Admin's concurrent name is lost, not merged
    # (@aws-amplify/datastore 5.1.13 defaultConflictHandler; aws-amplify/amplify-js#12360).
    assert (resolved["user"]["name"], server.name) == (None, None)
    node.finish()
