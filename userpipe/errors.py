"""The one root of the failures userpipe reports as a sentence: the command line prints the
message as one line (``userpipe: ...``, or ``userpipe COMMAND: ...`` for an operator command)
and exits with ``exit_code``; the traceback only under ``--debug``."""

from __future__ import annotations


class UserpipeError(Exception):
    """A failure the user can act on; its message says what to do."""

    #: 2: the command could not do its job; 1 (some subclasses): it did, and the outcome
    #: needs attention (a replay that ended FAILED, say).
    exit_code: int = 2


class OperatorError(UserpipeError):
    """An operator command (replay, rebuild, reconcile, redrive, status, outputs) could not
    do its job on a deployment."""
