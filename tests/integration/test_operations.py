"""The operator commands against the local stack, through the command line as an operator
types them: rebuild, reconcile, replay windows, redrive of each kind of dead letter, status.

Each test gets a stack of its own (its counts and queues are the test's alone)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.names import ORIGIN_COGNITO, TRIGGER_CONFIRM_SIGN_UP
from contracts.topology import AUDIT_TABLE, ResourceNames
from contracts.user_confirmed import from_cognito_user, put_events_entry
from contracts.user_model import User
from userpipe.aws.queues import wait_until_drained
from userpipe.aws.tables import scan
from userpipe.cli import main
from userpipe.local import outbox
from userpipe.local.client import StackClient, wait_for
from userpipe.local.provision import create_table
from userpipe.local.stack import DEFAULT_SETTINGS, LocalStack, LocalStackOptions

PASSWORD = "Correct-Horse-9-Battery!"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(LocalStackOptions(state_dir=tmp_path, stage="ops")) as running:
        yield running


@pytest.fixture
def client(stack: LocalStack) -> StackClient:
    return StackClient(stack.outputs())


def userpipe(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``userpipe <args> --outputs <the stack's>``: exit status, stdout, stderr."""
    capsys.readouterr()
    code = main([*args, "--outputs", str(stack.outputs_path)])
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


def sign_up(client: StackClient, count: int, prefix: str = "person") -> list[str]:
    subs = [client.sign_up(f"{prefix}{i}@example.com", PASSWORD) for i in range(count)]
    wait_for(lambda: set(subs) <= set(client.users()), what="the users' items")
    return subs


def confirmed_without_trigger(client: StackClient, emails: list[str]) -> list[str]:
    """Users an administrator created and confirmed (AdminCreateUser, then a permanent
    password): Cognito runs no post-confirmation trigger for them — users who predate userpipe.
    (Reported in aws-amplify/amplify-cli#13127 and amazon-cognito-identity-js#656: an
    admin-created user who becomes CONFIRMED never fires PostConfirmation.)"""
    subs = []
    for email in emails:
        user = client.aws.cognito.admin_create_user(
            UserPoolId=client.pool_id,
            Username=email,
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )["User"]
        client.aws.cognito.admin_set_user_password(
            UserPoolId=client.pool_id, Username=email, Password=PASSWORD, Permanent=True
        )
        subs.append(user["Username"])
    return subs


EDIT = """mutation Edit($input: UpdateUserInput!) {
  updateUser(input: $input) { id name age _version }
}"""


def items(client: StackClient) -> dict[str, dict[str, Any]]:
    """The User table as DynamoDB returns it: every attribute of every item."""
    table = client.outputs["user_table_name"]
    return {item["id"]["S"]: item for item in scan(client.aws.dynamodb, table)}


def archived_count(client: StackClient) -> int:
    archive = client.aws.events.describe_archive(ArchiveName=client.outputs["archive_name"])
    return int(archive["EventCount"])


def depth(client: StackClient, key: str) -> int:
    return client.depth(client.outputs[key])


# --- rebuild --------------------------------------------------------------------------------------


