"""The local stack: the whole deployed stack on one machine, built from the same declaration.

``LocalStack.start()`` binds two ports (loopback by default): ``port`` plain HTTP, for the AWS
SDKs, and ``tls_port`` TLS with a certificate from the machine's local CA (``userpipe.local.tls``),
for frontends — ``graphql_url`` is there, because Amplify JS opens the real-time socket only as
``wss://``. Both serve the emulator, Cognito's front, GraphQL and its real-time endpoint. It
provisions every declared resource, starts a sandbox per function and the event sources, then
writes the outputs file and the Amplify configuration. ``stop()`` ends all of it. One local stack
per process: the emulator's state is process-wide (it is reset when a stack starts).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from werkzeug.test import Client
from werkzeug.wrappers import Response

from contracts.topology import (
    GRAPHQL_API,
    STREAM_CONSUMERS,
    USER_API,
    USER_POOL,
    Attr,
    ColdStart,
    FunctionSpec,
    ResourceNames,
    StageResources,
    default_settings,
)
from userpipe.amplify import amplify_config, amplify_outputs
from userpipe.aws.clients import LOCAL_PROFILE, REGION, Clients
from userpipe.aws.queues import depth
from userpipe.errors import UserpipeError
from userpipe.liveness import why_stopped
from userpipe.local import dynamodb, eventbridge
from userpipe.local.aws import InProcessAws
from userpipe.local.cognito import CognitoFront
from userpipe.local.console import ConsoleApp, recent_changes
from userpipe.local.faults import FaultPlan
from userpipe.local.graphql import GraphqlEndpoint
from userpipe.local.guard import Reach, machine_names, served_names
from userpipe.local.iam import LocalCredentials, SignatureVerifier
from userpipe.local.jwt_verification import TokenVerifier
from userpipe.local.limits import Limits
from userpipe.local.outbox import Outbox
from userpipe.local.provision import provision
from userpipe.local.realtime import RealtimeEndpoint
from userpipe.local.sandbox import ACCOUNT, FunctionSandbox
from userpipe.local.server import (
    GRAPHQL_PATH,
    REALTIME_PATH,
    AsgiRouter,
    LambdaInvoke,
    Router,
    Server,
    bind,
    emulator,
)
from userpipe.local.signing import TokenSigningKey
from userpipe.local.sources import Poller, QueuePoller, StreamPoller
from userpipe.local.tls import LocalCertificates

DEFAULT_STATE_DIR: Final = Path(".userpipe")


#: The outputs files of the stacks running in this process.
_RUNNING_HERE: set[Path] = set()


class OutputsInUseError(UserpipeError):
    """Another stack runs with these outputs: the commands find a stack by its outputs file,
    so a second stack writing it would take the first one's commands away from it."""

    def __init__(self, path: Path, running: Mapping[str, Any]) -> None:
        super().__init__(
            f"a local stack is running at {running.get('endpoint_url')} (pid "
            f"{running.get('pid', '?')}) with its outputs in {path}: stop it first, or give "
            "this one its own folder with --outputs OTHER/outputs.json (then point the "
            "commands at it with --outputs or USERPIPE_OUTPUTS)"
        )


#: The local stack's default for each declared setting (``contracts.topology.SETTINGS``).
DEFAULT_SETTINGS: Final = default_settings("local")


@dataclass
class LocalStackOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    tls_port: int | None = None  # None: port + 1 (a free one when port is 0)
    stage: str = "local"
    state_dir: Path = DEFAULT_STATE_DIR
    outputs_path: Path | None = None  # default: <state_dir>/outputs.json
    #: Values of the declaration's ``Setting`` keys; a switch (``welcomeNotifier``) is on
    #: unless set ``off``, which leaves its part out as ``-c welcomeNotifier=off`` does in AWS.
    settings: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    retry_delay: int = 1  # seconds before a failed message is delivered again (see sources)
    on_log: Callable[[str, str], None] | None = None  # every function log line, as it comes
    faults: FaultPlan | None = None  # faults injected into the functions' calls (tests only)
    allow_origins: tuple[str, ...] = ()  # browser origins besides the stack's own (a dev server)
    allow_remote_admin: bool = False  # the outbox, status and emulator admin API from the LAN
    limits: Limits = field(default_factory=Limits)  # request deadlines and sizes, per port


