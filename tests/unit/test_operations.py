"""The operator commands' logic with fakes: replay windows and the 10-minute rule, following a
replay to each end state, Ctrl-C, a Deployment from CloudFormation outputs or the local file,
re-reading stream records, and moving messages without ever deleting one not re-delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from contracts.names import REPLAY_MARK
from userpipe.aws.deployment import Deployment, DeploymentNotFoundError, from_local, from_stack
from userpipe.cli.operations import deployment_from
from userpipe.errors import OperatorError
from userpipe.ops import rebuild, redrive, replay
from userpipe.ops.progress import Recorded
from userpipe.ops.redrive import RecordsGoneError, Result, move_messages, read_batch
from userpipe.ops.replay import (
    ReplayFailedError,
    ReplayInterruptedError,
    ReplayRefusedError,
    parse_time,
    window,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 1, 5, 8, 30, 17, tzinfo=UTC)
TEN_MINUTES = timedelta(minutes=10)
OUTPUTS = {
    "stage": "prod",
    "event_bus_name": "userpipe-prod-users",
    "event_bus_arn": "arn:aws:events:eu-west-1:123456789012:event-bus/userpipe-prod-users",
    "archive_name": "userpipe-prod-users-archive",
    "projector_rule_arn": "arn:aws:events:eu-west-1:123456789012:rule/userpipe-prod-users/p",
}


def deployment(local: bool = False, **clients: Any) -> Deployment:
    return Deployment("stack userpipe-prod", OUTPUTS, SimpleNamespace(**clients), local)  # type: ignore[arg-type]


# --- the window and the 10-minute rule -----------------------------------------------------------


def test_the_window_defaults_to_the_archive_start_and_ten_minutes_ago_on_aws() -> None:
    chosen = window(start=None, end=None, archive_created=CREATED, now=NOW, lag=TEN_MINUTES)
    assert chosen.start == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    assert chosen.end == NOW - TEN_MINUTES


def test_a_window_ending_within_ten_minutes_is_refused_on_aws_with_the_reason() -> None:
    with pytest.raises(ReplayRefusedError, match="ends less than 10 minutes ago") as refused:
        window(start=None, end=NOW - timedelta(minutes=9), archive_created=CREATED, now=NOW,
               lag=TEN_MINUTES)  # fmt: skip
    assert "We recommend you delay replaying archived events for 10 minutes" in str(refused.value)
    assert "--force" in str(refused.value)


def test_force_allows_a_window_up_to_now_and_the_local_stack_has_no_lag() -> None:
    forced = window(start=None, end=NOW, archive_created=CREATED, now=NOW, lag=TEN_MINUTES,
                    force=True)  # fmt: skip
    assert forced.end == NOW
    local = window(start=None, end=None, archive_created=CREATED, now=NOW, lag=timedelta(0))
    assert local.end == NOW
    exactly_ten = window(start=None, end=NOW - TEN_MINUTES, archive_created=CREATED, now=NOW,
                         lag=TEN_MINUTES)  # fmt: skip
    assert exactly_ten.end == NOW - TEN_MINUTES


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (None, NOW + timedelta(seconds=1), "is in the future"),
        (NOW - timedelta(hours=1), NOW - timedelta(hours=2), "the window is empty"),
        (NOW - timedelta(hours=1), NOW - timedelta(hours=1), "the window is empty"),
    ],
)
def test_impossible_windows_are_refused(
    start: datetime | None, end: datetime, message: str
) -> None:
    with pytest.raises(ReplayRefusedError, match=message):
        window(start=start, end=end, archive_created=CREATED, now=NOW, lag=timedelta(0))


def test_times_need_a_zone_and_a_date_alone_is_midnight_utc() -> None:
    assert parse_time("2026-11-28T09:30:00Z", "--from") == datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert parse_time("2026-11-28T10:30:00+01:00", "--from") == datetime(
        2026, 11, 28, 9, 30, tzinfo=UTC
    )
    assert parse_time("2026-11-28", "--to") == datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(ReplayRefusedError, match="no time zone"):
        parse_time("2026-11-28T09:30:00", "--from")
    with pytest.raises(ReplayRefusedError, match="not an ISO-8601 time"):
        parse_time("last tuesday", "--from")


# --- starting and following a replay --------------------------------------------------------------


class FakeEvents:
    class exceptions:  # noqa: N801 - as boto3 names it
        class LimitExceededException(Exception):  # noqa: N818
            response: ClassVar = {"Error": {"Message": "Too many replays"}}

    def __init__(self, states: list[dict[str, Any] | BaseException] | None = None) -> None:
        self.states = iter(states or [])
        self.started: list[dict[str, Any]] = []
        self.refuse = False

    def describe_archive(self, ArchiveName: str) -> dict[str, Any]:  # noqa: N803
        return {"ArchiveArn": f"arn:archive/{ArchiveName}", "CreationTime": CREATED}

    def start_replay(self, **request: Any) -> dict[str, Any]:
        if self.refuse:
            raise self.exceptions.LimitExceededException()
        self.started.append(request)
        return {"State": "STARTING"}

    def describe_replay(self, ReplayName: str) -> dict[str, Any]:  # noqa: N803
        state = next(self.states)
        if isinstance(state, BaseException):
            raise state
        return state


def started(events: FakeEvents, **options: Any) -> replay.Replay:
    return replay.start(deployment(events=events), now=lambda: NOW, **options)


def test_a_replay_goes_to_the_projectors_rule_only_unless_all_consumers() -> None:
    events = FakeEvents()
    chosen = started(events)
    (request,) = events.started
    assert request["Destination"] == {
        "Arn": OUTPUTS["event_bus_arn"],
        "FilterArns": [OUTPUTS["projector_rule_arn"]],
    }
    assert request["EventSourceArn"] == f"arn:archive/{OUTPUTS['archive_name']}"
    assert (request["EventStartTime"], request["EventEndTime"]) == (
        chosen.window.start,
        NOW - TEN_MINUTES,
    )
    assert chosen.name == "userpipe-prod-replay-20261128T120000000Z"
    assert len(chosen.name) <= 64

    everyone = FakeEvents()
    started(everyone, all_consumers=True)
    assert "FilterArns" not in everyone.started[0]["Destination"]


def test_eventbridges_replay_limit_is_one_clear_line() -> None:
    events = FakeEvents()
    events.refuse = True
    with pytest.raises(ReplayRefusedError, match=r"Too many replays.*at most 10 replays"):
        started(events)


def follow(states: list[dict[str, Any] | BaseException]) -> tuple[dict[str, Any], Recorded]:
    events = FakeEvents(states)
    chosen = started(events, force=True)
    progress = Recorded()
    described = replay.follow(deployment(events=events), chosen, progress, sleep=lambda _: None)
    return described, progress


def test_following_a_replay_reports_progress_until_it_completes() -> None:
    halfway = CREATED + (NOW - CREATED) / 2
    described, progress = follow(
        [
            {"State": "STARTING"},
            {"State": "RUNNING", "EventLastReplayedTime": halfway},
            {"State": "COMPLETED", "EventLastReplayedTime": halfway},
        ]
    )
    assert described["State"] == "COMPLETED"
    ((completed, total),) = progress.bars.values()
    assert (completed, total) == (100, 100)


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_a_replay_that_fails_or_is_cancelled_is_an_error_with_exit_status_one(state: str) -> None:
    with pytest.raises(ReplayFailedError, match=f"ended {state}: the reason") as ended:
        follow([{"State": "RUNNING"}, {"State": state, "StateReason": "the reason"}])
    assert ended.value.exit_code == 1


def test_ctrl_c_while_following_names_the_replay_and_how_to_cancel_it() -> None:
    with pytest.raises(ReplayInterruptedError) as interrupted:
        follow([{"State": "RUNNING"}, KeyboardInterrupt()])
    message = str(interrupted.value)
    name = interrupted.value.replay_name
    assert f"replay {name} continues in EventBridge" in message
    assert f"aws events cancel-replay --replay-name {name}" in message


# --- the deployment -------------------------------------------------------------------------------


class FakeCloudFormation:
    class exceptions:  # noqa: N801
        ClientError = ClientError

    def __init__(self, stacks: dict[str, list[dict[str, str]]]) -> None:
        self.stacks = stacks

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803
        if StackName not in self.stacks:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {"Stacks": [{"StackName": StackName, "Outputs": self.stacks[StackName]}]}


def fake_clients(stacks: dict[str, list[dict[str, str]]]) -> Any:
    def make(*, region: str | None, profile: str | None) -> Any:
        return SimpleNamespace(
            region=region or "eu-central-1", cloudformation=FakeCloudFormation(stacks)
        )

    return make


def test_a_deployment_reads_the_stacks_outputs_under_their_local_names() -> None:
    outputs = [
        {"OutputKey": "EventBusName", "OutputValue": "userpipe-prod-users"},
        {"OutputKey": "ProjectorDlqUrl", "OutputValue": "https://sqs/dlq"},
        {"OutputKey": "AlarmTopicArn", "OutputValue": "arn:sns:alarms"},
        {"OutputKey": "Stage", "OutputValue": "prod"},
    ]
    found = from_stack("userpipe-prod", clients=fake_clients({"userpipe-prod": outputs}))
    assert found.name == "stack userpipe-prod" and not found.local
    assert found.output("projector_dlq_url") == "https://sqs/dlq"
    assert found.outputs["alarm_topic_arn"] == "arn:sns:alarms"
    assert found.outputs["region"] == "eu-central-1"
    assert found.stage == "prod"
    assert found.archive_lag == TEN_MINUTES and found.settle_seconds == 60


def test_a_stage_with_a_dash_names_its_queues_and_replays() -> None:
    """``pr-42``: the stage comes from the Stack's ``Stage`` output, so the full DLQ name and
    the replay names carry all of it."""
    from userpipe.ops.redrive import choose

    outputs = [
        {"OutputKey": "EventBusName", "OutputValue": "userpipe-pr-42-users"},
        {"OutputKey": "Stage", "OutputValue": "pr-42"},
    ]
    found = from_stack("userpipe-pr-42", clients=fake_clients({"userpipe-pr-42": outputs}))
    assert found.stage == "pr-42"
    (chosen,) = choose("userpipe-pr-42-user-projector-dlq", found)
    assert chosen.name == "user-projector-dlq"
    assert replay.replay_name(found, "replay", NOW) == "userpipe-pr-42-replay-20261128T120000000Z"


def test_a_stack_without_the_stage_output_is_told_to_deploy_rather_than_guessed() -> None:
    outputs = [{"OutputKey": "EventBusName", "OutputValue": "userpipe-pr-42-users"}]
    found = from_stack("userpipe-pr-42", clients=fake_clients({"userpipe-pr-42": outputs}))
    with pytest.raises(OperatorError, match="has no output 'stage': deploy the current version"):
        _ = found.stage


def test_a_missing_stack_or_output_says_what_was_looked_for() -> None:
    with pytest.raises(DeploymentNotFoundError) as missing:
        from_stack("nope", region="eu-west-1", profile="ops", clients=fake_clients({}))
    assert str(missing.value) == (
        "no CloudFormation stack 'nope' in region eu-west-1 with profile ops: "
        "Stack nope does not exist"
    )
    other = {"other": [{"OutputKey": "BucketName", "OutputValue": "b"}]}
    with pytest.raises(DeploymentNotFoundError, match="has no userpipe outputs"):
        from_stack("other", clients=fake_clients(other))
    found = from_stack(
        "old",
        clients=fake_clients({"old": [{"OutputKey": "EventBusName", "OutputValue": "x-y-z"}]}),
    )
    with pytest.raises(OperatorError, match="stack old has no output 'archive_name'"):
        found.output("archive_name")


def test_the_local_outputs_file_is_found_or_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("USERPIPE_OUTPUTS", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeploymentNotFoundError, match=r"no local stack outputs at \.userpipe"):
        from_local()
    path = tmp_path / "outputs.json"
    path.write_text("{not json")
    with pytest.raises(DeploymentNotFoundError, match="is not a local stack's outputs file"):
        from_local(path)
    outputs = {"endpoint_url": "http://127.0.0.1:4747", "stage": "local"}
    path.write_text(json.dumps(outputs))
    with pytest.raises(DeploymentNotFoundError, match="names no credentials file"):
        from_local(path, stopped=lambda outputs: None)
    credentials = tmp_path / "credentials"
    path.write_text(json.dumps({**outputs, "credentials_path": str(credentials)}))
    with pytest.raises(DeploymentNotFoundError, match="cannot read the local stack's credentials"):
        from_local(path, stopped=lambda outputs: None)
    credentials.write_text(
        "[userpipe-local]\naws_access_key_id = AKIA0\naws_secret_access_key = s\n"
    )
    monkeypatch.setenv("USERPIPE_OUTPUTS", str(path))
    found = from_local(stopped=lambda outputs: None)
    assert found.local and found.stage == "local" and found.archive_lag == timedelta(0)


def test_a_command_without_a_target_says_which_it_needs() -> None:
    neither = SimpleNamespace(local=False, stack=None, outputs=None)
    with pytest.raises(OperatorError, match=r"which stack\? --local .* or --stack NAME"):
        deployment_from(neither)  # type: ignore[arg-type]
    both = SimpleNamespace(local=True, stack="prod", outputs=None)
    with pytest.raises(OperatorError, match="choose one target"):
        deployment_from(both)  # type: ignore[arg-type]


# --- redrive: stream records read again -----------------------------------------------------------


class FakeStreams:
    class exceptions:  # noqa: N801
        class TrimmedDataAccessException(Exception):  # noqa: N818
            response: ClassVar = {"Error": {"Message": "records past the trim horizon"}}

        class ResourceNotFoundException(Exception):  # noqa: N818
            response: ClassVar = {"Error": {"Message": "no such stream"}}

        class LimitExceededException(Exception):  # noqa: N818
            response: ClassVar = {"Error": {"Message": "Rate exceeded for shard shard-1"}}

    def __init__(
        self, pages: list[list[int]], *, trimmed: bool = False, busy: bool = False
    ) -> None:
        self.pages, self.trimmed, self.busy, self.reads = pages, trimmed, busy, 0

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        if self.trimmed:
            raise self.exceptions.TrimmedDataAccessException()
        assert request["ShardIteratorType"] == "AT_SEQUENCE_NUMBER"
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        self.reads += 1
        if self.busy:  # botocore's retries are spent: a third reader of the shard, throttled
            raise self.exceptions.LimitExceededException()
        index = int(ShardIterator)
        records = [
            {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(n), "Keys": {}}}
            for n in self.pages[index]
        ]
        more = index + 1 < len(self.pages)
        return {"Records": records, **({"NextShardIterator": str(index + 1)} if more else {})}


INFO = {"streamArn": "arn:stream", "shardId": "shard-1", "startSequenceNumber": "200",
        "endSequenceNumber": "400"}  # fmt: skip


def test_the_failed_records_are_read_again_from_first_to_last_across_empty_pages() -> None:
    streams = FakeStreams([[200], [], [], [300, 400, 500]])
    records = read_batch(streams, INFO)  # type: ignore[arg-type]
    assert [r["dynamodb"]["SequenceNumber"] for r in records] == ["200", "300", "400"]
    assert all(r["eventSourceARN"] == "arn:stream" for r in records)


def test_records_past_the_streams_retention_are_reported_gone() -> None:
    with pytest.raises(RecordsGoneError, match="past the trim horizon"):
        read_batch(FakeStreams([], trimmed=True), INFO)  # type: ignore[arg-type]
    with pytest.raises(RecordsGoneError, match="no record from 200 to 400"):
        read_batch(FakeStreams([[]] * 30), INFO)  # type: ignore[arg-type]


def test_a_throttled_stream_read_keeps_the_message_and_says_to_run_again() -> None:
    """Redrive reads the stream besides the two mappings (a third reader of the shard, over
    DynamoDB Streams' documented two): a read still throttled after botocore's retries keeps
    the message and names the cause — it neither fails the run nor invokes the consumer."""
    invoked: list[Any] = []
    clients = SimpleNamespace(
        streams=FakeStreams([[200, 300, 400]], busy=True),
        lambda_=SimpleNamespace(invoke=lambda **request: invoked.append(request)),
    )
    body = json.dumps({"DDBStreamBatchInfo": INFO})
    problem = redrive._hand_over(clients, body, "userpipe-dev-audit-trail")
    assert problem is not None
    assert "throttled reading records 200..400" in problem
    assert "Rate exceeded for shard shard-1" in problem
    assert "The message is kept; run redrive again." in problem
    assert invoked == []


# --- redrive: moving messages ---------------------------------------------------------------------


class FakeSqs:
    """Two queues; ``refuse`` bodies are refused by the destination."""

    def __init__(self, bodies: list[str], refuse: frozenset[str] = frozenset()) -> None:
        self.queues: dict[str, list[str]] = {"dlq": list(bodies), "queue": []}
        self.hidden: set[str] = set()
        self.refuse = refuse
        self.released: list[str] = []

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, **_: Any) -> Any:  # noqa: N803
        ready = [b for b in self.queues[QueueUrl] if b not in self.hidden][:MaxNumberOfMessages]
        self.hidden |= set(ready)
        return {"Messages": [{"Body": b, "ReceiptHandle": b, "MessageId": b} for b in ready]}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:  # noqa: N803
        ok = [e for e in Entries if e["MessageBody"] not in self.refuse]
        self.queues[QueueUrl] += [e["MessageBody"] for e in ok]
        failed = [{"Id": e["Id"], "Message": "too big"} for e in Entries if e not in ok]
        return {"Successful": [{"Id": e["Id"]} for e in ok], "Failed": failed}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:  # noqa: N803
        for entry in Entries:
            self.queues[QueueUrl].remove(entry["ReceiptHandle"])

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, **_: Any) -> None:  # noqa: N803
        self.hidden.discard(ReceiptHandle)
        self.released.append(ReceiptHandle)


def moved(sqs: FakeSqs, limit: int | None = None) -> Result:
    result = Result("dlq", "events")
    move_messages(sqs, "dlq", "queue", result, limit=limit)  # type: ignore[arg-type]
    return result


def test_every_message_moves_and_leaves_the_dlq_only_once_sent() -> None:
    sqs = FakeSqs([f"m{i}" for i in range(23)])
    result = moved(sqs)
    assert (result.redelivered, result.kept) == (23, 0)
    assert sqs.queues == {"dlq": [], "queue": [f"m{i}" for i in range(23)]}


def test_a_message_the_queue_refuses_stays_in_the_dlq_and_is_reported() -> None:
    sqs = FakeSqs(["a", "b", "c"], refuse=frozenset({"b"}))
    result = moved(sqs)
    assert sqs.queues["dlq"] == ["b"] and "b" not in sqs.queues["queue"]
    assert sqs.released == ["b"]
    assert (result.redelivered, result.kept) == (2, 1)
    assert result.notes == ["the queue refused some messages: too big"]


def test_max_stops_after_that_many() -> None:
    sqs = FakeSqs([f"m{i}" for i in range(15)])
    assert moved(sqs, limit=12).redelivered == 12
    assert sqs.queues["dlq"] == ["m12", "m13", "m14"]


class FakeMoveTasks:
    """SQS on AWS: a DLQ of 7 messages and a message move task that runs, then ends ``end``."""

    def __init__(self, end: str) -> None:
        self.end, self.listed = end, 0
        self.started: list[dict[str, Any]] = []

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> Any:  # noqa: N803
        arn = f"arn:aws:sqs:eu-west-1:123456789012:{QueueUrl.rsplit('/', 1)[-1]}"
        return {"Attributes": {"QueueArn": arn, "ApproximateNumberOfMessages": "7"}}

    def start_message_move_task(self, **request: Any) -> Any:
        self.started.append(request)
        return {"TaskHandle": "handle-1"}

    def list_message_move_tasks(self, SourceArn: str, MaxResults: int) -> Any:  # noqa: N803
        self.listed += 1
        if self.listed == 1:
            return {"Results": []}  # not listed yet
        if self.listed == 2:
            return {"Results": [{"TaskHandle": "handle-1", "Status": "RUNNING",
                                 "ApproximateNumberOfMessagesMoved": 3,
                                 "ApproximateNumberOfMessagesToMove": 7}]}  # fmt: skip
        moved = 7 if self.end == "COMPLETED" else 5
        ended = {"Status": self.end, "ApproximateNumberOfMessagesMoved": moved}
        if self.end == "FAILED":
            ended["FailureReason"] = "AccessDenied"
        return {"Results": [ended]}


def aws_redrive(sqs: FakeMoveTasks) -> list[Result]:
    from userpipe.ops import redrive

    outputs = {
        **OUTPUTS,
        "projector_dlq_url": "https://sqs/userpipe-prod-user-projector-dlq",
        "projector_queue_url": "https://sqs/userpipe-prod-user-projector",
    }
    found = Deployment("stack userpipe-prod", outputs, SimpleNamespace(sqs=sqs), False)  # type: ignore[arg-type]
    return redrive.run(found, Recorded(), queue="user-projector-dlq", sleep=lambda _: None)


def test_on_aws_sqs_moves_the_events_back_to_their_queue_and_is_followed_to_the_end() -> None:
    sqs = FakeMoveTasks("COMPLETED")
    (result,) = aws_redrive(sqs)
    assert sqs.started == [
        {
            "SourceArn": "arn:aws:sqs:eu-west-1:123456789012:userpipe-prod-user-projector-dlq",
            "DestinationArn": "arn:aws:sqs:eu-west-1:123456789012:userpipe-prod-user-projector",
        }
    ]
    assert (result.redelivered, result.kept) == (7, 0)


def test_a_move_task_that_fails_is_an_error_with_its_reason() -> None:
    from userpipe.ops.redrive import MoveTaskFailedError

    with pytest.raises(MoveTaskFailedError, match=r"ended FAILED: AccessDenied \(5 moved\)") as e:
        aws_redrive(FakeMoveTasks("FAILED"))
    assert e.value.exit_code == 1


# --- status on AWS -------------------------------------------------------------------------------


class _Described:
    """Every describe call a status makes, answered for a stage whose projector DLQ holds two
    events and one of whose alarms is in ALARM."""

    class exceptions:  # noqa: N801
        class ResourceNotFoundException(Exception):  # noqa: N818
            pass

    def __init__(self, drift: list[dict[str, Any]] | None = None) -> None:
        self.metric_requests: list[dict[str, Any]] = []
        self.drift = drift or []  # GetMetricData's results: the last reconcile's counts
        self.drift_requests: list[dict[str, Any]] = []

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> Any:  # noqa: N803
        waiting = "2" if QueueUrl.endswith("user-projector-dlq") else "0"
        return {"Attributes": {"ApproximateNumberOfMessages": waiting}}

    def receive_message(self, **_: Any) -> Any:  # pragma: no cover - must not be called on AWS
        raise AssertionError("status must not receive from a queue on AWS")

    def get_metric_statistics(self, **request: Any) -> Any:
        self.metric_requests.append(request)
        return {"Datapoints": [{"Maximum": 3600.0}, {"Maximum": 5400.0}]}

    def get_metric_data(self, **request: Any) -> Any:
        self.drift_requests.append(request)
        return {"MetricDataResults": self.drift}

    def describe_table(self, TableName: str) -> Any:  # noqa: N803
        return {"Table": {"ItemCount": 40}}

    def describe_user_pool(self, UserPoolId: str) -> Any:  # noqa: N803
        trigger = "arn:aws:lambda:eu-west-1:123456789012:function:userpipe-prod-confirm-trigger"
        return {"UserPool": {
            "EstimatedNumberOfUsers": 42,
            "Arn": f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{UserPoolId}",
            "LambdaConfig": {"PostConfirmation": trigger, "PreTokenGeneration": trigger},
        }}  # fmt: skip

    def describe_archive(self, ArchiveName: str) -> Any:  # noqa: N803
        return {"ArchiveName": ArchiveName, "ArchiveArn": "arn:archive", "State": "ENABLED",
                "EventCount": 41, "SizeBytes": 9000}  # fmt: skip

    def list_replays(self, EventSourceArn: str) -> Any:  # noqa: N803
        return {"Replays": [
            {"ReplayName": "old", "State": "FAILED", "ReplayStartTime": NOW - timedelta(days=2)},
            {"ReplayName": "new", "State": "COMPLETED", "ReplayStartTime": NOW},
        ]}  # fmt: skip

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_alarms"
        alarms = [
            {"AlarmName": "ours", "AlarmActions": ["arn:sns:alarms"]},
            {"AlarmName": "someone-elses", "AlarmActions": ["arn:sns:other"]},
        ]
        return SimpleNamespace(paginate=lambda StateValue: [{"MetricAlarms": alarms}])  # noqa: N803


def test_status_on_aws_reads_ages_from_cloudwatch_and_counts_alarms_of_this_stack() -> None:
    from contracts.topology import OUTPUTS as DECLARED
    from userpipe.aws import status

    service = _Described()
    outputs = {o.local_name: f"https://sqs/userpipe-prod-{o.local_name}" for o in DECLARED}
    outputs |= {
        "projector_dlq_url": "https://sqs/userpipe-prod-user-projector-dlq",
        "user_table_name": "userpipe-prod-User",
        "audit_table_name": "userpipe-prod-UserAudit",
        "alarm_topic_arn": "arn:sns:alarms",
        "stage": "prod",
    }
    clients = SimpleNamespace(sqs=service, cloudwatch=service, dynamodb=service,
                              cognito=service, events=service)  # fmt: skip
    found = status.collect(Deployment("stack userpipe-prod", outputs, clients, False), now=NOW)  # type: ignore[arg-type]

    assert not found.ok and not found.counts_exact
    assert found.problems == [
        "user-projector-dlq holds 2 message(s), oldest 90 min — `userpipe redrive --show` "
        "says why, `userpipe redrive` sends them back",
        "alarm ours is in ALARM",
    ]
    (request,) = service.metric_requests
    assert request["Dimensions"] == [
        {"Name": "QueueName", "Value": "userpipe-prod-user-projector-dlq"}
    ]
    assert [r.name for r in found.replays] == ["new", "old"]  # newest first; an old failure is past
    assert found.cognito_users == 42 and found.archive["events"] == 41
    assert found.reconcile is None  # no run in the last days
    recent, older = service.drift_requests  # to the second for 3 hours, then to the minute
    assert [q["MetricStat"]["Period"] for q in recent["MetricDataQueries"]] == [1] * 5
    assert [q["MetricStat"]["Period"] for q in older["MetricDataQueries"]] == [60] * 5
    assert recent["StartTime"] == NOW - timedelta(hours=3)
    assert older["StartTime"] == NOW - timedelta(days=3)


# --- the last reconcile's drift in status ------------------------------------------------------


def _drift_results(at: datetime, **values: int) -> list[dict[str, Any]]:
    """GetMetricData's answer: an older run with drift everywhere, then one at ``at``."""
    from services.reconcile.logic import DRIFT_METRICS

    older = at - timedelta(days=1)
    return [
        {"Id": f"m{i}", "Label": name, "Timestamps": [at, older],
         "Values": [float(values.get(name, 0)), 9.0]}
        for i, name in enumerate(DRIFT_METRICS)
    ]  # fmt: skip


def test_status_shows_the_newest_reconciles_drift_by_kind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from userpipe.aws import status
    from userpipe.cli import main
    from userpipe.cli import operations as ops_cli

    at = NOW - timedelta(hours=5)
    service = _Quiet(_drift_results(at, deleted=2, foreignPool=1))
    found = status.collect(without_welcome(service), now=NOW)
    assert found.reconcile == {
        "at": "2026-11-28T07:00:00Z",
        "drift": {"missing": 0, "email": 0, "deleted": 2, "foreignPool": 1},
        "failed": 0,
    }
    assert found.ok  # drift it repaired, or reports only, needs no attention
    (request,) = service.drift_requests  # found within the high-resolution hours
    assert request["StartTime"] == NOW - timedelta(hours=3)
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in request["MetricDataQueries"]} == {
        "userpipe/reconcile"
    }
    monkeypatch.setattr(ops_cli, "from_stack", lambda name, **kw: without_welcome(service))
    assert main(["status", "--stack", "userpipe-prod"]) == 0
    assert (
        "last reconcile (2026-11-28T07:00:00Z): drift missing 0, email 0, deleted 2, "
        "foreignPool 1; 0 failed" in capsys.readouterr().out
    )


