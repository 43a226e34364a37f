"""The one kind of failure an operator command reports as a sentence."""

from __future__ import annotations


class OperatorError(Exception):
    """A failure the operator can act on: the command line prints it as one line (exit 2),
    with the traceback only under ``--debug``."""

    #: 2: the command could not do its job; 1 (some subclasses): it did, and the outcome
    #: needs attention (a replay that ended FAILED, say).
    exit_code: int = 2