class LocalStack:
    def __init__(self, options: LocalStackOptions | None = None) -> None:
        self.options = options or LocalStackOptions()
        self.names = ResourceNames(self.options.stage)
        state = self.options.state_dir
        self.outputs_path = self.options.outputs_path or state / "outputs.json"
        self.outbox = Outbox(state / "outbox.jsonl")
        self.logs_dir = state / "logs"
        self.certificates = LocalCertificates(state / "tls")
        self.credentials = LocalCredentials(state / "credentials", ACCOUNT)
        self.verifier = SignatureVerifier(self.credentials, REGION)
        self.signing_key = TokenSigningKey(state / "keys" / "token-signing-key.json")
        wildcard = self.options.host in ("0.0.0.0", "::", "")  # noqa: S104 - naming it only
        self.reach = Reach(
            served_names(self.options.host, machine_names() if wildcard else ()),
            allowed_origins=frozenset(o.rstrip("/") for o in self.options.allow_origins),
            allow_remote_admin=self.options.allow_remote_admin,
        )
        self.sandboxes: dict[str, FunctionSandbox] = {}
        self.pollers: list[Poller] = []
        self.resources: StageResources | None = None
        self._server: Server | None = None
        self._tls_server: Server | None = None
        self._router: Router | None = None
        self.graphql: GraphqlEndpoint | None = None
        self.started_in: float | None = None
        self._claimed: Path | None = None  # the outputs file it wrote, while it runs

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        started = time.monotonic()
        options = self.options
        self._refuse_a_running_stacks_outputs()  # before anything binds or resets
        sock = bind(options.host, options.port)  # PortInUseError before anything runs
        tls_port = options.tls_port
        if tls_port is None:
            tls_port = options.port + 1 if options.port else 0
        try:
            tls_sock = bind(options.host, tls_port, "--tls-port")
        except OSError:
            sock.close()
            raise
        self.certificates.ensure(self.reach.names)
        self.reach.bound(sock.getsockname()[1], tls_sock.getsockname()[1])
        self._router = Router(emulator(), self.verifier)
        realtime = RealtimeEndpoint(lambda: self.graphql)

        def from_function(access_key: str) -> bool:  # a sandbox signs as its function's name
            return self._sandbox_named(access_key) is not None

        self._server = Server(
            AsgiRouter(self._router, realtime, from_function=from_function),
            sock,
            limits=options.limits,
            reach=self.reach,
        )
        self._tls_server = Server(
            AsgiRouter(self._router, realtime, from_function=from_function),
            tls_sock,
            certificate=(str(self.certificates.cert_path), str(self.certificates.key_path)),
            limits=options.limits,
            reach=self.reach,
        )
        self._server.start()
        self._tls_server.start()
        try:
            self._provision()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started
        return self

    def _provision(self) -> None:
        assert self._router is not None
        Client(self._router.emulator, Response).post("/moto-api/reset")  # a fresh emulator
        eventbridge.install()  # undeliverable rule targets go to their DLQ, as in EventBridge
        dynamodb.install()  # Query filters on a key, expressions over 4 KB: refused, as in AWS
        clients = self.clients()
        resources = provision(clients, self.names, self.options.settings)
        resources.add(
            GRAPHQL_API,
            graphql_url=self.graphql_url,
            api_id=f"local-{self.names.stage}",
            name=self.names.graphql_api,
        )
        self.resources = resources
        for spec in resources.parts.functions:
            sandbox = self._sandbox(spec, resources)
            self.sandboxes[spec.id] = sandbox
            resources.add(spec.id, name=sandbox.function_name, arn=sandbox.arn)
        self._router.console = ConsoleApp(
            self.outputs,
            self.console_status,
            tls_port=self.tls_port,
            requests=self._router.requests.snapshot,
            settle=lambda timeout: self.settle(timeout),
        )
        self._router.lambda_invoke = LambdaInvoke(self._sandbox_named)
        self._router.sandbox_named = self._sandbox_named
        self._router.faults = self.options.faults

        aws = InProcessAws(self._router.emulator, REGION)
        pool_id = resources.attribute(Attr(USER_POOL.id, "id"))
        client_id = resources.attribute(Attr(USER_POOL.id, "client_id"))
        self.signing_key.install(emulated_user_pool(pool_id))
        self._router.front = CognitoFront(
            self._router.emulator,
            aws=aws,
            user_pool_id=pool_id,
            client_id=client_id,
            region=REGION,
            functions=self._sandbox_named,  # what the pool's LambdaConfig names
            outbox=self.outbox,
            jwks=self.signing_key.jwks(),
            cloudtrail=lambda event: self._cloudtrail(aws, event),
        )
        self.graphql = self._router.graphql = GraphqlEndpoint(
            verifier=TokenVerifier.for_pool(
                self.signing_key.jwks(), region=REGION, user_pool_id=pool_id, client_id=client_id
            ),
            signatures=self.verifier,
            resolver=self.sandboxes[USER_API.id],
            region=REGION,
        )

        queue_pollers = [
            QueuePoller(
                clients.sqs,
                _queue(resources, f"{subscription.id}Queue"),
                self.sandboxes[subscription.consumer.id],
                subscription.source,
                region=REGION,
                retry_delay=self.options.retry_delay,
            )
            for subscription in resources.parts.subscriptions
        ]
        stream_pollers = [
            StreamPoller(
                clients.streams,
                resources.attribute(Attr(stream.table.id, "stream_arn")),
                self.sandboxes[stream.consumer.id],
                stream.source,
                sqs=clients.sqs,
                on_failure=_queue(resources, stream.on_failure.id),
            )
            for stream in STREAM_CONSUMERS
        ]
        self.pollers = [*queue_pollers, *stream_pollers]
        self._router.on_queue_work = lambda: _wake(queue_pollers)
        self._router.on_stream_work = lambda: _wake(stream_pollers)
        for poller in self.pollers:
            poller.start()
        self._write_outputs()

    def _cloudtrail(self, aws: InProcessAws, event: Mapping[str, Any]) -> None:
        """What CloudTrail does after a Cognito call: its event on the account's default bus
        (user_sync's rule is there), and the queue pollers woken as a write through the
        endpoint would wake them."""
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event["resources"],
            "EventBusName": "default",
        }
        aws.call("events", "AWSEvents.PutEvents", {"Entries": [entry]})
        if self._router is not None:
            self._router.on_queue_work()

    def _sandbox_named(self, name: str) -> FunctionSandbox | None:
        """A sandbox by its function's name or ARN."""
        name = name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        # A copy: a test may add a function while a request looks one up.
        return next((s for s in tuple(self.sandboxes.values()) if s.function_name == name), None)

    def add_function(
        self,
        name: str,
        package: str,
        environment: Mapping[str, str],
        *,
        timeout_seconds: int = 3,
        memory_mb: int = 128,
    ) -> FunctionSandbox:
        """Run a function the declaration does not hold (a test's: another app's trigger) in a
        sandbox like the others, under ``name``: Lambda's Invoke and a pool's ``LambdaConfig``
        reach it by that name or its ARN. Its code is a package with
        ``handler.lambda_handler``, as every function's; its environment is ``environment`` and
        what Lambda defines, nothing of the stack's. The defaults are Lambda's own for a new
        function (timeout 3 s, 128 MB: Lambda developer guide, "Configure Lambda function
        timeout" and "memory")."""
        assert self.resources is not None, "start() the stack first"
        if self._sandbox_named(name) is not None:
            raise ValueError(f"a function named {name} runs on this stack already")
        spec = FunctionSpec(
            id=name,
            package=package,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
            environment=(),
            cold_start=ColdStart(builds=None),
        )
        sandbox = self._new_sandbox(spec, name, environment)
        self.sandboxes[name] = sandbox
        return sandbox

    def _sandbox(self, spec: FunctionSpec, resources: StageResources) -> FunctionSandbox:
        return self._new_sandbox(spec, self.names.function(spec), resources.environment(spec))

    def _new_sandbox(
        self, spec: FunctionSpec, name: str, environment: Mapping[str, str]
    ) -> FunctionSandbox:
        return FunctionSandbox(
            spec,
            name,
            environment,
            credentials=self.credentials.for_function(name).environment(),
            region=REGION,
            endpoint_url=self.endpoint_url,
            log_path=self.logs_dir / f"{name}.log",
            on_log=self.options.on_log,
            ca_bundle=self.certificates.ca_cert_path.resolve(),
        )

    def stop(self) -> None:
        """Stop the event sources, the server and every sandbox; nothing is left listening."""
        for poller in self.pollers:
            poller.stop()
        for server in (self._server, self._tls_server):
            if server is not None:
                server.stop()
        self._server = self._tls_server = None
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        if self._claimed is not None:
            _RUNNING_HERE.discard(self._claimed)
            self._claimed = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what clients need ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stack first"
        return self._server.port

    def clients(self) -> Clients:
        """AWS clients of this stack, signing as its operator."""
        operator = self.credentials.operator
        return Clients(
            self.endpoint_url,
            credentials=(operator.access_key_id, operator.secret_access_key),
        )

    @property
    def tls_port(self) -> int:
        assert self._tls_server is not None, "start() the stack first"
        return self._tls_server.port

    @property
    def _shown_host(self) -> str:
        host = self.options.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - naming it
        return f"[{shown}]" if ":" in shown else shown

    @property
    def endpoint_url(self) -> str:
        """Plain HTTP: what AWS SDKs and the functions call."""
        return f"http://{self._shown_host}:{self.port}"

    @property
    def tls_endpoint_url(self) -> str:
        """The same app over TLS (the local CA): what frontends call."""
        return f"https://{self._shown_host}:{self.tls_port}"

    @property
    def graphql_url(self) -> str:
        """What a client configures: HTTPS, so that Amplify's wss:// real-time socket (derived
        from it) reaches the same port."""
        return f"{self.tls_endpoint_url}{GRAPHQL_PATH}"

    @property
    def realtime_url(self) -> str:
        return f"wss://{self._shown_host}:{self.tls_port}{REALTIME_PATH}"

    def outputs(self) -> dict[str, Any]:
        assert self.resources is not None, "start() the stack first"
        outputs = self.resources.parts.outputs
        values = {o.local_name: self.resources.output_value(o) for o in outputs}
        declared = {name: value for name, value in values.items() if value is not None}
        return {
            "endpoint_url": self.endpoint_url,
            "tls_endpoint_url": self.tls_endpoint_url,
            "region": REGION,
            "account_id": ACCOUNT,
            **declared,
            "realtime_url": self.realtime_url,
            "console_url": self.console_url,
            "ca_cert_path": str(self.certificates.ca_cert_path.resolve()),
            "credentials_path": str(self.credentials.path.resolve()),
            "aws_profile": LOCAL_PROFILE,
            "outbox_path": str(self.outbox.path.resolve()),
            "logs_dir": str(self.logs_dir.resolve()),
            "amplify_config_path": str(self.amplify_config_path.resolve()),
            "amplify_outputs_path": str(self.amplify_outputs_path.resolve()),
            "pid": os.getpid(),
        }

    @property
    def console_url(self) -> str:
        """The browser console (TLS: the same origin as the GraphQL and Cognito endpoints)."""
        return f"{self.tls_endpoint_url}/"

    def console_status(self) -> dict[str, Any]:
        """``userpipe status`` as the console shows it, with the User table's last changes."""
        from contracts import dynamodb
        from userpipe.aws.deployment import for_local_stack
        from userpipe.aws.status import collect
        from userpipe.aws.tables import scan

        # Its own outputs, never the file's: another stack may have written that since.
        deployment = for_local_stack(self.outputs())
        found = collect(deployment).as_dict()
        audit = scan(deployment.clients.dynamodb, deployment.output("audit_table_name"))
        found["recent"] = recent_changes(dynamodb.from_item(item) for item in audit)
        return found

    @property
    def amplify_config_path(self) -> Path:
        return self.outputs_path.parent / "amplify-config.json"

    def amplify_config(self) -> dict[str, Any]:
        """Amplify JS v6 ``ResourcesConfig`` for a frontend: ``Amplify.configure(config)``."""
        outputs = self.outputs()
        return amplify_config(outputs)

    @property
    def amplify_outputs_path(self) -> Path:
        """Amplify Gen 2's file name (``npx ampx generate outputs`` writes it so)."""
        return self.outputs_path.parent / "amplify_outputs.json"

    def amplify_outputs(self) -> dict[str, Any]:
        """Amplify Gen 2's ``amplify_outputs.json`` for a frontend (``userpipe.amplify``)."""
        return amplify_outputs(self.outputs())

    def _refuse_a_running_stacks_outputs(self) -> None:
        try:
            recorded = json.loads(self.outputs_path.read_text())
        except (OSError, ValueError):
            return  # none, or not an outputs file: no running stack relies on it
        if not isinstance(recorded, dict) or "endpoint_url" not in recorded:
            return
        if recorded.get("pid") == os.getpid():
            # Written in this process, whose pid outlives its stacks: ask them, not the port
            # (which something else may hold by now).
            running = self.outputs_path.resolve() in _RUNNING_HERE
        else:
            running = why_stopped(recorded) is None
        if running:
            raise OutputsInUseError(self.outputs_path, recorded)

    def _write_outputs(self) -> None:
        self._refuse_a_running_stacks_outputs()  # one that started alongside and wrote first
        _write_json(self.outputs_path, self.outputs())
        self._claimed = self.outputs_path.resolve()
        _RUNNING_HERE.add(self._claimed)
        _write_json(self.amplify_config_path, self.amplify_config())
        _write_json(self.amplify_outputs_path, self.amplify_outputs())

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until no poller has anything left to deliver (for benchmarks and the demo's
        bookkeeping; clients see the same by polling the tables).

        Settled means two rounds in a row in which every poller, woken, ran a whole poll that
        found its source empty, and the subscription queues hold nothing, in flight or not.
        A round costs one poll per poller: sampling ``busy`` while waking them continuously
        kept them polling, and under load a round never looked quiet.
        """
        deadline = time.monotonic() + timeout
        quiet_rounds = 0
        while quiet_rounds < 2:
            marks = [(poller, poller.started) for poller in self.pollers]
            for poller, _ in marks:
                poller.wake()
            # A poll begun after the mark is the (mark + 1)th: wait until it has ended.
            while any(poller.finished <= mark for poller, mark in marks):
                if time.monotonic() > deadline:
                    raise self._unsettled(timeout)
                time.sleep(0.02)
            quiet = all(poller.last_delivered == 0 for poller, _ in marks)
            quiet_rounds = quiet_rounds + 1 if quiet and self._queued() == 0 else 0
            if not quiet_rounds and time.monotonic() > deadline:
                raise self._unsettled(timeout)

    def _unsettled(self, timeout: float) -> TimeoutError:
        states = "; ".join(
            f"{poller.name}: "
            + ("polling" if poller.busy else f"last poll delivered {poller.last_delivered}")
            for poller in self.pollers
        )
        return TimeoutError(f"the local stack did not settle in {timeout} s ({states})")

    def _queued(self) -> int:
        assert self.resources is not None
        clients = self.clients()
        return sum(
            depth(
                clients.sqs, self.resources.attribute(Attr(f"{subscription.id}Queue", "url"))
            ).total
            for subscription in self.resources.parts.subscriptions
        )


def emulated_user_pool(pool_id: str) -> Any:
    """moto's in-memory user pool object (the emulator is process-wide)."""
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[ACCOUNT][REGION].user_pools[pool_id]


def _wake(pollers: list[QueuePoller] | list[StreamPoller]) -> None:
    for poller in pollers:
        poller.wake()


def _queue(resources: StageResources, resource: str) -> dict[str, str]:
    return {
        attribute: resources.attribute(Attr(resource, attribute))
        for attribute in ("name", "url", "arn")
    }


def _write_json(path: Path, value: Any) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)


@contextmanager
def local_stack(options: LocalStackOptions | None = None) -> Iterator[LocalStack]:
    with LocalStack(options) as stack:
        yield stack
