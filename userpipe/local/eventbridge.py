"""What EventBridge does with an event a rule cannot deliver, which moto does not do.

moto 5.2.5 delivers a rule's SQS targets synchronously, inside ``PutEvents``, and when the
target queue does not exist the exception fails the whole ``PutEvents`` — the trigger would
report a failed publish. EventBridge accepts the event; a target that no longer exists is not
retried, the event goes straight to the target's dead-letter queue (EventBridge user guide,
"Using dead-letter queues to process undelivered events"), with message attributes saying
why, or is dropped when the target has none.

``install()`` wraps moto's SQS delivery to do that. It is the one place the local stack
changes the emulator's behaviour rather than adding around it; it affects only this process
and is idempotent.
"""

from __future__ import annotations

import json
from typing import Any, Final

from moto.events.models import Rule
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

_MARK: Final = "_userpipe_dead_letters"


def install() -> None:
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