def test_rebuild_into_an_emptied_table_brings_back_every_item_as_it_was_edits_included(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = sign_up(client, 6)
    token = client.sign_in("person0@example.com", PASSWORD).access
    for version, name in enumerate(("Ada", "Ada L."), start=1):  # two edits through the API
        edit = {"id": subs[0], "name": name, "age": 36, "_version": version}
        answer = client.graphql(EDIT, {"input": edit}, token=token)
        assert not answer.errors, answer.errors
    stack.settle()
    before = items(client)
    assert before[subs[0]]["_version"] == {"N": "3"}

    code, _, err = userpipe(stack, capsys, "rebuild", "--local")
    assert code == 2 and "holds items" in err and "userpipe local empty-user-table" in err

    code, out, _ = userpipe(stack, capsys, "local", "empty-user-table")
    assert code == 0 and "deleted 6 item(s)" in out and client.users() == {}

    code, out, _ = userpipe(stack, capsys, "rebuild", "--local")
    assert code == 0, out
    assert "6 item(s) for 6 confirmed Cognito user(s)" in out
    assert "exact reproduction" in out and "not events" not in out
    assert items(client) == before  # every attribute, _version and _lastChangedAt included


def test_rebuild_reports_confirmed_users_the_archive_never_saw(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(client, 2)
    (older,) = confirmed_without_trigger(client, ["before-userpipe@example.com"])
    userpipe(stack, capsys, "local", "empty-user-table")

    code, out, _ = userpipe(stack, capsys, "rebuild", "--local")

    assert code == 1
    assert "2 item(s) for 3 confirmed Cognito user(s)" in out
    assert "1 confirmed user(s) have no item" in out and older in out
    assert "`userpipe reconcile` creates them" in out


# --- reconcile ------------------------------------------------------------------------------------


def test_reconcile_publishes_exactly_the_missing_users_once(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    first = confirmed_without_trigger(client, [f"early{i}@example.com" for i in range(150)])
    code, out, _ = userpipe(stack, capsys, "reconcile", "--local", "--json")
    assert code == 0 and json.loads(out)["repaired"]["missing"] == 150
    wait_for(lambda: set(first) <= set(client.users()), what="the first 150 items")
    later = confirmed_without_trigger(client, [f"late{i}@example.com" for i in range(100)])
    archived = archived_count(client)

    code, out, _ = userpipe(stack, capsys, "reconcile", "--local", "--dry-run", "--json")
    dry = json.loads(out)
    assert code == 0
    assert (dry["scanned"], dry["drift"]["missing"], dry["repaired"]["missing"]) == (250, 100, 0)
    assert len(dry["examples"]["missing"]) == 10 and set(dry["examples"]["missing"]) <= set(later)
    assert archived_count(client) == archived  # nothing was published

    code, out, _ = userpipe(stack, capsys, "reconcile", "--local", "--json")
    summary = json.loads(out)
    assert code == 0
    assert (summary["scanned"], summary["drift"]["missing"], summary["repaired"]["missing"]) == (
        250,
        100,
        100,
    )
    assert summary["failed"]["missing"] == 0
    assert summary["drift"] | {"missing": 0} == dict.fromkeys(summary["drift"], 0)
    assert archived_count(client) == archived + 100
    wait_for(lambda: len(client.users()) == 250, what="250 items")
    users = client.users()
    assert all(users[sub].version == 1 for sub in later)

    code, out, _ = userpipe(stack, capsys, "reconcile", "--local", "--json")
    assert code == 0 and json.loads(out)["drift"]["missing"] == 0
    assert archived_count(client) == archived + 100
    code, out, _ = userpipe(stack, capsys, "status", "--local", "--json")
    assert json.loads(out)["reconcile"]["drift"]["missing"] == 0  # the last run's counts


def test_reconcile_reports_a_deleted_users_item_and_tombstones_it_only_with_apply(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    (sub,) = sign_up(client, 1)
    gone = "0" * 8 + sub[8:]
    orphan = User.model_validate(
        {
            **client.users()[sub].model_dump(by_alias=True),
            "id": gone,
            "owner": gone,
            "createdAt": "2026-01-05T08:30:17.000Z",  # long before the run
        }
    )
    client.aws.dynamodb.put_item(  # an item whose Cognito user is gone
        TableName=client.outputs["user_table_name"], Item=orphan.to_item()
    )

    code, out, _ = userpipe(stack, capsys, "reconcile", "--local")
    assert code == 0
    assert "deleted: 1 item(s) whose user Cognito no longer has" in out and orphan.id in out
    assert "@" not in out  # ids, never emails
    assert orphan.id in client.users()

    code, out, _ = userpipe(stack, capsys, "reconcile", "--local", "--apply", "--json")
    assert code == 0 and json.loads(out)["repaired"]["deleted"] == 1
    item = client.aws.dynamodb.get_item(
        TableName=client.outputs["user_table_name"], Key={"id": {"S": gone}}
    )["Item"]
    assert item["_deleted"] == {"BOOL": True} and "email" not in item


# --- replay ---------------------------------------------------------------------------------------


def test_a_replay_window_delivers_what_eventbridge_would_for_it(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events stamped three, two and one hour ago; a window around the middle one replays it
    alone (moto itself would replay the whole archive)."""
    emails = ["three@example.com", "two@example.com", "one@example.com"]
    subs = confirmed_without_trigger(client, emails)
    now = datetime.now(UTC)
    for hours, email in zip((3, 2, 1), emails, strict=True):
        publish_at(client, email, now - timedelta(hours=hours))
    wait_for(lambda: len(client.users()) == 3, what="three items")
    userpipe(stack, capsys, "local", "empty-user-table")

    window = (
        "--from",
        _iso(now - timedelta(minutes=150)),
        "--to",
        _iso(now - timedelta(minutes=90)),
    )
    code, out, _ = userpipe(stack, capsys, "replay", "--local", *window, "--wait")

    assert code == 0 and "completed; the queues are drained" in out
    assert set(client.users()) == {subs[1]}
    replay = client.aws.events.list_replays()["Replays"][-1]
    described = client.aws.events.describe_replay(ReplayName=replay["ReplayName"])
    assert described["State"] == "COMPLETED"
    assert described["Destination"]["FilterArns"] == [client.outputs["projector_rule_arn"]]
    assert described["EventLastReplayedTime"] <= described["EventEndTime"]


def test_a_replay_to_every_consumer_says_so_and_reaches_them_all(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(client, 2)
    wait_until_drained(client.aws.sqs, client.queue_urls, timeout=30)
    code, _, err = userpipe(stack, capsys, "replay", "--local", "--all-consumers", "--wait")
    assert code == 0, err
    assert "Every subscriber receives these events again: UserProjector, WelcomeNotifier" in err
    replay = client.aws.events.list_replays()["Replays"][-1]
    described = client.aws.events.describe_replay(ReplayName=replay["ReplayName"])
    assert "FilterArns" not in described["Destination"]


def test_bad_windows_are_refused_with_the_reason(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = userpipe(stack, capsys, "replay", "--local", "--from", "2026-01-01T10:00")
    assert code == 2 and "has no time zone" in err
    code, _, err = userpipe(stack, capsys, "replay", "--local", "--to", "2999-01-01")
    assert code == 2 and "is in the future" in err
    code, _, err = userpipe(stack, capsys, "replay", "--local", "--from", "yesterday")
    assert code == 2 and "is not an ISO-8601 time" in err


# --- redrive and status ---------------------------------------------------------------------------


def test_a_poison_event_is_dead_lettered_then_redriven_once_fixed(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's id is taken by an item of another user pool (a bad import, say): the
    projector refuses the event until an operator removes that item."""
    email = "blocked@example.com"
    sub = client.sign_up(email, PASSWORD, confirm=False)
    squatter = User(
        id=sub,
        userPoolId="eu-west-1_Other0000",
        email="someone-else@example.com",
        owner=sub,
        createdAt="2025-01-01T00:00:00.000Z",
        updatedAt="2025-01-01T00:00:00.000Z",
        _version=1,
        _lastChangedAt=0,
    )
    table = client.outputs["user_table_name"]
    client.aws.dynamodb.put_item(TableName=table, Item=squatter.to_item())
    client.aws.cognito.confirm_sign_up(
        ClientId=client.client_id, Username=email, ConfirmationCode=client.code(email)
    )
    wait_for(lambda: depth(client, "projector_dlq_url") == 1, timeout=60, what="the DLQ")

    code, out, _ = userpipe(stack, capsys, "status", "--local")
    assert code == 1
    assert "NEEDS ATTENTION: user-projector-dlq holds 1 message(s)" in out

    code, out, _ = userpipe(stack, capsys, "redrive", "--local", "--queue", "user-projector-dlq")
    assert code == 0 and "user-projector-dlq: 1 redriven" in out  # not fixed: back in the DLQ
    wait_for(lambda: depth(client, "projector_dlq_url") == 1, timeout=60, what="the DLQ again")

    client.aws.dynamodb.delete_item(TableName=table, Key={"id": {"S": sub}})  # the fix
    code, out, _ = userpipe(stack, capsys, "redrive", "--local")
    assert code == 0 and "user-projector-dlq: 1 redriven" in out
    wait_for(lambda: sub in client.users(), timeout=30, what="the user's item")
    assert client.users()[sub].email == email
    wait_until_drained(client.aws.sqs, client.queue_urls, timeout=30)

    code, out, _ = userpipe(stack, capsys, "status", "--local")
    assert code == 0 and out.endswith("OK")


def test_why_each_message_was_dead_lettered_is_shown_and_looking_moves_nothing(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three ways into a DLQ, each with what it records: the projector failed an event (SQS
    moves it and records no reason: its log says), EventBridge could not deliver one (its error
    attributes), the audit trail failed a stream record (Lambda's on-failure record)."""
    blocked = "blocked@example.com"
    sub = client.sign_up(blocked, PASSWORD, confirm=False)
    squatter = User(id=sub, userPoolId="eu-west-1_Other0000", email="someone-else@example.com",
                    owner=sub, createdAt="2025-01-01T00:00:00.000Z",
                    updatedAt="2025-01-01T00:00:00.000Z", _version=1, _lastChangedAt=0)  # fmt: skip
    client.aws.dynamodb.put_item(TableName=client.outputs["user_table_name"],
                                 Item=squatter.to_item())  # fmt: skip
    client.aws.sqs.delete_queue(QueueUrl=client.outputs["welcome_notifier_queue_url"])
    client.aws.dynamodb.delete_table(TableName=client.outputs["audit_table_name"])
    client.aws.cognito.confirm_sign_up(
        ClientId=client.client_id, Username=blocked, ConfirmationCode=client.code(blocked)
    )
    sign_up(client, 1, prefix="unaudited")
    for key in ("projector_dlq_url", "welcome_notifier_dlq_url", "audit_dlq_url"):
        wait_for(lambda key=key: depth(client, key) >= 1, timeout=60, what=key)  # type: ignore[misc]
    held = {key: depth(client, key) for key in
            ("projector_dlq_url", "welcome_notifier_dlq_url", "audit_dlq_url")}  # fmt: skip
    logs = client.outputs["logs_dir"]
    projector = (
        "userpipe-ops-user-projector failed it 5 times (SQS then moves it here and records no "
        f"reason): see its log, {logs}/userpipe-ops-user-projector.log"
    )
    undelivered = (
        "EventBridge could not deliver it to userpipe-ops-welcome-notifier: "
        "SQS.NonExistentQueue: the target queue"
    )
    audit = "userpipe-ops-audit-trail failed records"

    code, out, _ = userpipe(stack, capsys, "status", "--local")
    assert code == 1
    assert projector in out and undelivered in out and audit in out
    assert "(RetryAttemptsExhausted" in out

    code, out, _ = userpipe(stack, capsys, "redrive", "--local", "--show")
    assert code == 1
    assert "user-projector-dlq: 1 message(s)" in out and projector in out
    assert undelivered in out and audit in out
    code, out, _ = userpipe(stack, capsys, "redrive", "--local", "--show", "--queue",
                            "welcome-notifier-dlq")  # fmt: skip
    assert undelivered in out and projector not in out
    assert held == {key: depth(client, key) for key in held}  # looked at, not moved
    found = json.loads(userpipe(stack, capsys, "status", "--local", "--json")[1])
    (projector_dlq,) = [q for q in found["queues"] if q["name"].endswith("user-projector-dlq")]
    assert projector_dlq["reasons"] == [projector]


def test_audit_records_dead_lettered_from_the_stream_are_read_again_and_recorded(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit table is gone for a while (deleted by mistake): the audit function fails the
    stream records, Lambda sends their coordinates to the on-failure queue; once the table is
    back, redrive reads the records again and the audit trail has them."""
    audit_table = client.outputs["audit_table_name"]
    client.aws.dynamodb.delete_table(TableName=audit_table)
    (sub,) = sign_up(client, 1, prefix="unaudited")
    wait_for(lambda: depth(client, "audit_dlq_url") == 1, timeout=60, what="the audit DLQ")

    code, out, _ = userpipe(stack, capsys, "status", "--json", "--local")
    status = json.loads(out)
    assert code == 1 and not status["ok"]
    assert "audit-trail-dlq holds 1 message(s)" in status["verdict"]
    assert f"table {audit_table} does not exist" in status["verdict"]

    code, out, _ = userpipe(stack, capsys, "redrive", "--local", "--queue", "audit-trail-dlq")
    assert code == 1 and "audit-trail-dlq: 0 redriven, 1 kept" in out  # still failing: kept
    assert "userpipe-ops-audit-trail failed 1 of records" in out

    create_table(client.aws, ResourceNames("ops"), AUDIT_TABLE)  # the fix
    code, out, _ = userpipe(stack, capsys, "redrive", "--local", "--queue", "audit-trail-dlq")
    assert code == 0 and "audit-trail-dlq: 1 redriven" in out
    assert [r.user_id for r in client.audit_records()] == [sub]
    assert depth(client, "audit_dlq_url") == 0


def test_status_counts_what_the_stack_holds(
    stack: LocalStack, client: StackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(client, 3)
    stack.settle()
    code, out, _ = userpipe(stack, capsys, "status", "--local", "--json")
    found: dict[str, Any] = json.loads(out)
    assert code == 0 and found["verdict"] == "OK"
    assert found["counts_exact"] is True
    assert found["tables"] == {
        client.outputs["user_table_name"]: 3,
        client.outputs["audit_table_name"]: 3,
    }
    assert found["cognito_users"] == 3
    assert found["archive"]["events"] == 3 and found["archive"]["state"] == "ENABLED"
    assert found["alarms"] is None
    assert {q["role"] for q in found["queues"]} == {"queue", "dlq"}


def test_a_stack_without_the_welcome_notifier_is_operated_like_any_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``local up --welcome-notifier off``: sign-ups are projected and nobody is welcomed;
    status, redrive and a replay to every consumer cover the subscriptions it has."""
    settings = {**DEFAULT_SETTINGS, "welcomeNotifier": "off"}
    with LocalStack(LocalStackOptions(state_dir=tmp_path, stage="ops", settings=settings)) as stack:
        client = StackClient(stack.outputs())
        sign_up(client, 2)
        stack.settle()
        assert not [e for e in outbox.read(stack.outbox.path) if e["kind"] == "email"]
        code, out, _ = userpipe(stack, capsys, "status", "--local", "--json")
        found: dict[str, Any] = json.loads(out)
        assert code == 0 and found["verdict"] == "OK"
        assert found["left_out"] == ["WelcomeNotifier"]
        assert [q["name"] for q in found["queues"]] == [
            "userpipe-ops-user-projector",
            "userpipe-ops-user-sync",
            "userpipe-ops-user-projector-dlq",
            "userpipe-ops-user-sync-dlq",
            "userpipe-ops-audit-trail-dlq",
            "userpipe-ops-change-publisher-dlq",
            "userpipe-ops-reconcile-dlq",
        ]
        code, out, _ = userpipe(stack, capsys, "redrive", "--local")
        assert code == 0 and "welcome" not in out and "user-projector-dlq: empty" in out
        code, out, err = userpipe(stack, capsys, "replay", "--local", "--all-consumers", "--wait")
        assert code == 0, err
        assert "Every subscriber receives these events again: UserProjector (each" in err


# --- helpers --------------------------------------------------------------------------------------


def publish_at(client: StackClient, email: str, moment: datetime) -> None:
    user = client.aws.cognito.admin_get_user(UserPoolId=client.pool_id, Username=email)
    detail = from_cognito_user(
        user_pool_id=client.pool_id,
        attributes={a["Name"]: a["Value"] for a in user["UserAttributes"]},
        confirmed_at=moment,
        origin=ORIGIN_COGNITO,
        client_id=client.client_id,
        trigger_source=TRIGGER_CONFIRM_SIGN_UP,
    )
    entry: Any = {**put_events_entry(detail, client.outputs["event_bus_name"]), "Time": moment}
    assert client.aws.events.put_events(Entries=[entry])["FailedEntryCount"] == 0


def _visible(client: StackClient, key: str) -> bool:
    attributes = client.aws.sqs.get_queue_attributes(
        QueueUrl=client.outputs[key], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) > 0


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
