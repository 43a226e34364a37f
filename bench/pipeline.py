"""The pipeline and rebuild on the local stack, at several sizes with repeats.

Each run is a fresh ``userpipe local up`` process holding N users (``run``):

1. one user through the whole pipeline (every function warm), then the idle stack's memory;
2. N users signed up (not timed), then, on a settled stack, confirmed one after another with
   ``AdminConfirmSignUp`` (a burst: the next is sent when the previous returns, so the rate is
   the fastest the stack takes them) until every item and audit record exists. Time: the first
   confirmation sent to the last audit record written (the audit trail's log timestamps);
   confirm→item and confirm→audit latencies and each function's billed time and log bytes come
   from the functions' structured logs, completeness from the tables. The stack's memory (the
   server and every sandbox, at one moment) after it;
3. rebuild: the User table emptied, the stack **settled** (its event sources have delivered
   everything the deletes caused: queues drained, streams read to their end:
   ``LocalStack.settle`` behind ``/console/settled``), then ``userpipe rebuild`` in this process
   (``userpipe.ops.rebuild``), timed, with the AWS API requests the stack served meanwhile
   counted **at the server** (``/console/requests``: every caller, the projector's and the
   pollers' calls included), and each function's billed time meanwhile from its logs. Once (the
   largest size, last repeat) the timed rebuild runs in cProfile: the command mostly waits, so
   the profiler costs it little, and its top entries say which wait the time goes to;
4. its baseline, ``RawRebuild``: the same calls with the same batch sizes, made directly against
   the same server on resources of their own — a ``StartReplay`` of an archive holding N events
   into a queue, ``ReceiveMessage`` of 10 and ``DeleteMessageBatch`` per batch, per event the
   projector's Cognito lookup (``AdminGetUser`` in the same pool) and its two writes (the marked
   conditional ``PutItem``, the ``UpdateItem`` removing the mark), both stream readers'
   ``GetRecords`` over the 2N records, the scans (marked items, every item) and the
   ``ListUsers`` pages of 60 — timed, and counted at the server the same way; the notes set
   the two counts side by side. Raw calls and rebuild alternate which goes first by repeat;
5. reconcile (a dry run over the N users, once) against raw ``ListUsers`` pages + ``BatchGetItem``;
6. the trigger's warm latency (the first run only): the handler, in this process, publishing to
   the stack's bus, against a bare ``put_events`` of the same entry, interleaved ABBA.

**Linearity** (``linearity``): at each size the repeats' times; ``time = fixed + slope * N``
fitted by least squares to every sample of the smaller sizes (all but the largest) and again to
every sample of the larger sizes (all but the smallest). Linear cost means the same slope on
both. The ratio slope(larger) / slope(smaller) is bootstrapped over the repeats (each size's
samples drawn again with replacement, ``RESAMPLES`` times, a fixed seed), and linearity is met
only when the ratio's one-sided 95% upper bound is at most ``LINEAR_GOAL`` (1.2): a superlinear
cost or too few, too noisy repeats to tell both fail; one-sided, so a cost that grows slower than
linearly meets it, and a smaller-sizes slope at or below zero fails (nothing to compare with).
The slope over all sizes is reported with its bootstrap 95% interval. (With three repeats a size
the bootstrap sees little of the spread and its interval is, if anything, narrow: the point ratio
is in the notes next to it.) Rebuild's goal against its raw calls (``REBUILD_GOAL``) is judged at
the largest size, where its fixed waits weigh least; the slope row compares the per-user parts.
"""

from __future__ import annotations

import cProfile
import dataclasses
import json
import math
import os
import pstats
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench.report import Goal, Measurement, median, percentile
from contracts.names import ORIGIN_COGNITO, REPLAY_MARK
from contracts.topology import FUNCTIONS, ResourceNames
from contracts.user_confirmed import from_cognito_user, put_events_entry
from userpipe.aws.clients import Clients, local_clients, read_credentials
from userpipe.aws.deployment import from_local
from userpipe.aws.tables import empty_user_table, scan
from userpipe.local.process import StackProcess
from userpipe.ops import rebuild, reconcile
from userpipe.ops.progress import Recorded

