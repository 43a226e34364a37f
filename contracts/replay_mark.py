"""How every reader of the User table's stream tells the projector's replay writes from changes.

A rebuild replays the archive: the projector writes every user again, and each write lands in
the table's stream like any other. Those writes must not come back as new changes (a second
``UserProfileChanged`` on the bus), new audit records or new subscription messages. Yet their
images are, by design, exactly the items the original changes wrote — nothing in the item can
tell them apart. So the projector marks every write that reproduces what the log already holds
(a replayed event's, with the replay's name; a live profile change's, with its event id — see
``services.user_projector.logic``): it writes the new state with ``REPLAY_MARK`` set, then
removes the mark with a second write conditioned on it (``services.user_projector.store``).
Both stream records are the replay's:

- the first write's new image carries the mark;
- the second's old image carries it and its new image is that old image without it.

Global tables (version 2017.11.29) broke their replication loop the same way, with
``aws:rep:updateregion`` written into items; the mark here is removed, so a rebuilt table holds
nothing the original did not. The API's ``updateUser`` removes a mark it finds, so an edit
racing the second write is a change of its own (its new image differs in more than the mark).

Plain Python: the audit trail and the change publisher read it on their cold paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.names import REPLAY_MARK


def caused_by_replay(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether a stream record (its images, as plain values or DynamoDB JSON alike) is one of the
    projector's two writes of a replayed event."""
    if new is not None and REPLAY_MARK in new:
        return True
    if old is None or new is None or REPLAY_MARK not in old:
        return False
    return {name: value for name, value in old.items() if name != REPLAY_MARK} == dict(new)


def without_mark(image: Mapping[str, Any]) -> dict[str, Any]:
    """An image as the item's own attributes: the mark is bookkeeping of a replay, never data."""
    return {name: value for name, value in image.items() if name != REPLAY_MARK}
