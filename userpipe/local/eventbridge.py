"""Two things EventBridge does that moto 5.2.5 does not — with ``userpipe.local.dynamodb``, the
only places the local stack changes the emulator's behaviour rather than adding around it
(``install()``: this process only, idempotent).

- **Undeliverable targets.** moto delivers a rule's SQS targets inside ``PutEvents``; when the
  target queue does not exist the exception fails the whole ``PutEvents`` (the trigger would
  report a failed publish). EventBridge accepts the event; a target that no longer exists is
  not retried, the event goes straight to the target's dead-letter queue with message
  attributes saying why, or is dropped when there is none (EventBridge user guide, "Using
  dead-letter queues to process undelivered events").
- **Replays.** moto's ``StartReplay`` replays the whole archive to every rule of the bus. A
  replay in EventBridge sends only the events whose time lies in ``[EventStartTime,
  EventEndTime)``, and only to the rules in ``Destination.FilterArns`` when given (API
  reference, ``StartReplay``). The local replay does the same, in event-time order
  (EventBridge replays in one-minute buckets, in no particular order, and lags the archive by
  minutes), and reports ``EventLastReplayedTime``, which moto leaves out. Like EventBridge's,
  it runs after ``StartReplay`` has answered (``RUNNING`` until ``COMPLETED``): moto replays
  inside the request, where a rebuild of 2,000 users outlasts botocore's 60-second read
  timeout, and the retry fails with ``ResourceAlreadyExistsException``.

  It also holds back while a target queue holds ``REPLAY_QUEUE_LIMIT`` messages or more.
  EventBridge does not wait for consumers, but an SQS queue costs the same however deep it is;
  moto 5.2.5's costs grow with the depth (every receive and delete walks the whole queue), so
  an unpaced replay makes the emulator, not userpipe, the thing measured. About time only:
  every event is delivered, in the same order.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Final

from moto.core.utils import unix_time
from moto.events.models import Archive, Replay, ReplayState, Rule, events_backends
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

_MARK: Final = "_userpipe_dead_letters"
#: A replay waits while one of its target queues holds this many messages (see above).
REPLAY_QUEUE_LIMIT: Final = 100


def install() -> None:
    if not getattr(Replay.replay_events, _MARK, False):
        setattr(_replay_window, _MARK, True)
        Replay.replay_events = _replay_window  # type: ignore[method-assign]
        original_describe = Replay.describe

        def describe(self: Replay) -> dict[str, Any]:
            last = getattr(self, "event_last_replayed_time", None)
            reason = getattr(self, "state_reason", None)
            return {
                **original_describe(self),
                **({"EventLastReplayedTime": last} if last else {}),
                **({"StateReason": reason} if reason else {}),
            }

        Replay.describe = describe  # type: ignore[method-assign]
    original = Rule._send_to_sqs_queue
    if getattr(original, _MARK, False):
        return

    def deliver(
        self: Rule, resource_id: str, event: dict[str, Any], group_id: str | None = None
    ) -> None:
        try:
            original(self, resource_id, event, group_id)
        except QueueDoesNotExist:
            _dead_letter(self, resource_id, event)

    setattr(deliver, _MARK, True)
    Rule._send_to_sqs_queue = deliver  # type: ignore[method-assign]


def _replay_window(self: Replay, archive: Archive) -> None:
    """``StartReplay``'s work: chosen now, delivered by a thread of its own."""
    start, end = _moment(self.event_start_time), _moment(self.event_end_time)
    only = set(self.destination.get("FilterArns") or ())
    backend = events_backends[self.account_id][self.region]
    bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
    rules = [rule for rule in bus.rules.values() if not only or rule.arn in only]
    chosen = sorted(
        (e for e in archive.events if start <= _moment(e.get("time")) < end),
        key=lambda e: _moment(e.get("time")),
    )
    self.state = ReplayState.RUNNING
    threading.Thread(
        target=_deliver, args=(self, rules, chosen), name=f"replay:{self.name}", daemon=True
    ).start()


def _deliver(replay: Replay, rules: list[Rule], events: list[dict[str, Any]]) -> None:
    queues = [queue for rule in rules for queue in _target_queues(rule)]
    try:
        for event in events:
            while any(len(queue._messages) >= REPLAY_QUEUE_LIMIT for queue in queues):
                time.sleep(0.01)
            replayed = {**event, "id": str(uuid.uuid4()), "replay-name": replay.name}
            for rule in rules:
                rule.send_to_targets(replayed, transform_input=False)  # type: ignore[arg-type]
            replay.event_last_replayed_time = _moment(event.get("time"))  # type: ignore[attr-defined]
    except Exception as error:
        replay.state = ReplayState.FAILED
        replay.state_reason = f"{type(error).__name__}: {error}"  # type: ignore[attr-defined]
    else:
        replay.state = ReplayState.COMPLETED
    replay.end_time = unix_time()


def _target_queues(rule: Rule) -> list[Any]:
    """The emulator's queues a rule's SQS targets name (those that exist)."""
    found = []
    for target in rule.targets:
        arn = parse_arn(target["Arn"])
        if arn.service == "sqs":
            queue = sqs_backends[arn.account][arn.region].queues.get(arn.resource_id)
            if queue is not None:
                found.append(queue)
    return found


def _moment(value: Any) -> float:
    """Epoch seconds from what the emulator stores: a number or an ISO-8601 string."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _dead_letter(rule: Rule, resource_id: str, event: dict[str, Any]) -> None:
    target = next((t for t in rule.targets if parse_arn(t["Arn"]).resource_id == resource_id), None)
    dlq = ((target or {}).get("DeadLetterConfig") or {}).get("Arn")
    if not dlq:
        return  # EventBridge drops it (its EventsDropped metric is the only trace)
    attributes = {
        "ERROR_CODE": "SQS.NonExistentQueue",
        "ERROR_MESSAGE": f"the target queue {resource_id} does not exist",
        "RULE_ARN": rule.arn,
        "TARGET_ARN": (target or {}).get("Arn", ""),
    }
    arn = parse_arn(dlq)
    sqs_backends[arn.account][arn.region].send_message(
        queue_name=arn.resource_id,
        message_body=json.dumps(event),
        message_attributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    )
