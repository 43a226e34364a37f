"""``userpipe demo``: the whole core flow on an embedded AWS emulator, checked as it goes.

Users sign up and confirm in Cognito; the trigger publishes ``UserConfirmed``; the projector
creates each ``User`` once; the audit trail records every change. Along the way the demo does
what breaks the naive recipe — Cognito retrying the trigger, a password reset, a profile edit
followed by a replay of every event, a poison message — and checks that nothing was lost,
duplicated or overwritten. Exit status 0 means every check held.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from contracts.items import User
from contracts.names import TRIGGER_CONFIRM_FORGOT_PASSWORD
from contracts.topology import FUNCTIONS
from services.user_api.errors import ConflictUnhandled, Unauthorized
from userpipe.local.clients import Clients
from userpipe.local.pipeline import LocalPipeline, local_pipeline

PEOPLE = ["ada", "grace", "alan", "barbara", "edsger", "margaret", "donald", "frances"]
PASSWORD = "Correct-Horse-9-Battery"  # noqa: S105 - a demo user on an emulator


def run_demo(users: int = 3, *, verbose: bool = False, console: Console | None = None) -> int:
    from moto import mock_aws

    console = console or Console()
    with _quiet_functions(not verbose), mock_aws(), local_pipeline(Clients(), stage="demo") as pipe:
        return _Demo(pipe, console).run(users)


@contextmanager
def _quiet_functions(quiet: bool) -> Iterator[None]:
    """Hide the functions' JSON logs below ERROR (``--verbose`` shows them)."""
    loggers = [logging.getLogger(spec.package.rsplit(".", 1)[-1]) for spec in FUNCTIONS]
    levels = [logger.level for logger in loggers]
    if quiet:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class _Demo:
    def __init__(self, pipe: LocalPipeline, console: Console) -> None:
        self.pipe, self.console = pipe, console
        self.failed: list[str] = []

    def check(self, claim: str, holds: bool) -> None:
        self.console.print(f"  [{'green' if holds else 'red'}]{'✓' if holds else '✗'}[/] {claim}")
        if not holds:
            self.failed.append(claim)

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def run(self, count: int) -> int:
        names = self.pipe.resources.names
        self.step(f"Stage '{names.stage}' on an in-process AWS emulator (moto)")
        self.console.print(
            f"  bus {names.event_bus} → rule → queue {names.projector_queue} → projector → "
            f"table {names.user_table} → stream → audit → {names.audit_table}"
        )

        self.step("Sign-up: users confirm their email; Cognito calls the trigger")
        emails = [
            f"{PEOPLE[i % len(PEOPLE)]}{i // len(PEOPLE) or ''}@example.com" for i in range(count)
        ]
        usernames = [self.pipe.sign_up(email, PASSWORD) for email in emails]
        self.console.print(f"  {count} users confirmed")

        self.step("Cognito retries the trigger (it may call it 3 times) and a password reset")
        self.pipe.run_trigger(usernames[0])
        self.pipe.run_trigger(usernames[0])
        settled = self.pipe.settle()
        self.console.print(
            f"  {settled.messages} UserConfirmed delivered, {settled.stream_records} stream records"
        )
        self.check(
            "three events for the first user, one for each other", settled.messages == count + 2
        )
        self.check(
            f"exactly {count} User items, each at _version 1", self.versions() == [1] * count
        )
        event = self.pipe.run_trigger(usernames[-1], TRIGGER_CONFIRM_FORGOT_PASSWORD)
        settled = self.pipe.settle()
        self.check(
            "a password reset publishes nothing and hands Cognito its event back",
            settled.messages == 0 and event["triggerSource"] == TRIGGER_CONFIRM_FORGOT_PASSWORD,
        )

        self.step("A profile edit through the API (updateUser, conditional on _version)")
        owner = self.pipe.identity_of(usernames[0])
        update = {"id": usernames[0], "name": "Ada Lovelace", "age": 36, "expectedVersion": 1}
        edited_item = self.pipe.graphql("Mutation", "updateUser", {"input": update}, owner)
        edited = User.model_validate(edited_item)
        self.pipe.settle()
        self.check("the edit moved the user to _version 2", edited.version == 2)
        try:
            self.pipe.graphql("Mutation", "updateUser", {"input": update}, owner)
            stale_refused = False
        except ConflictUnhandled:
            stale_refused = True
        self.check("the same edit again (a stale _version) is a ConflictUnhandled", stale_refused)

        self.step("Who may read whom (owner, another user, the Admin group)")
        if count > 1:
            stranger = self.pipe.identity_of(usernames[1])
            try:
                self.pipe.graphql("Query", "getUser", {"id": usernames[0]}, stranger)
                refused = False
            except Unauthorized:
                refused = True
            self.check("another user cannot read the first user's profile", refused)
        self.pipe.clients.cognito.admin_add_user_to_group(
            UserPoolId=self.pipe.resources.user_pool_id, Username=usernames[-1], GroupName="Admin"
        )
        admin = self.pipe.identity_of(usernames[-1])
        listed, token = [], None
        while True:
            page = self.pipe.graphql("Query", "listUsers", {"limit": 2, "nextToken": token}, admin)
            listed += [item["id"] for item in page["items"]]
            if not (token := page["nextToken"]):
                break
        self.check(
            "an Admin pages through every user exactly once", sorted(listed) == sorted(usernames)
        )

        self.step("Replay every archived UserConfirmed to the projector")
        replayed = self.pipe.replay(f"demo-{datetime.now(UTC):%H%M%S}")
        settled = self.pipe.settle()
        after = {user.id: user for user in self.users()}
        self.console.print(f"  {replayed} events replayed, {settled.messages} delivered")
        self.check(
            "the replay changed nothing", after[usernames[0]] == edited and len(after) == count
        )

        self.step("A poison message in the projector's queue")
        sqs = self.pipe.clients.sqs
        sqs.send_message(QueueUrl=self.pipe.resources.projector_queue.url, MessageBody="{oops")
        self.pipe.settle()
        dlq = sqs.get_queue_attributes(
            QueueUrl=self.pipe.resources.projector_dlq.url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]["ApproximateNumberOfMessages"]
        self.check(
            "it failed alone and was moved to the DLQ", dlq == "1" and len(self.users()) == count
        )

        self.show_tables()
        audit = self.pipe.audit_records()
        self.check("one audit record per change (inserts + 1 edit)", len(audit) == count + 1)
        self.check(
            "no email address in plaintext in the audit trail",
            all("@" not in json.dumps(r.model_dump(mode="json")) for r in audit),
        )
        if self.failed:
            self.console.print(f"[red bold]{len(self.failed)} check(s) failed")
            return 1
        self.console.print("[green bold]Every check held.")
        return 0

    def versions(self) -> list[int]:
        return [user.version for user in self.users()]

    def users(self) -> list[User]:
        return sorted(self.pipe.users().values(), key=lambda user: user.created_at)

    def show_tables(self) -> None:
        users = Table(title="User table (what AppSync serves)")
        for column in ("id", "email", "name", "age", "_version", "createdAt"):
            users.add_column(column)
        for user in self.users():
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
        for record in self.pipe.audit_records():
            audit.add_row(
                record.user_id[:8] + "…",
                record.event_name,
                f"{record.old_version or '-'} → {record.new_version}",
                ", ".join(record.changed_fields),
            )
        self.console.print(audit)
