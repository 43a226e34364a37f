"""Step 12's "done when", on the local stack through its public endpoints: the User table is a
function of the archived events.

300 users confirm; 120 of them edit their profile over GraphQL one to five times, several users
at once, some twice at once from the same version and some with a stale ``_version`` (both give
``ConflictUnhandled``). Once everything has settled, scan A is the table, attribute for
attribute. Then:

- ``userpipe local empty-user-table`` and ``userpipe rebuild --local``, as an operator types
  them, give scan A again, with no audit record, subscription message or welcome mail of their
  own; a second empty-and-rebuild gives A again;
- ``userpipe replay --wait`` of the whole archive, twice, into the live table changes nothing
  and audits nothing;
- every archived event, shuffled (several seeds) and handed to the projector as SQS batches,
  with failed records redelivered until none is left, gives A again: the order the archive is
  replayed in does not matter (EventBridge: "Events are not necessarily replayed in the exact
  same order that they were added to the archive", ``StartReplay``).

The numbers (users, edits, conflicts, seconds) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.events.models import events_backends
from websockets.exceptions import ConnectionClosed

from contracts.names import REPLAY_MARK
from contracts.topology import PROJECTION
from tests.integration.test_realtime import Socket
from tests.support import STACK_PASSWORD, sqs_event
from userpipe.aws.deployment import for_local_stack
from userpipe.aws.tables import empty_user_table, scan
from userpipe.cli import main
from userpipe.local import outbox
from userpipe.local.client import StackClient, wait_for
from userpipe.local.sandbox import ACCOUNT
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration

USERS = 300
EDITORS = 120
SEEDS = (1, 2, 3)
EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age _version _lastChangedAt }
}"""
FIELDS = "id name age _version _deleted _lastChangedAt"
SUBSCRIPTIONS = (
    f"subscription C {{ onCreateUser {{ email {FIELDS} }} }}",
    f"subscription U {{ onUpdateUser {{ {FIELDS} }} }}",
    f"subscription D {{ onDeleteUser {{ {FIELDS} }} }}",
)

Items = dict[str, dict[str, Any]]  # id -> the item as DynamoDB returns it


