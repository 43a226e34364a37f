"""Puts a ``UserProfileChanged`` event on the bus: the one EventBridge call this function may
make (its policy allows ``events:PutEvents`` on the bus only).

``PutEvents`` answers 200 even when it rejected the entry: the rejection is in
``FailedEntryCount`` and the entry's ``ErrorCode``. Either raises, so the stream record is
reported failed and delivered again (then bisected, then sent to the on-failure queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts.user_profile_changed import ProfileChangedDetail, put_events_entry

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient


class ProfileChangedNotPublishedError(RuntimeError):
    """EventBridge did not take the event; the message names the user and the error code."""


class EventBusPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def put(self, detail: ProfileChangedDetail) -> str:
        """Put one event; returns the id EventBridge gave it."""
        entry: Any = put_events_entry(detail, self._bus_name)
        response = self._client.put_events(Entries=[entry])
        entries = response.get("Entries") or []
        result: dict[str, Any] = dict(entries[0]) if len(entries) == 1 else {}
        event_id = result.get("EventId")
        if response.get("FailedEntryCount", 0) or not isinstance(event_id, str) or not event_id:
            code = str(result.get("ErrorCode", "no entry result"))
            raise ProfileChangedNotPublishedError(
                f"UserProfileChanged for {detail.get('sub')} v{detail.get('_version')}: {code}"
            )
        return event_id