def test_a_reconcile_that_could_not_repair_everything_needs_attention() -> None:
    from userpipe.aws import status

    service = _Quiet(_drift_results(NOW - timedelta(hours=1), email=3, failed=2))
    found = status.collect(without_welcome(service), now=NOW)
    assert found.problems == [
        "the last reconcile could not repair 2 drift(s) — `userpipe reconcile --dry-run` lists them"
    ]


def test_a_runs_counts_are_where_status_reads_them() -> None:
    """Against CloudWatch (moto, as the local stack serves it): the command's PutMetricData and
    status's GetMetricData agree on the metric."""
    import boto3
    from moto import mock_aws

    from services.reconcile.logic import Summary
    from userpipe.aws.users import last_drift, record_drift

    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        found = Deployment("local", {"user_pool_id": "eu-west-1_Ab12Cd34E"},
                           SimpleNamespace(cloudwatch=cloudwatch), True)  # type: ignore[arg-type]  # fmt: skip
        now = datetime.now(UTC).replace(microsecond=0)
        assert last_drift(found, now) is None
        yesterday, dry, latest = Summary(), Summary(), Summary()
        yesterday.drift["deleted"].found = 3
        dry.drift["missing"].found = 150  # a dry run a moment before the real one
        latest.drift["missing"].found, latest.drift["email"].failed = 2, 1
        record_drift(found, yesterday, now - timedelta(hours=20))
        assert last_drift(found, now).counts["deleted"] == 3  # type: ignore[union-attr]
        record_drift(found, dry, now - timedelta(seconds=2))
        record_drift(found, latest, now)
        last = last_drift(found, now)
    assert last is not None
    assert last.counts == {"missing": 2, "email": 0, "deleted": 0, "foreignPool": 0}
    assert last.failed == 1 and last.at == now