PASSWORD = "Bench-Passw0rd!"  # noqa: S105 - a throwaway user of the local stack
REBUILD_GOAL: Final = Goal("<=", 1.5)
LINEAR_GOAL: Final = Goal("<=", 1.2)
TRIGGER_GOAL: Final = Goal("<=", 1.2)
MEMORY_GOAL: Final = Goal("<=", 2.0)
#: What a user may add to the local stack's memory: 100k users in 3 GB (issue 24). Reported as
#: the ratio of the growth per user to this budget, so the goal is <= 1.
MEMORY_PER_USER_BUDGET_KIB: Final = 30.0
MEMORY_PER_USER_GOAL: Final = Goal("<=", 1.0)
#: Lookups of a user by email that moto answers per confirmation: the local Cognito front's
#: check that the user is unconfirmed, and the emulator's own AdminConfirmSignUp.
COGNITO_LOOKUPS_PER_CONFIRMATION: Final = 2
#: ListUsers calls a second for rebuild and reconcile here: the emulator has no quota, and the
#: default (5/s, for Cognito's) would measure the sleep, not the work.
UNTHROTTLED: Final = 10_000.0
#: Bootstrap resamples for the slope intervals and the linearity bound; the seed makes a report
#: reproducible from its samples.
RESAMPLES: Final = 2000
SEED: Final = 24
#: The one-sided bound linearity is judged by, and the two-sided interval shown for a slope.
UPPER: Final = 0.95
INTERVAL: Final = (0.025, 0.975)
#: What the profile of an in-process rebuild keeps: its top entries by cumulative time.
PROFILE_ENTRIES: Final = 12


# --- fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """``seconds = fixed + slope * users``, by least squares."""

    fixed: float
    slope: float


def fit(samples: Sequence[tuple[float, float]]) -> Fit:
    """The least-squares line through ``(users, seconds)`` samples (at least two sizes)."""
    xs = [x for x, _ in samples]
    ys = [y for _, y in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        raise ValueError("a fit needs samples at two sizes at least")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in samples) / spread
    return Fit(mean_y - slope * mean_x, slope)


def _pairs(
    by_size: Mapping[int, Sequence[float]], sizes: Sequence[int]
) -> list[tuple[float, float]]:
    return [(float(n), seconds) for n in sizes for seconds in by_size[n]]


@dataclass(frozen=True)
class Linearity:
    """The fitted cost over sizes and the verdict (the module's docstring defines it)."""

    sizes: tuple[int, ...]
    repeats: dict[int, int]
    overall: Fit
    slope_interval: tuple[float, float]  # bootstrap, INTERVAL
    smaller: Fit  # every size but the largest
    larger: Fit  # every size but the smallest
    ratio_bound: float  # the upper bound (UPPER) of slope(larger) / slope(smaller)

    @property
    def ratio(self) -> float:
        return _slope_ratio(self.larger.slope, self.smaller.slope)

    @property
    def met(self) -> bool:
        return LINEAR_GOAL.met_by(self.ratio_bound)

    def notes(self, unit: float = 1000.0) -> dict[str, Any]:
        """The fit in milliseconds (``unit``: per second)."""
        return {
            "sizes": list(self.sizes),
            "repeats": {str(n): r for n, r in self.repeats.items()},
            "fixed_ms": round(self.overall.fixed * unit, 1),
            "slope_ms_per_user": round(self.overall.slope * unit, 3),
            "slope_95_interval_ms_per_user": [round(s * unit, 3) for s in self.slope_interval],
            "slope_smaller_sizes_ms_per_user": round(self.smaller.slope * unit, 3),
            "slope_larger_sizes_ms_per_user": round(self.larger.slope * unit, 3),
            "slope_ratio": round(self.ratio, 3),
            "slope_ratio_upper_95": round(self.ratio_bound, 3),
        }


def _slope_ratio(larger: float, smaller: float) -> float:
    """A smaller-sizes slope at or below zero says nothing is linear about it: infinitely worse."""
    return larger / smaller if smaller > 0 else math.inf