class Subscriber:
    """An Admin's real-time connection to every create, update and delete, counting the data
    messages it receives (a thread reads them as they come)."""

    def __init__(self, stack: LocalStack, token: str) -> None:
        self.socket = Socket(stack, token)
        for query in SUBSCRIPTIONS:
            _, ack = self.socket.start(query)
            assert ack["type"] == "start_ack", ack
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.socket.receive(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            if message["type"] == "data":
                self.received += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.socket.close()


@dataclass
class History:
    before: Items  # scan A
    editors: int
    edits: int  # accepted
    conflicts: int  # ConflictUnhandled answers
    seconds: float


@dataclass(frozen=True)
class Counts:
    audit: int
    messages: int
    mails: int


def items(client: StackClient) -> Items:
    return {
        item["id"]["S"]: item
        for item in scan(client.aws.dynamodb, client.outputs["user_table_name"])
    }


def counts(client: StackClient, subscriber: Subscriber) -> Counts:
    mails = [e for e in outbox.read(Path(client.outputs["outbox_path"])) if e["kind"] == "email"]
    audited = sum(1 for _ in scan(client.aws.dynamodb, client.outputs["audit_table_name"]))
    return Counts(audited, subscriber.received, len(mails))


def settle(stack: LocalStack) -> None:
    """Everything delivered: the queues, the streams, and whatever they published in turn."""
    stack.settle(timeout=300)
    time.sleep(0.5)  # a subscription message in flight on the socket
    stack.settle(timeout=300)


def userpipe(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = main([*args, "--outputs", str(stack.outputs_path)])
    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    return " ".join(out.split())


def _edit_values(rng: random.Random) -> dict[str, Any]:
    """A profile edit: a new name or age, or one of them cleared."""
    return {
        "name": rng.choice([None, f"Name {rng.randrange(10_000)}"]),
        "age": rng.choice([None, rng.randrange(0, 151)]),
    }


def _edits(client: StackClient, sub: str, token: str, seed: int) -> tuple[int, int]:
    """One user's 1-5 edits, each from the version the last answer gave; every fourth user
    also sends one edit twice at once from the same version, every fifth one edit with a
    stale version. (accepted, conflicts)."""
    rng = random.Random(seed)
    version, accepted, conflicts = 1, 0, 0

    def send(values: dict[str, Any], at: int) -> Any:
        return client.graphql(EDIT, {"input": {"id": sub, **values, "_version": at}}, token=token)

    for turn in range(rng.randint(1, 5)):
        if turn == 0 and seed % 4 == 0:
            with ThreadPoolExecutor(2) as pool:
                twice = [_edit_values(rng), _edit_values(rng)]
                answers = list(pool.map(send, twice, [version, version]))
        elif turn == 1 and seed % 5 == 0:
            answers = [send(_edit_values(rng), version - 1)]  # stale: one version behind
        else:
            answers = [send(_edit_values(rng), version)]
        for answer in answers:
            if answer.error_type == "ConflictUnhandled":
                conflicts += 1
                continue
            assert not answer.errors, answer.errors
            version = answer.data["updateUser"]["_version"]
            accepted += 1
    return accepted, conflicts


@pytest.fixture(scope="module")
def admin_token(client: StackClient) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    _, tokens = client.confirmed_user(email, STACK_PASSWORD, groups=("Admin",))
    return tokens.access


@pytest.fixture(scope="module")
def subscriber(stack: LocalStack, admin_token: str) -> Iterator[Subscriber]:
    listening = Subscriber(stack, admin_token)
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def history(stack: LocalStack, client: StackClient, subscriber: Subscriber) -> History:
    started = time.monotonic()
    emails = [f"exact-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(USERS - 1)]
    # One at a time: with four signing up at once, the emulator's Cognito answered a confirmation
    # late enough for botocore to retry it ("Current status is CONFIRMED").
    subs = [client.sign_up(email, STACK_PASSWORD) for email in emails]
    wait_for(lambda: set(subs) <= set(client.users()), timeout=300, what="every user's item")
    signed_up = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        tokens = list(
            pool.map(lambda email: client.sign_in(email, STACK_PASSWORD).access, emails[:EDITORS])
        )
    with ThreadPoolExecutor(6) as pool:  # several users editing at once
        editing = zip(subs[:EDITORS], tokens, range(EDITORS), strict=True)
        outcomes = list(pool.map(lambda args: _edits(client, *args), editing))
    settle(stack)
    before = items(client)
    history = History(
        before,
        EDITORS,
        sum(accepted for accepted, _ in outcomes),
        sum(conflicts for _, conflicts in outcomes),
        time.monotonic() - started,
    )
    print(
        f"\n{len(before)} users ({USERS - 1} + the Admin) confirmed in "
        f"{signed_up - started:.1f} s; "
        f"{history.editors} edited: {history.edits} edits accepted, {history.conflicts} "
        f"ConflictUnhandled; settled after {history.seconds:.1f} s"
    )
    assert len(before) == USERS
    assert history.conflicts > 0
    assert max(int(item["_version"]["N"]) for item in before.values()) >= 4
    return history


def _rebuild(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> tuple[str, float]:
    emptied = userpipe(stack, capsys, "local", "empty-user-table")
    assert f"deleted {USERS} item(s)" in emptied
    settle(stack)  # the deletes' own audit records and onDeleteUser messages come before
    return emptied, time.monotonic()


def test_a_rebuild_into_the_emptied_table_reproduces_every_item_exactly_and_announces_nothing(
    stack: LocalStack,
    client: StackClient,
    subscriber: Subscriber,
    history: History,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _rebuild(stack, capsys)
    before = counts(client, subscriber)
    started = time.monotonic()
    out = userpipe(stack, capsys, "rebuild", "--local")
    took = time.monotonic() - started
    settle(stack)
    print(f"\nuserpipe rebuild --local: {took:.1f} s for {USERS} users, {history.edits} edits")

    assert f"{USERS} item(s) for {USERS} confirmed Cognito user(s)" in out
    assert "exact reproduction" in out
    assert items(client) == history.before
    assert counts(client, subscriber) == before


def test_a_second_empty_and_rebuild_gives_the_same_table(
    stack: LocalStack, client: StackClient, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    _rebuild(stack, capsys)
    userpipe(stack, capsys, "rebuild", "--local")
    settle(stack)

    assert items(client) == history.before


def test_replaying_the_whole_archive_twice_into_the_live_table_changes_and_audits_nothing(
    stack: LocalStack,
    client: StackClient,
    subscriber: Subscriber,
    history: History,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert items(client) == history.before
    before = counts(client, subscriber)
    for _ in range(2):
        out = userpipe(stack, capsys, "replay", "--local", "--wait")
        assert "the queues are drained" in out
        settle(stack)
        assert not any(REPLAY_MARK in item for item in items(client).values())

    assert items(client) == history.before
    assert counts(client, subscriber) == before


def archived_events(client: StackClient) -> list[dict[str, Any]]:
    """Every event of the local stack's archive, as the emulator keeps it (moto runs in this
    process; EventBridge has no API that lists an archive's events)."""
    backend = events_backends[ACCOUNT][client.outputs["region"]]
    return [dict(event) for event in backend.archives[client.outputs["archive_name"]].events]


def as_queued(event: dict[str, Any]) -> dict[str, Any]:
    """An archived event as a rule delivers it to a queue: the emulator keeps ``time`` in epoch
    seconds and writes it as ISO-8601 when it sends (``moto.events.models.Rule``)."""
    moment = utcfromtimestamp(float(event["time"]))
    return {**event, "time": iso_8601_datetime_without_milliseconds(moment)}


def deliver_shuffled(stack: LocalStack, events: list[dict[str, Any]], seed: int) -> int:
    """``events`` in a shuffled order, as a replay named after ``seed`` delivers them, to the
    projector in SQS batches of its batch size; records it reports failed go back in line until
    none is left. How many deliveries it took."""
    projector = stack.sandboxes[PROJECTION.consumer.id]
    name = f"shuffle-{seed}"
    pending = [
        {**as_queued(event), "id": str(uuid.uuid4()), "replay-name": name} for event in events
    ]
    random.Random(seed).shuffle(pending)
    batch_size, deliveries = PROJECTION.source.batch_size, 0
    enough = 10 * (len(events) // batch_size + 1)  # a redelivery is needed rarely, never forever
    while pending:
        batch, pending = pending[:batch_size], pending[batch_size:]
        sqs = sqs_event(*batch)
        answer = projector.invoke(sqs)
        deliveries += 1
        assert answer.ok, answer.error
        failed = {f["itemIdentifier"] for f in (answer.result or {}).get("batchItemFailures", [])}
        pending += [
            json.loads(record["body"]) for record in sqs["Records"] if record["messageId"] in failed
        ]
        assert deliveries < enough, f"the projector never took {len(failed)} event(s)"
    return deliveries


def test_the_archive_in_any_order_gives_the_same_table(
    stack: LocalStack, client: StackClient, history: History
) -> None:
    events = archived_events(client)
    kinds = {event["detail-type"] for event in events}
    assert kinds == {"UserConfirmed", "UserProfileChanged"}, kinds
    assert items(client) == history.before
    for seed in SEEDS:
        empty_user_table(for_local_stack(client.outputs))
        settle(stack)
        deliveries = deliver_shuffled(stack, events, seed)
        settle(stack)
        print(f"\nseed {seed}: {len(events)} events in {deliveries} batches")
        assert items(client) == history.before, f"seed {seed}"
