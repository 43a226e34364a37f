"""The inside of a function sandbox: one process runs one function, like a Lambda execution
environment. Started by ``userpipe.local.sandbox`` with exactly the function's environment.

Protocol: one JSON invocation per line on stdin (``{"event", "context"}``); one JSON answer per
line on the file descriptor named by ``USERPIPE_ANSWER_FD`` (``{"result"}`` or ``{"error":
{"errorType", "errorMessage"}}``, Lambda's error shape). The function's own stdout and stderr are
its log, as in Lambda. Not a public interface.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class Context:
    """What the handlers (and Powertools) read of Lambda's context object."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def main() -> int:
    answers = os.fdopen(int(os.environ.pop("USERPIPE_ANSWER_FD")), "w", buffering=1)
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # an init error: every invocation reports it, as Lambda does
        init_error: dict[str, Any] | None = _error(exc)
        traceback.print_exc()
    else:
        init_error = None
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            answer: dict[str, Any] = {"error": init_error}
        else:
            context = Context(**request["context"])
            try:
                answer = {"result": handler(request["event"], context)}
            except Exception as exc:
                traceback.print_exc()
                answer = {"error": _error(exc)}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer, default=str) + "\n")
    return 0


def _error(exc: BaseException) -> dict[str, Any]:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


if __name__ == "__main__":
    sys.exit(main())