def linearity(
    by_size: Mapping[int, Sequence[float]],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Linearity:
    """``by_size``: users -> the seconds each repeat took (three sizes at least)."""
    sizes = tuple(sorted(by_size))
    if len(sizes) < 3:
        raise ValueError("linearity needs three sizes at least")
    smaller, larger = sizes[:-1], sizes[1:]
    rng = random.Random(seed)
    slopes, ratios = [], []
    for _ in range(resamples):
        drawn = {n: rng.choices(by_size[n], k=len(by_size[n])) for n in sizes}
        slopes.append(fit(_pairs(drawn, sizes)).slope)
        ratios.append(
            _slope_ratio(fit(_pairs(drawn, larger)).slope, fit(_pairs(drawn, smaller)).slope)
        )
    return Linearity(
        sizes=sizes,
        repeats={n: len(by_size[n]) for n in sizes},
        overall=fit(_pairs(by_size, sizes)),
        slope_interval=(_quantile(slopes, INTERVAL[0]), _quantile(slopes, INTERVAL[1])),
        smaller=fit(_pairs(by_size, smaller)),
        larger=fit(_pairs(by_size, larger)),
        ratio_bound=_quantile(ratios, UPPER),
    )


def _quantile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


# --- the requests a command makes, counted at the server --------------------------------------


def requests_between(
    before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]
) -> dict[str, int]:
    """Requests per action served between two ``StackProcess.requests`` snapshots, every caller
    summed."""
    counts: dict[str, int] = {}
    for caller, actions in after.items():
        for action, count in actions.items():
            gained = count - before.get(caller, {}).get(action, 0)
            if gained:
                counts[action] = counts.get(action, 0) + gained
    return dict(sorted(counts.items()))


class Counted:
    """The seconds a block took and the requests the stack served meanwhile."""

    def __init__(self, stack: StackProcess) -> None:
        self._stack = stack
        self.seconds = 0.0
        self.requests: dict[str, int] = {}

    def __enter__(self) -> Counted:
        self._before = self._stack.requests()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self.requests = requests_between(self._before, self._stack.requests())


# --- rebuild's calls, made raw ------------------------------------------------------------------


