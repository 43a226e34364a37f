"""``userpipe demo``: the local stack, driven only through its public endpoints, checked as it
goes.

It starts the local stack in this process on a free port, then acts as its clients would:
users sign up through Cognito's API, read their code from the outbox, confirm and sign in;
profiles are read and edited over GraphQL with their real tokens; an operator inspects the
tables and queues, replays the archive and rebuilds the table with the operator commands.
Along the way it does what breaks the naive recipe — Cognito's retries, a password reset, a
stale edit, a replay, a rebuild, a poison message, a wrong code, a forged token — and checks
that nothing was lost, duplicated or overwritten. The rebuild is checked the strictest way: the
table after it equals the table before, attribute for attribute, and an Admin's subscription,
the audit trail and the outbox heard nothing of it. Exit status 0 means every check held.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from userpipe.aws import status
from userpipe.aws.deployment import from_local
from userpipe.aws.queues import wait_until_drained
from userpipe.aws.shell import userpipe_command
from userpipe.aws.tables import empty_user_table, scan
from userpipe.local import outbox
from userpipe.local.client import StackClient, wait_for
from userpipe.local.stack import LocalStack, LocalStackOptions
from userpipe.ops import rebuild, replay
from userpipe.ops.progress import RichProgress

PEOPLE = ["ada", "grace", "alan", "barbara", "edsger", "margaret", "donald", "frances"]
PASSWORD = "Correct-Horse-9-Battery!"  # noqa: S105 - demo users on the local stack
NEW_PASSWORD = "Staple-Horse-10-Battery!"  # noqa: S105

ME = "query Me { me { id email name age _version createdAt } }"
GET_USER = "query Get($id: ID!) { getUser(id: $id) { id email name } }"
LIST_USERS = """query Everyone($next: String) {
  listUsers(limit: 2, nextToken: $next) { items { id email _version } nextToken }
}"""
RENAME = """mutation Rename($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age _version updatedAt }
}"""
#: What an Admin's app listens to: every user's creates, updates and deletes.
EVERY_CHANGE = tuple(
    f"subscription {name} {{ {name}User {{ id _version _lastChangedAt }} }}"
    for name in ("onCreate", "onUpdate", "onDelete")
)


def next_steps(userpipe: str) -> list[str]:
    """What the demo ends with: where a newcomer goes next, each command as it runs here
    (``userpipe``: how this program was reached, ``userpipe.aws.shell.userpipe_command``)."""
    return [
        "",
        "Next:",
        f"  {userpipe} local up  # the stack on 4747/4748 until Ctrl-C",
        "  # then open https://127.0.0.1:4748/ in a browser (trust .userpipe/tls/ca.pem once)",
        f"  {userpipe} local admin EMAIL  # make a signed-up user an Admin",
        f'  eval "$({userpipe} local env)"  # then the AWS CLI: aws dynamodb scan ...',
        "  make test  # every test; README.md explains the rest",
    ]


def run_demo(users: int = 3, *, verbose: bool = False, console: Console | None = None) -> int:
    console = console or Console()
    on_log = (lambda name, line: console.print(f"[dim]{name}[/] {line}")) if verbose else None
    with (
        tempfile.TemporaryDirectory(prefix="userpipe-demo-") as state,
        LocalStack(LocalStackOptions(state_dir=Path(state), stage="demo", on_log=on_log)) as stack,
    ):
        return _Demo(stack, console).run(users)


class _Demo:
    def __init__(self, stack: LocalStack, console: Console) -> None:
        self.stack, self.console = stack, console
        self.client = StackClient(stack.outputs())
        self.failed: list[str] = []

    def check(self, claim: str, holds: bool) -> None:
        self.console.print(f"  [{'green' if holds else 'red'}]{'✓' if holds else '✗'}[/] {claim}")
        if not holds:
            self.failed.append(claim)

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def settle(self) -> None:
        """Wait until the pipeline has delivered everything (queues drained, then the stream)."""
        wait_until_drained(self.client.aws.sqs, self.client.queue_urls, timeout=60)
        self.stack.settle()

    def run(self, count: int) -> int:
        started = time.monotonic()
        outputs = self.client.outputs
        self.step(f"The local stack, stage '{outputs['stage']}', at {outputs['endpoint_url']}")
        self.console.print(
            f"  started in {self.stack.started_in:.1f} s · GraphQL {outputs['graphql_url']} · "
            f"outbox {outputs['outbox_path']}"
        )

        self.step("Sign-up through Cognito: each user reads the code from the outbox and confirms")
        emails = [
            f"{PEOPLE[i % len(PEOPLE)]}{i // len(PEOPLE) or ''}@example.com" for i in range(count)
        ]
        subs = [self.client.sign_up(email, PASSWORD, confirm=False) for email in emails]
        self.check(
            "a wrong confirmation code is a CodeMismatchException", self._wrong_code(emails[0])
        )
        for email in emails:
            self.client.aws.cognito.confirm_sign_up(
                ClientId=self.client.client_id,
                Username=email,
                ConfirmationCode=self.client.code(email),
            )
        wait_for(lambda: len(self.client.users()) == count, what="every user's item")
        self.console.print(f"  {count} users confirmed and projected")

        self.step("Cognito retries the trigger: the same user's UserConfirmed twice more")
        for _ in range(2):
            self.client.publish_confirmation(emails[0])
        self.settle()
        self.check(
            f"exactly {count} User items, each at _version 1", self._versions() == [1] * count
        )
        audited = len(self.client.audit_records())

        self.step("A password reset (ForgotPassword, the code, ConfirmForgotPassword)")
        before = self.client.users()
        self.client.aws.cognito.forgot_password(ClientId=self.client.client_id, Username=emails[-1])
        self.client.aws.cognito.confirm_forgot_password(
            ClientId=self.client.client_id,
            Username=emails[-1],
            ConfirmationCode=self.client.code(emails[-1], outbox.FORGOT_PASSWORD),
            Password=NEW_PASSWORD,
        )
        self.settle()
        self.client.sign_in(emails[-1], NEW_PASSWORD)
        self.check(
            "the reset ran the trigger, which published nothing: no item or audit record changed",
            self.client.users() == before and len(self.client.audit_records()) == audited,
        )

        self.step("Profile edits over GraphQL (updateUser, conditional on _version)")
        owner = self.client.sign_in(emails[0], PASSWORD).access
        edit = {"id": subs[0], "name": "Ada Lovelace", "age": 36, "_version": 1}
        edited = self.client.graphql(RENAME, {"input": edit}, token=owner)
        self.check(
            "the edit moved the user to _version 2",
            (edited.data or {}).get("updateUser", {}).get("_version") == 2,
        )
        stale = self.client.graphql(RENAME, {"input": edit}, token=owner)
        self.check(
            "the same edit again (a stale _version) is ConflictUnhandled, with the server's item",
            stale.error_type == "ConflictUnhandled" and stale.errors[0]["data"]["_version"] == 2,
        )
        edits = 1 + self._more_edits(emails, subs)
        self.settle()

        self.step("Who may read whom (owner, another user, the Admin group, a forged token)")
        if count > 1:
            stranger = self.client.sign_in(emails[1], PASSWORD).access
            refused = self.client.graphql(GET_USER, {"id": subs[0]}, token=stranger)
            self.check(
                "another user cannot read the first user's profile",
                refused.error_type == "Unauthorized",
            )
        self.client.aws.cognito.admin_add_user_to_group(
            UserPoolId=self.client.pool_id, Username=emails[-1], GroupName="Admin"
        )
        admin = self.client.sign_in(emails[-1], NEW_PASSWORD).access  # a token with the group
        listed, token = [], None
        while True:
            page = self.client.graphql(LIST_USERS, {"next": token}, token=admin).data["listUsers"]
            listed += [item["id"] for item in page["items"]]
            if not (token := page["nextToken"]):
                break
        self.check("an Admin pages through every user exactly once", sorted(listed) == sorted(subs))
        forged = self.client.graphql(ME, token=_forged(owner))
        self.check(
            "a token with a forged signature is refused (401 UnauthorizedException)",
            forged.status == 401 and forged.errors[0]["errorType"] == "UnauthorizedException",
        )

        deployment = from_local(self.stack.outputs_path)
        progress = RichProgress(self.console)
        self.step("Replay every archived event to the projector (`userpipe replay --wait`)")
        before_replay, audited = self._items(), len(self.client.audit_records())
        outcome = replay.run(deployment, progress)
        self.settle()
        self.check(
            f"replay {outcome.replay.name} completed, changed no item and audited nothing",
            self._items() == before_replay
            and len(self.client.audit_records()) == audited
            and not outcome.dead_lettered,
        )

        self.step("Rebuild the User table from the archive (empty it, then `userpipe rebuild`)")
        listener = _Listener(outputs, admin)
        scan_before = self._items()
        deleted = empty_user_table(deployment)
        self.console.print(f"  deleted all {deleted} items (`userpipe local empty-user-table`)")
        self.settle()  # the deletes' own audit records and messages come before the rebuild
        heard = self._heard(listener)
        report = rebuild.run(deployment, progress)
        self.settle()
        for line in rebuild.describe(report):
            self.console.print(f"  {line}")
        self.check(
            "every item is back exactly: each attribute, _version and _lastChangedAt included",
            report.complete and self._items() == scan_before,
        )
        self.check(
            "the rebuild added no audit record, subscription message or welcome mail",
            self._heard(listener) == heard,
        )
        listener.close()

        self.step("A poison message in the projector's queue")
        self.client.aws.sqs.send_message(
            QueueUrl=outputs["projector_queue_url"], MessageBody="{oops"
        )
        wait_for(
            lambda: self.client.depth(outputs["projector_dlq_url"]) == 1,
            timeout=60,
            what="the poison message in the DLQ",
        )
        self.check("it failed alone and was moved to the DLQ", len(self.client.users()) == count)
        verdict = status.collect(deployment).verdict
        self.console.print(f"  `userpipe status`: {verdict}")
        self.check(
            "status needs attention for the dead letter (it exits 1)",
            verdict.startswith("NEEDS ATTENTION: user-projector-dlq holds 1 message(s)"),
        )

        self.settle()
        self.show_tables()
        audit = self.client.audit_records()
        self.check(
            f"one audit record per change ({count} inserts, {edits} edits, the emptying's "
            f"{count} deletes; none from the replay or the rebuild)",
            len(audit) == 2 * count + edits,
        )
        self.check(
            "no email address in plaintext in the audit trail",
            all("@" not in json.dumps(r.model_dump(mode="json")) for r in audit),
        )
        self.console.print(f"  the demo took {time.monotonic() - started:.1f} s")
        if self.failed:
            self.console.print(f"[red bold]{len(self.failed)} check(s) failed")
            return 1
        self.console.print("[green bold]Every check held.")
        for line in next_steps(userpipe_command()):
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        return 0

    # --- steps --------------------------------------------------------------------------------

    def _wrong_code(self, email: str) -> bool:
        real = self.client.code(email)
        wrong = f"{(int(real) + 1) % 1_000_000:06d}"
        try:
            self.client.aws.cognito.confirm_sign_up(
                ClientId=self.client.client_id, Username=email, ConfirmationCode=wrong
            )
        except ClientError as error:
            return error.response["Error"]["Code"] == "CodeMismatchException"
        return False

    def _versions(self) -> list[int]:
        return [user.version for user in self.client.users().values()]

    def _password(self, emails: list[str], index: int) -> str:
        return NEW_PASSWORD if index == len(emails) - 1 else PASSWORD  # the last one reset it

    def _more_edits(self, emails: list[str], subs: list[str]) -> int:
        """The first three users edit their profiles once, twice and three times more, each
        edit from the version the last answer gave; how many edits."""
        made = 0
        for index, (email, sub) in enumerate(zip(emails[:3], subs[:3], strict=True)):
            token = self.client.sign_in(email, self._password(emails, index)).access
            version = self.client.graphql(ME, token=token).data["me"]["_version"]
            for turn in range(index + 1):
                edit = {
                    "id": sub,
                    "name": f"{email.split('@')[0].title()} {turn}",
                    "_version": version,
                }
                answer = self.client.graphql(
                    RENAME, {"input": edit | {"age": 20 + turn}}, token=token
                )
                version = answer.data["updateUser"]["_version"]
                made += 1
        self.console.print(f"  {made} more edits by {min(3, len(emails))} user(s)")
        return made

    def _items(self) -> dict[str, dict[str, Any]]:
        """The User table as DynamoDB returns it: every attribute of every item."""
        table = self.client.outputs["user_table_name"]
        return {item["id"]["S"]: item for item in scan(self.client.aws.dynamodb, table)}

    def _heard(self, listener: _Listener) -> tuple[int, int, int]:
        """(audit records, subscription messages, welcome mails) so far."""
        time.sleep(0.3)  # a message the endpoint has sent may still be on the socket
        mails = sum(
            1
            for entry in outbox.read(Path(self.client.outputs["outbox_path"]))
            if entry["kind"] == outbox.EMAIL
        )
        return len(self.client.audit_records()), listener.received, mails

    def show_tables(self) -> None:
        users = Table(title="User table (what AppSync serves)")
        for column in ("id", "email", "name", "age", "_version", "createdAt"):
            users.add_column(column)
        for user in sorted(self.client.users().values(), key=lambda user: user.created_at):
            users.add_row(
                user.id[:8] + "…",
                user.email,
                user.name or "",
                str(user.age or ""),
                str(user.version),
                user.created_at,
            )
        self.console.print(users)
        audit = Table(title="Audit table (append-only; email kept as a fingerprint)")
        for column in ("user", "event", "versions", "changed fields"):
            audit.add_column(column)
        for record in self.client.audit_records():
            audit.add_row(
                record.user_id[:8] + "…",
                record.event_name,
                f"{record.old_version or '-'} → {record.new_version or '-'}",
                ", ".join(record.changed_fields),
            )
        self.console.print(audit)


class _Listener:
    """An Admin app's real-time connection to every create, update and delete (AppSync's
    protocol, as Amplify JS v6 speaks it); a thread counts the data messages it receives."""

    def __init__(self, outputs: Mapping[str, Any], token: str) -> None:
        host = str(outputs["graphql_url"]).split("/")[2]
        header = json.dumps({"Authorization": token, "host": host}).encode()
        protocol = "header-" + base64.urlsafe_b64encode(header).decode().rstrip("=")
        self._open = ExitStack()
        self.socket = self._open.enter_context(
            connect(
                str(outputs["realtime_url"]),
                subprotocols=["graphql-ws", protocol],  # type: ignore[list-item]
                ssl=ssl.create_default_context(cafile=str(outputs["ca_cert_path"])),
                open_timeout=10,
            )
        )
        self.socket.send(json.dumps({"type": "connection_init"}))
        self._expect("connection_ack")
        auth = {"Authorization": token, "host": host}
        for number, query in enumerate(EVERY_CHANGE):
            data = json.dumps({"query": query, "variables": {}})
            payload = {"data": data, "extensions": {"authorization": auth}}
            self.socket.send(json.dumps({"id": str(number), "type": "start", "payload": payload}))
            self._expect("start_ack")
        self.received = 0
        self._thread = threading.Thread(target=self._count, daemon=True)
        self._thread.start()

    def _expect(self, kind: str) -> None:
        while (message := json.loads(self.socket.recv(timeout=10)))["type"] == "ka":
            continue
        if message["type"] != kind:
            raise RuntimeError(f"the real-time endpoint answered {message['type']}, not {kind}")

    def _count(self) -> None:
        try:
            for text in self.socket:
                if json.loads(text)["type"] == "data":
                    self.received += 1
        except ConnectionClosed:
            return

    def close(self) -> None:
        self._open.close()
        self._thread.join(timeout=5)


def _forged(token: str) -> str:
    """The same token with one character of its signature changed."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