# --- reconcile on the command line ---------------------------------------------------------------


def test_reconcile_refuses_a_dry_run_that_applies(capsys: pytest.CaptureFixture[str]) -> None:
    from userpipe.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["reconcile", "--stack", "userpipe-prod", "--dry-run", "--apply"])
    assert refused.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_reconcile_summary_names_each_kind_with_example_ids_and_what_to_do() -> None:
    from services.reconcile.logic import Summary
    from userpipe.ops import reconcile

    summary = Summary(scanned=5, items=6)
    summary.drift["missing"].found = summary.drift["missing"].repaired = 1
    summary.drift["missing"].examples = ["id-1"]
    summary.drift["deleted"].found = 12
    summary.drift["deleted"].examples = [f"id-{i}" for i in range(10)]
    summary.drift["foreignPool"].found = 1
    lines = reconcile.describe(summary)
    assert lines[0] == "read 5 Cognito user(s) and 6 item(s)"
    assert lines[1] == (
        "missing: 1 confirmed user(s) without an item; published 1 UserConfirmed (origin "
        "reconcile) — e.g. id-1"
    )
    assert lines[3].startswith("deleted: 12 item(s) whose user Cognito no longer has — e.g. id-0")
    assert lines[3].endswith("id-9 …")
    assert "`userpipe reconcile --apply` changes the emails and tombstones the deleted." in lines
    summary.applied = True
    summary.drift["deleted"].repaired, summary.drift["deleted"].failed = 11, 1
    applied = reconcile.describe(summary)
    assert applied[3].startswith(
        "deleted: 12 item(s) whose user Cognito no longer has; 11 tombstone(s), keys destroyed; "
        "1 failed"
    )
    assert "1 repair(s) failed: run reconcile again." in applied
    summary.deletions_refused = "12 of 40 live items have no Cognito user, above the 10 …"
    assert (
        "no deleted user was tombstoned: 12 of 40 live items have no Cognito user, above the "
        "10 … (--allow-many-deletions)." in reconcile.describe(summary)
    )


