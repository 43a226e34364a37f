"""Function sandboxes: each function of the stack runs in its own process, as in Lambda.

A sandbox's environment is exactly what the declaration gives the function (resolved against
the local stack) plus what Lambda's runtime defines for every function — never another
function's variables, never the host's. Module state, cold-start caches and clients are the
function's own; a function that exceeds its timeout is killed and the next invocation is a
cold start, as in Lambda. One sandbox serves one invocation at a time.

Two additions point the function at the emulator instead of AWS, and only those:
``AWS_ENDPOINT_URL`` (every AWS SDK call goes to the local stack) and
``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` (botocore would otherwise build account-based
DynamoDB endpoints the emulator does not route).
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from contracts.names import iso_utc
from contracts.topology import FunctionSpec

ACCOUNT: Final = "123456789012"
#: Variables only the local stack sets: where AWS is, and the CA its TLS port is signed by.
LOCAL_ONLY_VARIABLES: Final = ("AWS_ENDPOINT_URL", "AWS_ACCOUNT_ID_ENDPOINT_MODE", "AWS_CA_BUNDLE")
#: Log lines kept per function in memory (the full log goes to its file).
LOG_LINES_KEPT: Final = 10_000


def function_arn(region: str, function_name: str) -> str:
    """The ARN Lambda gives the function ``function_name`` in this account."""
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"


def lambda_runtime_environment(
    spec: FunctionSpec, function_name: str, region: str
) -> dict[str, str]:
    """What Lambda's Python runtime defines for every function (Lambda developer guide,
    "Defined runtime environment variables"). The credentials are placeholders here: the local
    stack gives each sandbox its own (``userpipe.local.iam``)."""
    return {
        "_HANDLER": spec.handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{function_name}",
        # The function's name as its access key id lets the local stack tell which function
        # sent a request (userpipe.local.faults).
        "AWS_ACCESS_KEY_ID": function_name,
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
    }


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: Lambda's result, or its error (``errorType`` and
    ``errorMessage``, as Lambda reports a function error)."""

    request_id: str
    result: Any = None
    error: dict[str, str] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class FunctionSandbox:
    def __init__(
        self,
        spec: FunctionSpec,
        function_name: str,
        environment: Mapping[str, str],
        *,
        region: str,
        endpoint_url: str,
        log_path: Path,
        on_log: Callable[[str, str], None] | None = None,
        ca_bundle: Path | None = None,
        credentials: Mapping[str, str] | None = None,  # AWS_ACCESS_KEY_ID, ... (as Lambda's)
    ) -> None:
        self.spec = spec
        self.function_name = function_name
        self.environment = {
            **lambda_runtime_environment(spec, function_name, region),
            **(credentials or {}),
            **environment,
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            # The AWS SDKs' own variable for a CA bundle; the change publisher's HTTPS honours it.
            **({"AWS_CA_BUNDLE": str(ca_bundle)} if ca_bundle else {}),
        }
        self.region = region
        self.log_path = log_path
        self.log: deque[str] = deque(maxlen=LOG_LINES_KEPT)
        self._log_lock = threading.Lock()
        self._log_file: IO[str] | None = None  # line-buffered: readers see whole lines
        self._on_log = on_log
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._answers: IO[bytes] | None = None
        self.cold_starts = 0
        self.invocations = 0

    @property
    def arn(self) -> str:
        return function_arn(self.region, self.function_name)

    def invoke(self, event: Any) -> Invocation:
        """Run the function on ``event`` and wait for it, at most its timeout."""
        with self._lock:
            request_id = str(uuid.uuid4())
            started = time.monotonic()
            process, answers = self._running()
            deadline = time.time() + self.spec.timeout_seconds
            request = {
                "event": event,
                "context": {
                    "function_name": self.function_name,
                    "memory_limit_in_mb": self.spec.memory_mb,
                    "invoked_function_arn": self.arn,
                    "aws_request_id": request_id,
                    "deadline": deadline,
                    "log_group_name": f"/aws/lambda/{self.function_name}",
                    "log_stream_name": f"local/{self.function_name}",
                },
            }
            self.invocations += 1
            answer = self._exchange(process, answers, json.dumps(request), deadline)
            seconds = time.monotonic() - started
            status = (
                "timeout"
                if answer is None
                else "failure"
                if "exited" in answer
                else "error"
                if "error" in answer
                else "success"
            )
            self._report(request_id, seconds, status)
            if answer is None:
                self._stop_process()
                return Invocation(
                    request_id,
                    error={
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {self.spec.timeout_seconds} seconds",
                    },
                    seconds=seconds,
                )
            if "exited" in answer:
                self._stop_process()
                return Invocation(
                    request_id,
                    error={"errorType": "Runtime.ExitError", "errorMessage": answer["exited"]},
                    seconds=seconds,
                )
            return Invocation(request_id, answer.get("result"), answer.get("error"), seconds)

    def _exchange(
        self, process: subprocess.Popen[str], answers: IO[bytes], request: str, deadline: float
    ) -> dict[str, Any] | None:
        """Send one request and read its answer; ``None`` when the deadline passes first."""
        assert process.stdin is not None
        try:
            process.stdin.write(request + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"exited": f"the runtime exited before the invocation ({process.poll()})"}
        line = _read_line(answers, deadline)
        if line is None:
            return None
        if not line:
            code = process.wait(timeout=5)
            return {"exited": f"the runtime exited with status {code}"}
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def _running(self) -> tuple[subprocess.Popen[str], IO[bytes]]:
        if self._process is not None and self._process.poll() is None and self._answers:
            return self._process, self._answers
        read_end, write_end = os.pipe()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "userpipe.local.worker"],
            env={**self.environment, "USERPIPE_ANSWER_FD": str(write_end)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=(write_end,),
            cwd=_code_root(),
        )
        os.close(write_end)
        self._answers = os.fdopen(read_end, "rb", buffering=0)
        self._process = process
        self.cold_starts += 1
        threading.Thread(target=self._collect_log, args=(process,), daemon=True).start()
        return process, self._answers

    def _collect_log(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._log_line(line.rstrip("\n"))

    def _log_line(self, line: str) -> None:
        """One line of the function's log: kept, appended to its file, passed on."""
        with self._log_lock:
            if self._log_file is None:
                self._log_file = self.log_path.open("a", encoding="utf-8", buffering=1)
            self.log.append(line)
            self._log_file.write(line + "\n")
        if self._on_log:
            self._on_log(self.function_name, line)

    def _report(self, request_id: str, seconds: float, status: str) -> None:
        """The ``platform.report`` record Lambda logs after each invocation in JSON log format
        (Lambda developer guide, Telemetry API reference, ``platform.report``): duration, billed
        duration (whole milliseconds, rounded up), memory size and status. Not the memory
        used: the sandbox does not measure it."""
        record = {
            "time": iso_utc(datetime.now(UTC)),
            "type": "platform.report",
            "record": {
                "requestId": request_id,
                "metrics": {
                    "durationMs": round(seconds * 1000, 3),
                    "billedDurationMs": math.ceil(seconds * 1000),
                    "memorySizeMB": self.spec.memory_mb,
                },
                "status": status,
            },
        }
        self._log_line(json.dumps(record))

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if self._answers:
            self._answers.close()
            self._answers = None
        if process is None:
            return
        if process.stdin:
            process.stdin.close()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)

    def kill(self) -> None:
        """End the function's process at once, mid-invocation if it is in one (the invocation
        then fails with ``Runtime.ExitError``, as a crashed Lambda runtime does)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def stop(self) -> None:
        """Shut the sandbox down (ends its process; a later invoke starts a new one)."""
        with self._lock:
            self._stop_process()
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None


def _read_line(answers: IO[bytes], deadline: float) -> bytes | None:
    """One answer line from the worker; ``b""`` if it exited, ``None`` if the deadline passed.
    Read from the raw descriptor with ``select``, so a stuck function never blocks a thread."""
    line = bytearray()
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([answers], [], [], max(0.0, deadline - time.time()))
        if not ready:
            return None
        chunk = os.read(answers.fileno(), 65536)
        if not chunk:
            return b""
        line += chunk
    return bytes(line)


def _code_root() -> str:
    """Where the function code is importable from: the project (contracts/, services/)."""
    return str(Path(__file__).resolve().parents[2])
