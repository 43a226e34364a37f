"""``userpipe local up`` in a process of its own, as the benchmarks and the soak test drive it:
the load generator does not share its interpreter, the stack is ready when its outputs file
names its pid, and its memory (the server and each function's sandbox) is read from /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any


class StackProcess:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.outputs_path = state_dir / "outputs.json"
        self._process: subprocess.Popen[bytes] | None = None
        self.outputs: dict[str, Any] = {}

    def __enter__(self) -> StackProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.outputs_path.unlink(missing_ok=True)
        command = [sys.executable, "-m", "userpipe", "local", "up", "--port", "0"]
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*command, "--outputs", str(self.outputs_path)],
            stdout=subprocess.DEVNULL,
            stderr=(self.state_dir / "stack.stderr").open("wb"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"userpipe local up exited: see {self.state_dir}/stack.stderr")
            if self.outputs_path.exists():
                outputs = json.loads(self.outputs_path.read_text())
                if outputs.get("pid") == self._process.pid:
                    self.outputs = outputs
                    return self
            time.sleep(0.05)
        raise TimeoutError("userpipe local up did not write its outputs within 60 s")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def requests(self) -> dict[str, dict[str, int]]:
        """The AWS API requests the stack served so far, per caller and action
        (``userpipe.local.server.RequestCounts``)."""
        counts: dict[str, dict[str, int]] = self._get("requests", timeout=10)
        return counts

    def settle(self, timeout: float = 60.0) -> float:
        """Until every event source has nothing left to deliver (``LocalStack.settle``); the
        seconds it took. ``TimeoutError`` when the stack did not settle within ``timeout``."""
        try:
            query = urllib.parse.urlencode({"timeout": repr(float(timeout))})
            answer = self._get(f"settled?{query}", timeout=timeout + 10)
        except urllib.error.HTTPError as error:
            if error.code == 504:
                raise TimeoutError(json.loads(error.read()).get("why", "not settled")) from None
            raise
        return float(answer["seconds"])

    def _get(self, endpoint: str, *, timeout: float) -> Any:
        url = f"{self.outputs['endpoint_url']}/console/{endpoint}"
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - the stack's http URL
            return json.loads(answer.read())

    def memory(self) -> dict[str, int]:
        """Resident memory now and at its peak (bytes): the stack's process and, summed, its
        function sandboxes (one process each)."""
        processes = [self.pid, *_children(self.pid)]
        statuses = [_status(pid) for pid in processes]
        return {
            "server_rss": statuses[0].get("VmRSS", 0),
            "server_peak": statuses[0].get("VmHWM", 0),
            "sandboxes": len(processes) - 1,
            "total_rss": sum(s.get("VmRSS", 0) for s in statuses),
            "total_peak": sum(s.get("VmHWM", 0) for s in statuses),
        }

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far (user + system, seconds): the stack's process and, summed, its
        function sandboxes. Two readings around a run say how busy each was."""
        sandboxes = _children(self.pid)
        return {
            "server": _cpu_seconds(self.pid),
            "sandboxes": sum(_cpu_seconds(pid) for pid in sandboxes),
        }


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after comm: state ppid ... utime stime (12, 13)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def _children(parent: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            children.append(int(entry))
    return children