def test_many_deletions_are_allowed_only_with_apply() -> None:
    from userpipe.ops import reconcile

    with pytest.raises(OperatorError, match="--allow-many-deletions goes with --apply"):
        reconcile.run(deployment(), Recorded(), allow_many_deletions=True)


# --- a stage deployed without the example consumer (-c welcomeNotifier=off) -----------------------


def without_welcome(
    service: Any = None, *, drop: tuple[str, ...] = (), add: tuple[str, ...] = ()
) -> Deployment:
    """A stack deployed with ``-c welcomeNotifier=off``, read as ``from_stack`` reads one: every
    output of the parts it has (queue URLs ending in their queue's name), none of the welcome
    subscription's. ``drop`` and ``add`` take outputs away or give some back (local names)."""
    from contracts.topology import DEAD_LETTERS, SUBSCRIPTIONS, ResourceNames
    from contracts.topology import OUTPUTS as DECLARED

    names = ResourceNames("prod")
    queues = {s.queue_url.local_name: names.of(s.queue) for s in SUBSCRIPTIONS}
    queues |= {d.url.local_name: names.of(d.name) for d in DEAD_LETTERS}
    kept = {o.local_name for o in DECLARED if not o.name.startswith("WelcomeNotifier")}
    outputs = {
        o.local_name: f"https://sqs/{queues.get(o.local_name, o.local_name)}"
        for o in DECLARED
        if (o.local_name in kept or o.local_name in add) and o.local_name not in drop
    }
    outputs |= {"stage": "prod", "user_table_name": "userpipe-prod-User",
                "audit_table_name": "userpipe-prod-UserAudit"}  # fmt: skip
    service = service or _Described()
    clients = SimpleNamespace(sqs=service, cloudwatch=service, dynamodb=service,
                              cognito=service, events=service)  # fmt: skip
    return Deployment("stack userpipe-prod", outputs, clients, False)  # type: ignore[arg-type]