class RawRebuild:
    """The calls a rebuild of ``subs`` makes (the module's docstring, step 4), on resources of
    their own: ``prepare`` archives one event per user (not timed), ``run`` makes the calls."""

    BATCH: Final = 10  # the projector's queue batch (contracts.topology.PROJECTOR_SOURCE)
    STREAM_PAGE: Final = 1000  # what a stream poller asks per GetRecords (userpipe.local.sources)
    STREAM_READERS: Final = 2  # the audit trail's and the change publisher's pollers
    LIST_USERS_PAGE: Final = 60  # services.reconcile.store.PAGE_SIZE
    DEAD_LETTER_READS: Final = 6  # three DLQs, read before and after

    def __init__(self, clients: Clients, pool: str, subs: Sequence[str], tag: str) -> None:
        self.clients, self.pool, self.subs = clients, pool, list(subs)
        self.prefix = f"bench-raw-{tag}"
        self.table = f"{self.prefix}-user"

    def prepare(self) -> None:
        c, prefix = self.clients, self.prefix
        bus = c.events.create_event_bus(Name=prefix)["EventBusArn"]
        self.archive = c.events.create_archive(
            ArchiveName=prefix, EventSourceArn=bus, RetentionDays=1
        )["ArchiveArn"]
        self.bus = bus
        for start in range(0, len(self.subs), 10):
            c.events.put_events(
                Entries=[
                    {
                        "Source": "userpipe.bench",
                        "DetailType": "UserConfirmed",
                        "Detail": json.dumps({"userPoolId": self.pool, "sub": sub}),
                        "EventBusName": prefix,
                    }
                    for sub in self.subs[start : start + 10]
                ]
            )
        # The queue's rule comes after the events: the replay is what fills the queue.
        self.queue = c.sqs.create_queue(QueueName=prefix)["QueueUrl"]
        queue_arn = c.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.rule = c.events.put_rule(
            Name=prefix,
            EventBusName=prefix,
            EventPattern=json.dumps({"source": ["userpipe.bench"]}),
        )["RuleArn"]
        c.events.put_targets(
            Rule=prefix,
            EventBusName=prefix,
            Targets=[{"Id": "queue", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )
        table = c.dynamodb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.stream = table["TableDescription"]["LatestStreamArn"]

    def run(self) -> None:
        c = self.clients
        for _ in range(self.DEAD_LETTER_READS // 2):
            c.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["All"])
        name = f"{self.prefix}-replay"
        c.events.start_replay(
            ReplayName=name,
            EventSourceArn=self.archive,
            EventStartTime=datetime(2000, 1, 1, tzinfo=UTC),
            EventEndTime=datetime.now(UTC),
            Destination={"Arn": self.bus, "FilterArns": [self.rule]},
        )
        c.events.describe_replay(ReplayName=name)
        projected = 0
        while projected < len(self.subs):
            messages = c.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=self.BATCH, WaitTimeSeconds=0
            ).get("Messages", [])
            for message in messages:
                self._project(json.loads(message["Body"])["detail"], name)
            if messages:
                c.sqs.delete_message_batch(
                    QueueUrl=self.queue,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            projected += len(messages)
        for _ in range(self.STREAM_READERS):
            self._read_stream()
        list(scan(c.dynamodb, self.table, ProjectionExpression="id",
                  FilterExpression="attribute_exists(#mark)",
                  ExpressionAttributeNames={"#mark": REPLAY_MARK}))  # fmt: skip
        list(scan(c.dynamodb, self.table))
        for _ in range(self.DEAD_LETTER_READS // 2):
            c.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["All"])
        token: str | None = None
        while True:
            page = c.cognito.list_users(
                UserPoolId=self.pool,
                Limit=self.LIST_USERS_PAGE,
                Filter='cognito:user_status = "CONFIRMED"',
                **({"PaginationToken": token} if token else {}),
            )
            token = page.get("PaginationToken")
            if not token:
                break

    def _project(self, detail: Mapping[str, Any], replay: str) -> None:
        c, sub = self.clients, detail["sub"]
        user = c.cognito.admin_get_user(UserPoolId=self.pool, Username=sub)
        email = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "email")
        now = datetime.now(UTC).isoformat()
        c.dynamodb.put_item(
            TableName=self.table,
            Item={
                "id": {"S": sub},
                "__typename": {"S": "User"},
                "email": {"S": email},
                "owner": {"S": sub},
                "createdAt": {"S": now},
                "updatedAt": {"S": now},
                "_version": {"N": "1"},
                "_lastChangedAt": {"N": str(time.time_ns() // 1_000_000)},
                REPLAY_MARK: {"S": replay},
            },
            ConditionExpression="attribute_not_exists(id)",
        )
        c.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": sub}},
            UpdateExpression="REMOVE #mark",
            ConditionExpression="#mark = :name",
            ExpressionAttributeNames={"#mark": REPLAY_MARK},
            ExpressionAttributeValues={":name": {"S": replay}},
        )

    def _read_stream(self) -> None:
        """One reader: fresh iterators from its checkpoint until a read returns nothing."""
        streams = self.clients.streams
        shards = streams.describe_stream(StreamArn=self.stream)["StreamDescription"]["Shards"]
        shard, checkpoint = shards[0]["ShardId"], None
        while True:
            where: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": checkpoint}
                if checkpoint
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = streams.get_shard_iterator(StreamArn=self.stream, ShardId=shard, **where)
            records = streams.get_records(
                ShardIterator=iterator["ShardIterator"], Limit=self.STREAM_PAGE
            )["Records"]
            if not records:
                return
            checkpoint = records[-1]["dynamodb"]["SequenceNumber"]


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
        #: Bytes of the functions' own log lines since ``skip_existing`` (what CloudWatch Logs
        #: would ingest of them). The sandbox's ``platform.report`` records are left out:
        #: bench/cost.py adds Lambda's own START and REPORT records itself, at their size.
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
        for raw in data[:complete].splitlines():
            line = json.loads(raw) if raw.startswith(b"{") else None
            if not (line and str(line.get("type", "")).startswith("platform.")):
                self.log_bytes[path] += len(raw) + 1
            if line is not None:
                yield line


def _when(line: dict[str, Any]) -> float:
    """Powertools' timestamp (``2026-11-28 17:40:12,345+0000``) as epoch seconds."""
    return datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Rebuilt:
    seconds: float
    requests: dict[str, int]
    settle_seconds: float  # how long the stack took to settle before the timer started
    billed_s: dict[str, float]  # each function's billed time while it ran
    profile: list[str] | None = None  # run in cProfile: the top entries (``profiled``)


@dataclass
class Run:
    """What one stack of N users produced."""

    users: int
    repeat: int
    pipeline: EndToEnd
    pipeline_requests: dict[str, int]
    rebuild: Rebuilt
    raw_rebuild: Rebuilt
    memory_idle: dict[str, int]
    memory_after: dict[str, int]  # after the pipeline run, the whole stack at one moment
    memory_peak: dict[str, int]  # at the end
    cognito_lookup: float  # median AdminGetUser by email with N users in the pool
    reconcile: tuple[float, float] | None = None  # seconds per user: reconcile, raw calls


def run(
    users: int,
    state_dir: Path,
    *,
    repeat: int,
    trigger_calls: int = 0,
    with_reconcile: bool = False,
    with_profile: bool = False,
    say: Callable[[str], None],
) -> tuple[Run, list[Measurement]]:
    """One fresh stack, ``users`` users: the module's docstring, steps 1-6 (5 with
    ``with_reconcile``, 6 with ``trigger_calls``)."""
    measurements: list[Measurement] = []
    label = f"N={users} #{repeat + 1}"
    with StackProcess(state_dir) as stack:
        clients = local_clients(stack.outputs)
        client_id, pool = stack.outputs["user_pool_client_id"], stack.outputs["user_pool_id"]
        warm = [f"warm-{uuid.uuid4().hex[:8]}@example.com"]
        end_to_end(stack, clients, sign_up(clients, client_id, warm))
        memory_idle = stack.memory()
        emails = [f"bench-{i:05d}-{uuid.uuid4().hex[:6]}@example.com" for i in range(users)]
        say(f"{label}: signing up")
        subs = sign_up(clients, client_id, emails)
        lookup = cognito_lookup_seconds(clients, pool, emails[:: max(1, users // 50)])
        stack.settle(timeout=120)
        say(f"{label}: confirming and waiting for every item and audit record")
        with Counted(stack) as counted:
            e2e = end_to_end(stack, clients, subs)
        memory_after = stack.memory()

        deployment = from_local(stack.outputs_path)
        logs_dir = Path(stack.outputs["logs_dir"])
        names = ResourceNames(stack.outputs["stage"])

        def rebuilt() -> Rebuilt:
            empty_user_table(deployment)
            settled = stack.settle(timeout=120)
            logs = FunctionLogs(logs_dir, names)
            logs.skip_existing()
            reports: list[rebuild.Report] = []

            def command() -> None:
                reports.append(rebuild.run(deployment, Recorded(), rate=UNTHROTTLED))

            profile = None
            with Counted(stack) as timed:
                if with_profile:
                    profile = profiled(command)
                else:
                    command()
            report = reports[0]
            if not report.complete or report.items != users + len(warm):
                raise AssertionError(f"rebuild incomplete: {report}")
            logs.read_new({}, {}, {})
            billed = {f: round(u["billed_s"], 2) for f, u in logs.gb_seconds().items()}
            return Rebuilt(timed.seconds, timed.requests, settled, billed, profile)

        def raw_rebuild() -> Rebuilt:
            raw = RawRebuild(clients, pool, [*subs.values(), *warm_subs], tag=str(repeat))
            raw.prepare()
            settled = stack.settle(timeout=120)
            with Counted(stack) as timed:
                raw.run()
            return Rebuilt(timed.seconds, timed.requests, settled, {})

        warm_subs = [i["id"]["S"] for i in scan(clients.dynamodb, stack.outputs["user_table_name"])
                     if i["id"]["S"] not in set(subs.values())]  # fmt: skip
        if repeat % 2 == 0:
            say(f"{label}: rebuild, then its calls raw")
            rebuilt_run, raw_run = rebuilt(), raw_rebuild()
        else:
            say(f"{label}: rebuild's calls raw, then rebuild")
            raw_run = raw_rebuild()
            rebuilt_run = rebuilt()
        reconciled = None
        if with_reconcile:
            say(f"{label}: reconcile")
            raw_reconcile = [_raw_reconcile(clients, stack.outputs)]
            started = time.perf_counter()
            summary = reconcile.run(deployment, Recorded(), dry_run=True, rate=UNTHROTTLED)
            seconds = time.perf_counter() - started
            raw_reconcile.append(_raw_reconcile(clients, stack.outputs))
            checked = max(summary.scanned, 1)
            reconciled = (seconds / checked, median(raw_reconcile) / checked)
        if trigger_calls:
            say(f"{label}: the trigger, warm ({trigger_calls} calls each)")
            measurements.extend(trigger_warm(stack, clients, trigger_calls))
        memory_peak = stack.memory()
    return (
        Run(
            users=users,
            repeat=repeat,
            pipeline=e2e,
            pipeline_requests=counted.requests,
            rebuild=rebuilt_run,
            raw_rebuild=raw_run,
            memory_idle=memory_idle,
            memory_after=memory_after,
            memory_peak=memory_peak,
            cognito_lookup=lookup,
            reconcile=reconciled,
        ),
        measurements,
    )


def profiled(call: Callable[[], object]) -> list[str]:
    """``call`` in cProfile: the top entries by cumulative time among userpipe's own functions
    and ``time.sleep`` (where a command's time goes, its waits included; the functions' time is
    in the rebuild rows' ``functions_billed_s_during_rebuild``)."""
    profiler = cProfile.Profile()
    profiler.runcall(call)
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    keep = []
    for key in stats.fcn_list:  # type: ignore[attr-defined]
        where = f"{_short(key[0])}:{key[1]}({key[2]})"
        if not (where.startswith("userpipe/") or "time.sleep" in key[2]):
            continue
        _, calls, _, cumulative, _ = stats.stats[key]  # type: ignore[attr-defined]
        keep.append(f"{cumulative:7.2f} s {calls:>6} calls  {where}")
        if len(keep) == PROFILE_ENTRIES:
            break
    return keep


def _short(where: str) -> str:
    """``/long/path/userpipe/ops/rebuild.py:120(run)`` -> ``userpipe/ops/rebuild.py:120(run)``."""
    for root in ("site-packages/", f"{Path.cwd()}/", "/lib/python"):
        if root in where:
            return where.split(root, 1)[1]
    return where


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


# --- the measurements ---------------------------------------------------------------------------


def _by_size(runs: Sequence[Run], seconds: Callable[[Run], float]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for one in runs:
        out.setdefault(one.users, []).append(seconds(one))
    return dict(sorted(out.items()))


#: A slope ratio this large or larger is written as this (JSON has no infinity).
RATIO_SHOWN_AT_MOST: Final = 999.0


def linearity_measurement(what: str, by_size: Mapping[int, Sequence[float]]) -> Measurement:
    """The verdict row: the upper bound of slope(larger sizes) / slope(smaller sizes) against
    1 (a linear cost), goal ``LINEAR_GOAL``."""
    found = linearity(by_size)
    sizes = "/".join(str(n) for n in found.sizes)
    return Measurement(
        name=f"{what} linearity (N={sizes}, fixed + slope fitted): slope ratio, upper 95%",
        unit="x",
        value=min(found.ratio_bound, RATIO_SHOWN_AT_MOST),
        baseline=1.0,
        goal=LINEAR_GOAL,
        baseline_name="a linear cost: the same slope over the larger sizes as the smaller",
        notes={**found.notes(), "seconds": {str(n): _rounded(s) for n, s in by_size.items()}},
    )


def _why_rebuild(row: Measurement, raw_row: Measurement, runs: Sequence[Run]) -> Measurement:
    """Rebuild's linearity row with the calls it made per user at each size (counted at the
    server) and, when it misses, why: the same calls made raw grew as much, so the emulator's
    cost per call grows with size, not the number of calls."""
    per_user = {
        str(one.users): round(sum(one.rebuild.requests.values()) / one.users, 2)
        for one in runs
        if one.rebuild.requests
    }
    notes: dict[str, Any] = {
        **row.notes,
        "requests_per_user_at_the_server": per_user,
        "raw_calls_upper_95": raw_row.notes["slope_ratio_upper_95"],
    }
    if row.met is False:
        notes["why"] = (
            f"over the goal by {row.value - LINEAR_GOAL.ratio:.2f}; its point estimate is "
            f"{row.notes['slope_ratio']}, the same calls made raw bound at "
            f"{raw_row.notes['slope_ratio_upper_95']} in this run, and its requests per user "
            "at the server stay level across sizes (requests_per_user_at_the_server): the "
            "emulator's cost per call grows with the size (moto walks a queue on each SQS call "
            "and a pool on each user lookup), and three repeats make a wide bound"
        )
    return dataclasses.replace(row, notes=notes)


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(v, 3) for v in values]


def measurements(runs: Sequence[Run]) -> list[Measurement]:
    """Every row the runs give: per size, then the fits over sizes."""
    out: list[Measurement] = []
    sizes = sorted({one.users for one in runs})
    largest = [one for one in runs if one.users == sizes[-1]]
    for n in sizes:
        at = [one for one in runs if one.users == n]
        out.append(_pipeline_row(n, at))
        out.append(_rebuild_row(n, at, goal=REBUILD_GOAL if n == sizes[-1] else None))
    pipeline = _by_size(runs, lambda one: one.pipeline.seconds)
    rebuilt = _by_size(runs, lambda one: one.rebuild.seconds)
    raw = _by_size(runs, lambda one: one.raw_rebuild.seconds)
    if len(sizes) >= 3:
        rebuild_fit, raw_fit = linearity(rebuilt), linearity(raw)
        out.append(
            Measurement(
                name=f"rebuild slope vs its raw calls' slope (N={'/'.join(map(str, sizes))})",
                unit="ms/user",
                value=rebuild_fit.overall.slope * 1000,
                baseline=raw_fit.overall.slope * 1000,
                baseline_name="the raw calls' slope, fitted the same way",
                notes={"rebuild": rebuild_fit.notes(), "raw_calls": raw_fit.notes()},
            )
        )
        raw_row = linearity_measurement("rebuild's raw calls", raw)
        out.append(_why_rebuild(linearity_measurement("rebuild", rebuilt), raw_row, runs))
        out.append(_reported_only(raw_row, "the emulator's own growth for the same calls"))
        pipeline_row = linearity_measurement("end to end", pipeline)
        out.append(pipeline_row)
    reconciled = next((one for one in runs if one.reconcile), None)
    if reconciled is not None and reconciled.reconcile is not None:
        per_user, raw_per_user = reconciled.reconcile
        out.append(
            Measurement(
                name=f"reconcile, time per user checked (N={reconciled.users})",
                unit="ms",
                value=per_user * 1000,
                baseline=raw_per_user * 1000,
                baseline_name="raw ListUsers pages + BatchGetItem",
                notes={
                    "users_per_s": round(1 / per_user, 1),
                    "raw_users_per_s": round(1 / raw_per_user, 1),
                },
            )
        )
    smallest = [one for one in runs if one.users == sizes[0]]
    out.append(
        Measurement(
            name=f"emulator growth: AdminGetUser (N={sizes[-1]} vs N={sizes[0]})",
            unit="ms",
            value=median(one.cognito_lookup for one in largest) * 1000,
            baseline=median(one.cognito_lookup for one in smallest) * 1000,
            baseline_name=f"the same call with {sizes[0]} users in the pool",
            notes={
                "why": "moto 5.2.5 walks every user of a pool with UsernameAttributes on each "
                "lookup (CognitoIdpUserPool._get_user); a confirmation makes "
                f"{COGNITO_LOOKUPS_PER_CONFIRMATION} (the local Cognito front's check, the "
                "emulator's confirm), a rebuild one per event (the projector's AdminGetUser)"
            },
        )
    )
    first = largest[0]
    out.append(
        Measurement(
            name=f"local stack peak memory (N={first.users})",
            unit="MiB",
            value=first.memory_peak["total_peak"] / 2**20,
            baseline=first.memory_idle["total_rss"] / 2**20,
            goal=MEMORY_GOAL,
            baseline_name="the idle stack, every function warm",
            notes={"idle": first.memory_idle, "after": first.memory_peak},
        )
    )
    # The whole stack at one moment (idle, then right after the users went through), not the
    # sum of each process's own peak (each reached at its own time).
    grown = [one.memory_after["total_rss"] - one.memory_idle["total_rss"] for one in largest]
    server = [one.memory_after["server_rss"] - one.memory_idle["server_rss"] for one in largest]
    out.append(
        Measurement(
            name=f"local stack memory per user (N={first.users})",
            unit="KiB",
            value=median(grown) / first.users / 1024,
            baseline=MEMORY_PER_USER_BUDGET_KIB,
            goal=MEMORY_PER_USER_GOAL,
            baseline_name="the budget: 100k users in 3 GB",
            notes={
                "grown_mib": [round(g / 2**20, 1) for g in grown],
                "server_grown_mib": [round(g / 2**20, 1) for g in server],
                "sandboxes_grown_mib": [
                    round((g - v) / 2**20, 1) for g, v in zip(grown, server, strict=True)
                ],
                "why": "the server process holds the growth (server_grown_mib against "
                "sandboxes_grown_mib): the emulator (moto) keeps every item, stream record, "
                "archived event, queued message and Cognito user as Python objects",
                "users": first.users,
                "measured": "total RSS of the server and every sandbox right after the users "
                "went through, minus the same with one user (median of the repeats)",
            },
        )
    )
    profiled_run = next((one for one in runs if one.rebuild.profile), None)
    if profiled_run is not None:
        out.append(
            Measurement(
                name=f"rebuild in cProfile (N={profiled_run.users}): where its time goes",
                unit="s",
                value=profiled_run.rebuild.seconds,
                baseline=None,
                notes={
                    "top_cumulative": profiled_run.rebuild.profile,
                    "functions_billed_s": profiled_run.rebuild.billed_s,
                    "requests_at_the_server": profiled_run.rebuild.requests,
                },
            )
        )
    return out


def _reported_only(row: Measurement, why: str) -> Measurement:
    return Measurement(
        name=row.name,
        unit=row.unit,
        value=row.value,
        baseline=row.baseline,
        baseline_name=row.baseline_name,
        notes={**row.notes, "why": why},
    )


def _pipeline_row(n: int, at: Sequence[Run]) -> Measurement:
    """N users confirmed in a burst, to the last audit record: per user, the median repeat.
    No baseline: what users feel is bench/feel.py's; this row keeps the counts bench/cost.py
    reads (``lambda_per_user``) and the time the linearity fit uses."""
    runs = len(at)
    to_item = [s for one in at for s in one.pipeline.to_item]
    to_audit = [s for one in at for s in one.pipeline.to_audit]
    confirms = [s for one in at for s in one.pipeline.confirm_seconds]
    usage: dict[str, dict[str, float]] = {}
    for one in at:
        for function, used in one.pipeline.lambda_usage.items():
            total = usage.setdefault(function, dict.fromkeys(used, 0.0))
            for key, value in used.items():
                total[key] += value
    requests: dict[str, int] = {}
    for one in at:
        for action, count in one.pipeline_requests.items():
            requests[action] = requests.get(action, 0) + count
    users = n * runs
    seconds = [one.pipeline.seconds for one in at]
    return Measurement(
        name=f"end to end, time per user (N={n})",
        unit="ms",
        value=median(seconds) / n * 1000,
        baseline=None,
        notes={
            "what": "N confirmations sent one after another (a burst), first sent to last "
            "audit record written; median of the repeats",
            "seconds": _rounded(seconds),
            "throughput_users_per_s": round(n / median(seconds), 2),
            "confirm_to_item_p50_ms": round(percentile(to_item, 0.5) * 1000, 1),
            "confirm_to_item_p99_ms": round(percentile(to_item, 0.99) * 1000, 1),
            "confirm_to_audit_p50_ms": round(percentile(to_audit, 0.5) * 1000, 1),
            "confirm_to_audit_p99_ms": round(percentile(to_audit, 0.99) * 1000, 1),
            "admin_confirm_sign_up_p50_ms": round(percentile(confirms, 0.5) * 1000, 2),
            "requests_per_user_at_the_server": {
                action: round(count / users, 2) for action, count in requests.items()
            },
            "lambda_per_user": {
                function: {
                    "invocations": round(used["invocations"] / users, 3),
                    "billed_ms": round(used["billed_s"] * 1000 / users, 2),
                    "gb_s": round(used["gb_s"] / users, 6),
                    "log_bytes": round(used["log_bytes"] / users),
                }
                for function, used in usage.items()
            },
        },
    )


def _rebuild_row(n: int, at: Sequence[Run], *, goal: Goal | None) -> Measurement:
    rebuilt = [one.rebuild.seconds for one in at]
    raw = [one.raw_rebuild.seconds for one in at]
    first = at[0]
    actions = sorted(set(first.rebuild.requests) | set(first.raw_rebuild.requests))
    return Measurement(
        name=f"rebuild vs the calls it makes, counted at the server (N={n})",
        unit="s",
        value=median(rebuilt),
        baseline=median(raw),
        goal=goal,
        baseline_name="the same calls, same batches, made raw on the same server",
        notes={
            "rebuild_seconds": _rounded(rebuilt),
            "raw_seconds": _rounded(raw),
            "settled_before_s": _rounded([one.rebuild.settle_seconds for one in at]),
            "requests_rebuild_vs_raw": {
                action: [
                    first.rebuild.requests.get(action, 0),
                    first.raw_rebuild.requests.get(action, 0),
                ]
                for action in actions
            },
            "functions_billed_s_during_rebuild": first.rebuild.billed_s,
        },
    )
