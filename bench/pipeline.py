"""The pipeline on the local stack, against the raw emulator calls it is made of.

For each N, a fresh ``userpipe local up`` process:

1. one user through the whole pipeline (every function warm), then the idle stack's memory;
2. a block of raw calls (``RawCalls``): per user the emulator calls the pipeline needs, each
   timed, on resources of their own on the same server;
3. end to end: N users signed up beforehand, then confirmed one after another with
   ``AdminConfirmSignUp`` (the client sends the next when the previous returns, so the rate is
   steady and set by the stack) until every item and audit record exists. Per-user time is the
   wall time from the first confirmation to the last audit record, over N; confirm→item and
   confirm→audit latencies come from the functions' structured logs (their timestamps, as
   CloudWatch Logs would show them), completeness from the tables;
4. raw calls again (the baseline is the median of the blocks around the run: A B A);
5. rebuild: the User table emptied, then ``userpipe rebuild`` (in-process, ``userpipe.ops``);
6. reconcile (a dry run over the N users) against raw ``ListUsers`` pages + ``BatchGetItem``;
7. the trigger's warm latency (N=200 only): the handler, in this process, publishing to the
   stack's bus, against a bare ``put_events`` of the same entry, interleaved ABBA;
8. the stack's peak memory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Goal, Measurement, median, percentile
from contracts.names import ORIGIN_COGNITO
from contracts.topology import FUNCTIONS, ResourceNames
from contracts.user_confirmed import from_cognito_user, put_events_entry
from userpipe.aws.clients import Clients, local_clients, read_credentials
from userpipe.aws.deployment import from_local
from userpipe.aws.queues import queue_urls, wait_until_drained
from userpipe.aws.tables import empty_user_table, scan
from userpipe.local.process import StackProcess
from userpipe.ops import rebuild, reconcile
from userpipe.ops.progress import Recorded

PASSWORD = "Bench-Passw0rd!"  # noqa: S105 - a throwaway user of the local stack
E2E_GOAL = Goal("<=", 1.3)
REBUILD_GOAL = Goal("<=", 1.5)
LINEAR_GOAL = Goal("<=", 1.2)
TRIGGER_GOAL = Goal("<=", 1.2)
MEMORY_GOAL = Goal("<=", 2.0)
#: What a user may add to the local stack's memory: 100k users in 3 GB (issue 24). Reported as
#: the ratio of the growth per user to this budget, so the goal is <= 1.
MEMORY_PER_USER_BUDGET_KIB = 30.0
MEMORY_PER_USER_GOAL = Goal("<=", 1.0)
#: Lookups of a user by email that moto answers per confirmation: the local Cognito front's
#: check that the user is unconfirmed, and the emulator's own AdminConfirmSignUp.
COGNITO_LOOKUPS_PER_CONFIRMATION = 2
#: ListUsers calls a second for rebuild and reconcile here: the emulator has no quota, and the
#: default (5/s, for Cognito's) would measure the sleep, not the work.
UNTHROTTLED = 10_000.0


# --- the raw calls ----------------------------------------------------------------------------


@dataclass
class RawCalls:
    """The emulator calls one user costs, made directly: PutEvents to a bus whose rule targets a
    queue, ReceiveMessage + DeleteMessage, a conditional PutItem on a table with a stream,
    GetShardIterator + GetRecords, the audit PutItem. Each call timed separately."""

    clients: Clients
    prefix: str = "bench-raw"
    samples: dict[str, list[float]] = field(default_factory=dict)

    E2E = ("put_events", "receive", "delete", "put_item", "stream_read", "audit_put_item")
    REPLAY = ("put_events", "receive", "delete", "put_item")

    def __post_init__(self) -> None:
        c = self.clients
        self.bus = c.events.create_event_bus(Name=self.prefix)["EventBusArn"]
        queue = c.sqs.create_queue(QueueName=self.prefix)["QueueUrl"]
        arn = c.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        self.queue = queue
        c.events.put_rule(
            Name=self.prefix,
            EventBusName=self.prefix,
            EventPattern=json.dumps({"source": ["userpipe.bench"]}),
        )
        c.events.put_targets(
            Rule=self.prefix,
            EventBusName=self.prefix,
            Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
        )
        table = c.dynamodb.create_table(
            TableName=f"{self.prefix}-user",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.stream = table["TableDescription"]["LatestStreamArn"]
        c.dynamodb.create_table(
            TableName=f"{self.prefix}-audit",
            KeySchema=[
                {"AttributeName": "userId", "KeyType": "HASH"},
                {"AttributeName": "auditId", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "userId", "AttributeType": "S"},
                {"AttributeName": "auditId", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        shards = c.streams.describe_stream(StreamArn=self.stream)["StreamDescription"]["Shards"]
        self.shard = shards[0]["ShardId"]
        self.last_sequence: str | None = None

    def block(self, users: int) -> None:
        for _ in range(users):
            self.one_user()

    def one_user(self) -> None:
        c, sub = self.clients, str(uuid.uuid4())
        detail = {"userPoolId": "eu-west-1_bench", "sub": sub, "email": f"{sub}@example.com"}
        with self._timed("put_events"):
            c.events.put_events(
                Entries=[
                    {
                        "Source": "userpipe.bench",
                        "DetailType": "UserConfirmed",
                        "Detail": json.dumps(detail),
                        "EventBusName": self.prefix,
                    }
                ]
            )
        with self._timed("receive"):
            messages = c.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=1)
        with self._timed("delete"):
            c.sqs.delete_message(
                QueueUrl=self.queue, ReceiptHandle=messages["Messages"][0]["ReceiptHandle"]
            )
        item = {
            "id": {"S": sub},
            "__typename": {"S": "User"},
            "email": {"S": detail["email"]},
            "_version": {"N": "1"},
            "_lastChangedAt": {"N": str(time.time_ns() // 1_000_000)},
        }
        with self._timed("put_item"):
            c.dynamodb.put_item(
                TableName=f"{self.prefix}-user",
                Item=item,
                ConditionExpression="attribute_not_exists(id)",
            )
        with self._timed("stream_read"):
            if self.last_sequence:
                iterator = c.streams.get_shard_iterator(
                    StreamArn=self.stream,
                    ShardId=self.shard,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=self.last_sequence,
                )["ShardIterator"]
            else:
                iterator = c.streams.get_shard_iterator(
                    StreamArn=self.stream, ShardId=self.shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            records = c.streams.get_records(ShardIterator=iterator)["Records"]
        self.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        with self._timed("audit_put_item"):
            c.dynamodb.put_item(
                TableName=f"{self.prefix}-audit",
                Item={
                    "userId": {"S": sub},
                    "auditId": {"S": f"{datetime.now(UTC).isoformat()}#1"},
                    "eventName": {"S": "INSERT"},
                    "changes": {"M": {"email": {"M": {"new": {"S": "sha256:0"}}}}},
                },
                ConditionExpression="attribute_not_exists(auditId)",
            )

    def _timed(self, call: str) -> _Timer:
        return _Timer(self.samples.setdefault(call, []))

    def per_user(self, calls: tuple[str, ...]) -> float:
        """The sum over ``calls`` of each call's median time: one user's raw cost."""
        return sum(statistics.median(self.samples[call]) for call in calls)

    def medians_ms(self) -> dict[str, float]:
        return {call: round(statistics.median(s) * 1000, 3) for call, s in self.samples.items()}


class _Timer:
    def __init__(self, into: list[float]) -> None:
        self._into = into

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self._into.append(time.perf_counter() - self._started)


# --- end to end ----------------------------------------------------------------------------


@dataclass
class EndToEnd:
    users: int
    seconds: float  # first confirmation sent -> last audit record written
    confirm_seconds: list[float]
    to_item: list[float]
    to_audit: list[float]
    lambda_usage: dict[str, dict[str, float]]  # per function, while these users went through

    @property
    def per_user(self) -> float:
        return self.seconds / self.users


def sign_up(clients: Clients, client_id: str, emails: list[str]) -> dict[str, str]:
    """Sign the users up (not timed: the run measures what confirmation sets off). One after
    another: the emulator's Cognito is not safe for concurrent sign-ups (parallel ones are
    refused with UsernameExistsException, even for fresh addresses)."""
    return {
        email: clients.cognito.sign_up(ClientId=client_id, Username=email, Password=PASSWORD)[
            "UserSub"
        ]
        for email in emails
    }


def end_to_end(stack: StackProcess, clients: Clients, subs: dict[str, str]) -> EndToEnd:
    """Confirm ``subs`` (email -> sub) one after another; wait for every item and record."""
    outputs = stack.outputs
    pool = outputs["user_pool_id"]
    logs = FunctionLogs(Path(outputs["logs_dir"]), ResourceNames(outputs["stage"]))
    logs.skip_existing()
    sent: dict[str, float] = {}  # email -> wall-clock time its confirmation was sent
    confirm_seconds = []
    first = time.time()
    for email in subs:
        sent[email] = time.time()
        started = time.perf_counter()
        clients.cognito.admin_confirm_sign_up(UserPoolId=pool, Username=email)
        confirm_seconds.append(time.perf_counter() - started)
    by_sub = {sub: sent[email] for email, sub in subs.items()}
    projected: dict[str, float] = {}
    audited: dict[str, float] = {}
    deadline = time.monotonic() + 60 + len(subs) * 0.2
    while len(audited) < len(by_sub) or len(projected) < len(by_sub):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"end to end: {len(projected)} projected, {len(audited)} audited of {len(by_sub)}"
            )
        logs.read_new(projected, audited, by_sub)
        time.sleep(0.2)
    time.sleep(1.0)  # the last batches' platform.report lines
    logs.read_new(projected, audited, by_sub)
    last = max(audited.values())
    check_tables(clients, outputs, set(by_sub))
    return EndToEnd(
        users=len(subs),
        seconds=last - first,
        confirm_seconds=confirm_seconds,
        to_item=[projected[sub] - by_sub[sub] for sub in by_sub],
        to_audit=[audited[sub] - by_sub[sub] for sub in by_sub],
        lambda_usage=logs.gb_seconds(),
    )


def cognito_lookup_seconds(clients: Clients, pool: str, emails: list[str]) -> float:
    """Median ``AdminGetUser`` by email: moto 5.2.5 finds a user of a pool that signs in by
    email by walking every user's attributes (``CognitoIdpUserPool._get_user``), so its cost
    grows with the pool. Measured at each N to tell the emulator's growth from the pipeline's."""
    samples = []
    for email in emails:
        started = time.perf_counter()
        clients.cognito.admin_get_user(UserPoolId=pool, Username=email)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def check_tables(clients: Clients, outputs: dict[str, Any], subs: set[str]) -> None:
    """Every user has its item at version 1 and exactly one INSERT audit record."""
    items = list(scan(clients.dynamodb, outputs["user_table_name"]))
    versions = {i["id"]["S"]: i["_version"]["N"] for i in items if i["id"]["S"] in subs}
    inserts = [
        a["userId"]["S"]
        for a in scan(clients.dynamodb, outputs["audit_table_name"])
        if a["userId"]["S"] in subs and a["eventName"]["S"] == "INSERT"
    ]
    if set(versions) != subs or set(versions.values()) != {"1"}:
        raise AssertionError(
            f"items: {len(versions)} of {len(subs)}, versions {set(versions.values())}"
        )
    if sorted(inserts) != sorted(subs):
        raise AssertionError(f"INSERT audit records: {len(inserts)} for {len(subs)} users")


class FunctionLogs:
    """The functions' logs, read as they grow: the projector's and audit trail's structured
    lines say when each user was written; every function's ``platform.report`` records say
    how long its invocations took (billed milliseconds and memory, as Lambda reports them)."""

    def __init__(self, logs_dir: Path, names: ResourceNames) -> None:
        self.paths = {spec.id: logs_dir / f"{names.function(spec)}.log" for spec in FUNCTIONS}
        self._offsets = dict.fromkeys(self.paths.values(), 0)
        #: Log bytes each function wrote since ``skip_existing``: what CloudWatch Logs would
        #: ingest (its structured lines and the runtime's platform records).
        self.log_bytes = dict.fromkeys(self.paths.values(), 0)
        self.billed_ms: dict[str, list[int]] = {spec.id: [] for spec in FUNCTIONS}
        self.memory_mb = {spec.id: spec.memory_mb for spec in FUNCTIONS}

    def skip_existing(self) -> None:
        for path in self._offsets:
            self._offsets[path] = path.stat().st_size if path.exists() else 0

    def read_new(
        self, projected: dict[str, float], audited: dict[str, float], wanted: dict[str, float]
    ) -> None:
        for function, path in self.paths.items():
            for line in self._lines(path):
                message = line.get("message")
                if line.get("type") == "platform.report":
                    self.billed_ms[function].append(line["record"]["metrics"]["billedDurationMs"])
                elif message == "user created" and line.get("sub") in wanted:
                    projected.setdefault(line["sub"], _when(line))
                elif message == "audit record written" and line.get("user_id") in wanted:
                    audited.setdefault(line["user_id"], _when(line))

    def gb_seconds(self) -> dict[str, dict[str, float]]:
        """Per function: invocations, billed seconds, GB-seconds (memory x billed time)."""
        return {
            function: {
                "invocations": len(billed),
                "billed_s": sum(billed) / 1000,
                "gb_s": sum(billed) / 1000 * self.memory_mb[function] / 1024,
                "log_bytes": self.log_bytes[self.paths[function]],
            }
            for function, billed in self.billed_ms.items()
            if billed
        }

    def _lines(self, path: Path) -> Iterator[dict[str, Any]]:
        if not path.exists():
            return
        with path.open("rb") as file:
            file.seek(self._offsets[path])
            data = file.read()
        complete = data.rfind(b"\n") + 1
        self._offsets[path] += complete
        self.log_bytes[path] += complete
        for raw in data[:complete].splitlines():
            if raw.startswith(b"{"):
                yield json.loads(raw)


def _when(line: dict[str, Any]) -> float:
    """Powertools' timestamp (``2026-11-28 17:40:12,345+0000``) as epoch seconds."""
    return datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Sizes:
    """What one N produced (the caller compares the two Ns)."""

    users: int
    e2e: EndToEnd
    e2e_baseline: float
    rebuild_seconds: float
    rebuild_baseline: float
    reconcile_seconds: float
    reconcile_raw_seconds: float
    memory_idle: dict[str, int]
    memory_peak: dict[str, int]
    raw_medians_ms: dict[str, float]
    cognito_lookup: float  # median AdminGetUser by email with N users in the pool