class _Quiet(_Described):
    """Every queue empty."""

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> Any:  # noqa: N803
        return {"Attributes": {"ApproximateNumberOfMessages": "0"}}


def test_status_covers_the_queues_a_stack_without_the_welcome_notifier_has() -> None:
    from userpipe.aws import status

    found = status.collect(without_welcome(), now=NOW)
    assert [(q.name, q.role) for q in found.queues] == [
        ("userpipe-prod-user-projector", "queue"),
        ("userpipe-prod-user-sync", "queue"),
        ("userpipe-prod-user-projector-dlq", "dlq"),
        ("userpipe-prod-user-sync-dlq", "dlq"),
        ("userpipe-prod-audit-trail-dlq", "dlq"),
        ("userpipe-prod-change-publisher-dlq", "dlq"),
        ("userpipe-prod-reconcile-dlq", "dlq"),
    ]
    assert found.left_out == ["WelcomeNotifier"]
    assert [p.split(" holds")[0] for p in found.problems] == ["user-projector-dlq"]


def test_status_on_the_command_line_says_what_the_stack_was_deployed_without(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from userpipe.cli import main
    from userpipe.cli import operations as ops_cli

    monkeypatch.setattr(ops_cli, "from_stack", lambda name, **kw: without_welcome(_Quiet()))
    assert main(["status", "--stack", "userpipe-prod"]) == 0
    out = capsys.readouterr().out
    assert "not in this deployment (switched off): WelcomeNotifier" in out
    assert "welcome-notifier" not in out and out.rstrip().endswith("OK")


def test_redrive_goes_through_the_dead_letter_queues_the_stack_has() -> None:
    from userpipe.ops import redrive

    results = redrive.run(without_welcome(_Quiet()), Recorded())
    assert [r.queue for r in results] == [
        "user-projector-dlq",
        "user-sync-dlq",
        "audit-trail-dlq",
        "change-publisher-dlq",
        "reconcile-dlq",
    ]


def test_redriving_the_welcome_queue_of_a_stack_without_it_says_why_there_is_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from userpipe.cli import main
    from userpipe.cli import operations as ops_cli

    monkeypatch.setattr(ops_cli, "from_stack", lambda name, **kw: without_welcome(_Quiet()))
    assert main(["redrive", "--stack", "userpipe-prod", "--queue", "welcome-notifier-dlq"]) == 2
    assert capsys.readouterr().err == (
        "userpipe redrive: stack userpipe-prod has no welcome-notifier-dlq: it was deployed "
        "without the optional WelcomeNotifier subscription (welcomeNotifier=off)\n"
    )
    assert main(["redrive", "--stack", "userpipe-prod", "--queue", "nope", "--show"]) == 2
    assert capsys.readouterr().err == (
        "userpipe redrive: no dead-letter queue 'nope': choose one of user-projector-dlq, "
        "user-sync-dlq, audit-trail-dlq, change-publisher-dlq, reconcile-dlq\n"
    )


def test_a_replay_to_every_consumer_reaches_the_consumers_the_stack_has() -> None:
    from contracts.topology import PROJECTION

    service = _Quiet()
    events = FakeEvents()
    service.describe_archive = events.describe_archive  # type: ignore[method-assign]
    service.start_replay = events.start_replay  # type: ignore[attr-defined]
    progress = Recorded()
    outcome = replay.run(without_welcome(service), progress, all_consumers=True, wait=False,
                         force=True)  # fmt: skip
    assert outcome.replay.subscriptions == (PROJECTION,)
    assert progress.lines[0] == (
        "Every subscriber receives these events again: UserProjector (each must be idempotent)."
    )


def test_only_an_optional_part_may_be_missing_a_required_or_half_one_is_an_error() -> None:
    """No output of the welcome subscription: not deployed. A missing output of the projector,
    or of a welcome subscription that has some of its outputs, is a broken record: an error."""
    from userpipe.aws import status
    from userpipe.aws.deployment import MissingOutputError

    with pytest.raises(MissingOutputError, match="has no output 'projector_queue_url'"):
        status.collect(without_welcome(_Quiet(), drop=("projector_queue_url",)), now=NOW)
    half = without_welcome(_Quiet(), add=("welcome_notifier_queue_url",))
    with pytest.raises(MissingOutputError, match="has no output 'welcome_notifier_dlq_url'"):
        status.collect(half, now=NOW)


def test_outputs_prints_the_amplify_configuration_of_a_deployed_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from userpipe.cli import main
    from userpipe.cli import operations as ops_cli

    outputs = [
        {"OutputKey": "EventBusName", "OutputValue": "userpipe-prod-users"},
        {"OutputKey": "UserPoolId", "OutputValue": "eu-central-1_Ab12Cd34E"},
        {"OutputKey": "UserPoolClientId", "OutputValue": "client123"},
        {"OutputKey": "GraphqlUrl", "OutputValue": "https://x.appsync-api.eu-central-1.amazonaws.com/graphql"},
    ]  # fmt: skip
    monkeypatch.setattr(
        ops_cli,
        "from_stack",
        lambda name, **kw: from_stack(name, clients=fake_clients({"userpipe-prod": outputs})),
    )
    assert main(["outputs", "--stack", "userpipe-prod"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config == {
        "Auth": {
            "Cognito": {
                "userPoolId": "eu-central-1_Ab12Cd34E",
                "userPoolClientId": "client123",
                "loginWith": {"email": True},
                "signUpVerificationMethod": "code",
            }
        },
        "API": {
            "GraphQL": {
                "endpoint": "https://x.appsync-api.eu-central-1.amazonaws.com/graphql",
                "region": "eu-central-1",
                "defaultAuthMode": "userPool",
            }
        },
    }


# --- rebuild -------------------------------------------------------------------------------------


class FakeMarkedTable:
    """A User table whose scan for the replay mark finds ``marked[i]`` ids on the i-th look."""

    def __init__(self, *marked: list[str]) -> None:
        self.marked = list(marked)
        self.filters: list[str] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "scan"
        return self

    def paginate(self, **request: Any) -> Any:
        self.filters.append(request["FilterExpression"])
        assert request["ExpressionAttributeNames"]["#mark"] == REPLAY_MARK
        ids = self.marked.pop(0) if len(self.marked) > 1 else self.marked[0]
        return [{"Items": [{"id": {"S": user_id}} for user_id in ids]}]


def _with_table(table: FakeMarkedTable) -> Deployment:
    return Deployment(
        "stack userpipe-prod",
        {**OUTPUTS, "user_table_name": "userpipe-prod-User"},
        SimpleNamespace(dynamodb=table),  # type: ignore[arg-type]
        False,
    )


def test_a_rebuild_waits_until_no_item_carries_the_replay_mark() -> None:
    table = FakeMarkedTable(["a", "b"], ["b"], [])
    ticks = iter(range(100))
    marked = rebuild.wait_until_unmarked(
        _with_table(table),
        timeout=60,
        sleep=lambda _: None,
        clock=lambda: float(next(ticks)),
    )
    assert marked == [] and table.filters == ["attribute_exists(#mark)"] * 3


def test_items_still_marked_when_the_wait_ends_are_reported_and_make_the_rebuild_incomplete() -> (
    None
):
    table = FakeMarkedTable(["b", "a"])
    ticks = iter(range(100))
    marked = rebuild.wait_until_unmarked(
        _with_table(table), timeout=3, sleep=lambda _: None, clock=lambda: float(next(ticks))
    )
    assert marked == ["a", "b"]
    report = rebuild.Report("r", items=2, confirmed=2, still_marked=marked)
    assert not report.complete
    assert any("2 item(s) still carry the replay mark" in line for line in rebuild.describe(report))


def test_the_rebuild_report_says_items_are_exact_reproductions_of_the_archived_changes() -> None:
    text = " ".join(rebuild.describe(rebuild.Report("r", confirmed=3, items=3)))
    assert "exact reproduction of its archived changes" in text
    assert "UserProfileChanged" in text and "_lastChangedAt" in text
    assert "not events" not in text and "point-in-time" not in text
    assert rebuild.Report("r", confirmed=3, items=3).complete


class _StoppedError(Exception):
    pass


@pytest.mark.parametrize(("force", "waited"), [(False, [600.0]), (True, [])])
def test_a_rebuild_on_aws_replays_up_to_its_start(
    force: bool, waited: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event of the minutes before the table was emptied was applied and then emptied away:
    only the replay gives it back. The window ends when the rebuild starts; the rebuild first
    waits out the archive's delay (EventBridge recommends 10 minutes), unless forced."""
    started = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    slept: list[float] = []
    asked: dict[str, Any] = {}

    def replay_run(deployment: Any, progress: Any, **options: Any) -> Any:
        asked.update(options)
        raise _StoppedError

    monkeypatch.setattr(rebuild, "is_empty", lambda deployment, table: True)
    monkeypatch.setattr(rebuild, "_stream_dead_letters", lambda deployment: {})
    monkeypatch.setattr(rebuild.replay, "run", replay_run)
    progress = Recorded()
    with pytest.raises(_StoppedError):
        rebuild.run(
            _with_table(FakeMarkedTable([])),
            progress,
            force=force,
            sleep=slept.append,
            now=lambda: started,
        )
    assert slept == waited
    assert asked["end_time"] == started and asked["force"] is force
    if not force:
        assert "until the archive holds every event up to 2026-12-03T09:00:00Z" in progress.lines[0]


def test_the_stream_consumers_turn_runs_while_the_table_is_compared_with_cognito(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The comparison reads the User table and the pool, which the stream consumers never
    write: their turn (``settle_seconds``) is not waited out again after it, only what is left
    of it; their on-failure queues are counted once it has ended."""
    now = [0.0]
    slept: list[float] = []
    counted_at: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def compared(deployment: Any, *, rate: float) -> Any:
        now[0] += 45.0  # the comparison's ListUsers pages
        return iter([])

    def dead_letters(deployment: Any) -> dict[str, int]:
        counted_at.append(now[0])
        return {}

    outcome = replay.Outcome(SimpleNamespace(name="rebuild-1"), 0)  # type: ignore[arg-type]
    monkeypatch.setattr(rebuild, "is_empty", lambda deployment, table: True)
    monkeypatch.setattr(rebuild, "_stream_dead_letters", dead_letters)
    monkeypatch.setattr(rebuild.replay, "run", lambda deployment, progress, **_: outcome)
    monkeypatch.setattr(rebuild, "wait_until_unmarked", lambda deployment, **_: [])
    monkeypatch.setattr(rebuild, "user_items", lambda deployment: {})
    monkeypatch.setattr(rebuild, "confirmed_users", compared)
    deployment = _with_table(FakeMarkedTable([]))
    report = rebuild.run(deployment, Recorded(), force=True, sleep=sleep, clock=lambda: now[0])
    assert report.complete
    assert slept == [deployment.settle_seconds - 45.0]  # 60 s on AWS, 45 of them comparing
    assert counted_at[-1] == deployment.settle_seconds
