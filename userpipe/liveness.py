"""Whether the local stack that wrote an outputs file still runs: its process is alive and its
endpoint takes connections.

The operator commands ask before they call a stack (a stopped one is named, not met with
connection retries), and ``local up`` asks before it writes its outputs (it never overwrites a
running stack's). Both layers read it here, below ``userpipe.local`` and ``userpipe.ops``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

#: A connect to this machine's own port is answered at once, accepted or refused.
CONNECT_SECONDS: Final = 1.0


def why_stopped(outputs: Mapping[str, Any]) -> str | None:
    """``None`` when the stack these outputs describe is running, else why it is not."""
    pid = outputs.get("pid")
    if pid is not None:
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return f"its process {pid} has ended"
        except PermissionError:
            pass  # it exists, under another user
        except (ValueError, OverflowError):
            pass  # not a process id: the port decides
    address = urlsplit(str(outputs.get("endpoint_url", "")))
    if address.hostname is None or address.port is None:
        return None  # nothing to probe: let the commands' own calls say what they meet
    try:
        with socket.create_connection((address.hostname, address.port), CONNECT_SECONDS):
            return None
    except OSError:
        return f"nothing listens on {address.hostname}:{address.port}"