def run(
    users: int,
    state_dir: Path,
    *,
    baseline_users: int,
    trigger_calls: int,
    first: bool,
    say: Callable[[str], None],
) -> tuple[Sizes, list[Measurement]]:
    measurements: list[Measurement] = []
    with StackProcess(state_dir) as stack:
        clients = local_clients(stack.outputs)
        client_id = stack.outputs["user_pool_client_id"]
        warm = [f"warm-{uuid.uuid4().hex[:8]}@example.com"]
        end_to_end(stack, clients, sign_up(clients, client_id, warm))
        memory_idle = stack.memory()
        raw = RawCalls(clients)
        raw.block(min(20, baseline_users))  # warm the raw path too
        raw.samples.clear()
        say(f"N={users}: raw calls ({baseline_users} users)")
        raw.block(baseline_users)
        emails = [f"bench-{i:05d}-{uuid.uuid4().hex[:6]}@example.com" for i in range(users)]
        say(f"N={users}: signing up")
        subs = sign_up(clients, client_id, emails)
        lookup = cognito_lookup_seconds(
            clients, stack.outputs["user_pool_id"], emails[:: max(1, users // 50)]
        )
        say(f"N={users}: confirming and waiting for every item and audit record")
        e2e = end_to_end(stack, clients, subs)
        say(f"N={users}: raw calls again")
        raw.block(baseline_users)
        e2e_baseline = raw.per_user(RawCalls.E2E)
        rebuild_baseline = raw.per_user(RawCalls.REPLAY)

        say(f"N={users}: rebuild")
        deployment = from_local(stack.outputs_path)
        empty_user_table(deployment)
        wait_until_drained(clients.sqs, queue_urls(stack.outputs), poll_seconds=0.2, timeout=120)
        time.sleep(1.0)  # the audit trail's stream reads follow within a poll
        started = time.perf_counter()
        report = rebuild.run(deployment, Recorded(), rate=UNTHROTTLED)
        rebuild_seconds = time.perf_counter() - started
        if report.missing or report.orphans or report.dead_lettered:
            raise AssertionError(f"rebuild incomplete: {report}")

        say(f"N={users}: reconcile")
        raw_reconcile = [_raw_reconcile(clients, stack.outputs)]
        started = time.perf_counter()
        summary = reconcile.run(deployment, Recorded(), dry_run=True, rate=UNTHROTTLED)
        reconcile_seconds = time.perf_counter() - started
        raw_reconcile.append(_raw_reconcile(clients, stack.outputs))
        checked = summary.scanned
        if first:
            say(f"N={users}: the trigger, warm ({trigger_calls} calls each)")
            measurements.extend(trigger_warm(stack, clients, trigger_calls))
        memory_peak = stack.memory()
    sizes = Sizes(
        users=users,
        e2e=e2e,
        e2e_baseline=e2e_baseline,
        rebuild_seconds=rebuild_seconds,
        rebuild_baseline=rebuild_baseline,
        reconcile_seconds=reconcile_seconds / max(checked, 1),
        reconcile_raw_seconds=median(raw_reconcile) / max(checked, 1),
        memory_idle=memory_idle,
        memory_peak=memory_peak,
        raw_medians_ms=raw.medians_ms(),
        cognito_lookup=lookup,
    )
    return sizes, measurements


def _raw_reconcile(clients: Clients, outputs: dict[str, Any]) -> float:
    """ListUsers pages of 60 and BatchGetItem of 100 ids: the calls reconcile needs."""
    pool, table = outputs["user_pool_id"], outputs["user_table_name"]
    started = time.perf_counter()
    subs: list[str] = []
    token: str | None = None
    while True:
        page = clients.cognito.list_users(
            UserPoolId=pool, Limit=60, **({"PaginationToken": token} if token else {})
        )
        subs += [a["Value"] for u in page["Users"] for a in u["Attributes"] if a["Name"] == "sub"]
        token = page.get("PaginationToken")
        if not token:
            break
    for start in range(0, len(subs), 100):
        keys = [{"id": {"S": sub}} for sub in subs[start : start + 100]]
        clients.dynamodb.batch_get_item(
            RequestItems={table: {"Keys": keys, "ProjectionExpression": "id"}}
        )
    return time.perf_counter() - started


# --- the trigger, warm ------------------------------------------------------------------------


def trigger_warm(stack: StackProcess, clients: Clients, calls: int = 300) -> list[Measurement]:
    """The trigger's handler (in this process, its client pointed at the stack) against a bare
    ``put_events`` of the same entry to the same bus; interleaved ABBA, ``calls`` each."""
    outputs = stack.outputs
    os.environ.update(
        EVENT_BUS_NAME=outputs["event_bus_name"],
        AWS_ENDPOINT_URL=outputs["endpoint_url"],
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
        AWS_DEFAULT_REGION=outputs["region"],
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    key, secret = read_credentials(outputs["credentials_path"])
    os.environ.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    from services.confirm_trigger import handler

    handler.default_publisher.cache_clear()
    pool, client_id = outputs["user_pool_id"], outputs["user_pool_client_id"]

    def event() -> dict[str, Any]:
        sub = str(uuid.uuid4())
        return {
            "version": "1",
            "region": outputs["region"],
            "userPoolId": pool,
            "userName": sub,
            "callerContext": {"awsSdkVersion": "bench", "clientId": client_id},
            "triggerSource": "PostConfirmation_ConfirmSignUp",
            "request": {
                "userAttributes": {
                    "sub": sub,
                    "email_verified": "true",
                    "email": f"{sub}@example.com",
                }
            },
            "response": {},
        }

    def with_handler() -> float:
        payload = event()
        started = time.perf_counter()
        handler.lambda_handler(payload, _Context())  # type: ignore[arg-type]
        return time.perf_counter() - started

    def bare() -> float:
        payload = event()
        attributes = payload["request"]["userAttributes"]
        entry = put_events_entry(
            from_cognito_user(
                user_pool_id=pool,
                attributes=attributes,
                confirmed_at=datetime.now(UTC),
                origin=ORIGIN_COGNITO,
                client_id=client_id,
                trigger_source=payload["triggerSource"],
            ),
            outputs["event_bus_name"],
        )
        started = time.perf_counter()
        clients.events.put_events(Entries=[entry])  # type: ignore[list-item]
        return time.perf_counter() - started

    for _ in range(10):  # warm both
        with_handler()
        bare()
    a: list[float] = []
    b: list[float] = []
    for i in range(calls):
        if i % 2 == 0:
            a.append(with_handler())
            b.append(bare())
        else:
            b.append(bare())
            a.append(with_handler())
    return [
        Measurement(
            name="trigger warm p50 (local stack)",
            unit="ms",
            value=percentile(a, 0.5) * 1000,
            baseline=percentile(b, 0.5) * 1000,
            goal=TRIGGER_GOAL,
            baseline_name="bare put_events of the same entry",
            notes={"calls": calls},
        ),
        Measurement(
            name="trigger warm p99 (local stack)",
            unit="ms",
            value=percentile(a, 0.99) * 1000,
            baseline=percentile(b, 0.99) * 1000,
            baseline_name="bare put_events of the same entry",
            notes={"calls": calls},
        ),
    ]


@dataclass
class _Context:
    function_name: str = "bench-confirm-trigger"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


def linearity(
    what: str, small: Sizes, large: Sizes, per_user: Callable[[Sizes], float]
) -> Measurement:
    """Per-user time at the large N against the small N: linear cost is a ratio near 1."""
    return Measurement(
        name=f"{what} linearity (N={large.users} vs N={small.users})",
        unit="ms/user",
        value=per_user(large) * 1000,
        baseline=per_user(small) * 1000,
        goal=LINEAR_GOAL,
        baseline_name=f"time per user at N={small.users}",
    )


def compare(small: Sizes, large: Sizes) -> list[Measurement]:
    """The measurements one pair of Ns gives."""
    out: list[Measurement] = []
    for sizes in (small, large):
        n = sizes.users
        e2e = sizes.e2e
        out.append(
            Measurement(
                name=f"end to end, time per user (N={n})",
                unit="ms",
                value=e2e.per_user * 1000,
                baseline=sizes.e2e_baseline * 1000,
                goal=E2E_GOAL,
                baseline_name="sum of the raw emulator calls one user needs",
                notes={
                    "throughput_users_per_s": round(n / e2e.seconds, 2),
                    "confirm_to_item_p50_ms": round(percentile(e2e.to_item, 0.5) * 1000, 1),
                    "confirm_to_item_p99_ms": round(percentile(e2e.to_item, 0.99) * 1000, 1),
                    "confirm_to_audit_p50_ms": round(percentile(e2e.to_audit, 0.5) * 1000, 1),
                    "confirm_to_audit_p99_ms": round(percentile(e2e.to_audit, 0.99) * 1000, 1),
                    "admin_confirm_sign_up_p50_ms": round(
                        percentile(e2e.confirm_seconds, 0.5) * 1000, 2
                    ),
                    "raw_call_medians_ms": sizes.raw_medians_ms,
                    "lambda_per_user": {
                        function: {
                            "invocations": round(usage["invocations"] / n, 3),
                            "billed_ms": round(usage["billed_s"] * 1000 / n, 2),
                            "gb_s": round(usage["gb_s"] / n, 6),
                            "log_bytes": round(usage["log_bytes"] / n),
                        }
                        for function, usage in e2e.lambda_usage.items()
                    },
                },
            )
        )
        out.append(
            Measurement(
                name=f"rebuild, time per user (N={n})",
                unit="ms",
                value=sizes.rebuild_seconds / n * 1000,
                baseline=sizes.rebuild_baseline * 1000,
                goal=REBUILD_GOAL,
                baseline_name="sum of the raw calls a replay needs per user",
                notes={"rebuild_seconds": round(sizes.rebuild_seconds, 2)},
            )
        )
        out.append(
            Measurement(
                name=f"reconcile, time per user checked (N={n})",
                unit="ms",
                value=sizes.reconcile_seconds * 1000,
                baseline=sizes.reconcile_raw_seconds * 1000,
                baseline_name="raw ListUsers pages + BatchGetItem",
                notes={
                    "users_per_s": round(1 / sizes.reconcile_seconds, 1),
                    "raw_users_per_s": round(1 / sizes.reconcile_raw_seconds, 1),
                },
            )
        )
    out.append(linearity("end to end", small, large, lambda sizes: sizes.e2e.per_user))
    net = linearity(
        "end to end net of moto's Cognito lookups",
        small,
        large,
        lambda sizes: sizes.e2e.per_user - COGNITO_LOOKUPS_PER_CONFIRMATION * sizes.cognito_lookup,
    )
    out.append(
        dataclasses.replace(
            net,
            goal=None,  # reported: the goal is the row above's; this says how much is moto's
            baseline_name=f"the same at N={small.users}",
            notes={
                "why": f"each confirmation makes {COGNITO_LOOKUPS_PER_CONFIRMATION} user lookups "
                "that moto answers by walking the whole pool (the emulator growth row); their "
                "median time at each N is taken out of that N's time per user"
            },
        )
    )
    out.append(
        Measurement(
            name=f"emulator growth: AdminGetUser (N={large.users} vs N={small.users})",
            unit="ms",
            value=large.cognito_lookup * 1000,
            baseline=small.cognito_lookup * 1000,
            baseline_name=f"the same call with {small.users} users in the pool",
            notes={
                "why": "moto 5.2.5 walks every user of a pool with UsernameAttributes on each "
                "lookup (CognitoIdpUserPool._get_user); a confirmation makes "
                f"{COGNITO_LOOKUPS_PER_CONFIRMATION} (the local Cognito front's check, the "
                "emulator's confirm)"
            },
        )
    )
    out.append(
        linearity("rebuild", small, large, lambda sizes: sizes.rebuild_seconds / sizes.users)
    )
    out.append(
        Measurement(
            name=f"local stack peak memory (N={large.users})",
            unit="MiB",
            value=large.memory_peak["total_peak"] / 2**20,
            baseline=large.memory_idle["total_rss"] / 2**20,
            goal=MEMORY_GOAL,
            baseline_name="the idle stack, every function warm",
            notes={"idle": large.memory_idle, "after": large.memory_peak},
        )
    )
    # The whole stack at one moment (idle, then after the run), not the sum of each process's
    # own peak (each reached at its own time).
    grown = large.memory_peak["total_rss"] - large.memory_idle["total_rss"]
    out.append(
        Measurement(
            name=f"local stack memory per user (N={large.users})",
            unit="KiB",
            value=grown / large.users / 1024,
            baseline=MEMORY_PER_USER_BUDGET_KIB,
            goal=MEMORY_PER_USER_GOAL,
            baseline_name="the budget: 100k users in 3 GB",
            notes={"grown_mib": round(grown / 2**20, 1), "users": large.users},
        )
    )
    return out
