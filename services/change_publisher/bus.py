"""Puts a userpipe event on the bus: the one EventBridge call this function may make (its
policy allows ``events:PutEvents`` on the bus only).

``PutEvents`` answers 200 even when it rejected the entry: the rejection is in
``FailedEntryCount`` and the entry's ``ErrorCode``. Either raises, so the stream record is
reported failed and delivered again (then bisected, then sent to the on-failure queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from contracts.event_fields import EVENT_TYPES
from services.change_publisher.logic import BusEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

_EVENT_TYPES: Final = {event_type.detail_type: event_type for event_type in EVENT_TYPES}


class EventNotPublishedError(RuntimeError):
    """EventBridge did not take the event; the message names the event, the user, the version
    and the error code."""


class EventBusPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def put(self, event: BusEvent) -> str:
        """Put one event; returns the id EventBridge gave it."""
        detail = event.detail
        entry: Any = _EVENT_TYPES[event.detail_type].put_events_entry(detail, self._bus_name)
        response = self._client.put_events(Entries=[entry])
        entries = response.get("Entries") or []
        result: dict[str, Any] = dict(entries[0]) if len(entries) == 1 else {}
        event_id = result.get("EventId")
        if response.get("FailedEntryCount", 0) or not isinstance(event_id, str) or not event_id:
            code = str(result.get("ErrorCode", "no entry result"))
            raise EventNotPublishedError(
                f"{event.detail_type} for {detail.get('sub')} v{detail.get('_version')}: {code}"
            )
        return event_id
