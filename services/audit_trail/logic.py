"""One DynamoDB stream record of the User table becomes one append-only audit record.

Sensitive fields (``contracts.user_fields.SENSITIVE_USER_FIELDS``: email, name, age) are kept
only as a SHA-256 fingerprint, never in plaintext. A fingerprint of a low-entropy value (an age,
a common name) is still personal data: it can be confirmed by guessing. So when a user is deleted
— a record whose new image is their tombstone (``contracts.lifecycle.is_tombstone``) — the trail
appends that record, then **redacts** every record of the user: each fingerprint becomes
``ERASED``. What happened stays: the event, which fields changed, the versions, the times. This
is the one change the trail makes to a record it wrote. Redaction runs on every delivery of the
tombstone's record, so a retried batch redacts again harmlessly, and a record appended late (an
earlier record of the same batch retried: Lambda retries a stream from its lowest failure, the
tombstone's record with it) is redacted by the tombstone's redelivery.

The projector's marked writes (a replayed event's, a live profile change's;
``contracts.replay_mark``) are not audited: they reproduce changes audited when they first
happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from contracts import dynamodb
from contracts.audit_item import AUDIT_EVENT_NAMES, ERASED, AuditedValue, AuditEntry, FieldChange
from contracts.audit_item import fingerprint as fingerprint  # re-exported
from contracts.lifecycle import is_tombstone
from contracts.names import USER_KEY, iso_utc
from contracts.replay_mark import caused_by_replay, without_mark
from contracts.user_fields import SENSITIVE_USER_FIELDS

SEQUENCE_DIGITS = 40  # DynamoDB stream sequence numbers are at most 40 digits
SECONDS_PER_DAY = 86_400
#: A stream record's time must lie between DynamoDB's launch (January 2012) and the last second
#: of year 9999: audit ids sort chronologically only with four-digit years, and anything outside
#: is a malformed record, not a write that may succeed later.
EARLIEST_CHANGE = datetime(2012, 1, 1, tzinfo=UTC).timestamp()
LATEST_CHANGE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


#: One stored record's changes, as plain values: field name → ``{"old": ..., "new": ...}``.
StoredChanges = Mapping[str, Mapping[str, Any]]


class AuditStore(Protocol):
    def append(self, record: AuditEntry) -> bool:
        """Write ``record`` unless it is already there. Returns whether it was written."""
        ...

    def changes_of(self, user_id: str) -> Iterable[tuple[str, StoredChanges]]:
        """Every record of the user, as (audit id, its changes), read consistently."""
        ...

    def replace_changes(
        self, user_id: str, audit_id: str, changes: Mapping[str, FieldChange]
    ) -> None:
        """Replace the named fields' changes in one existing record (never creates one)."""
        ...


class Audited(NamedTuple):
    """What auditing one stream record did."""

    record: AuditEntry
    appended: bool  # False: it was there already (a redelivery)
    redacted: int | None = None  # a deletion: how many of the user's records were redacted


class MalformedStreamRecordError(ValueError):
    """A stream record that cannot be audited. Its reason never quotes the images."""


def audit_id(approximate_time: datetime, sequence_number: str) -> str:
    """Chronological sort key derived only from the stream record, so redelivery repeats it."""
    return f"{iso_utc(approximate_time)}#{sequence_number.zfill(SEQUENCE_DIGITS)}"


def audit_record_from(
    stream_record: Mapping[str, Any], *, retention_days: int | None = None
) -> AuditEntry:
    change = stream_record.get("dynamodb")
    if not isinstance(change, Mapping):
        raise MalformedStreamRecordError("dynamodb: must be an object")
    try:
        sequence_number = str(change["SequenceNumber"])
        user_id = dynamodb.deserialize(change["Keys"][USER_KEY])
        seconds = float(change["ApproximateCreationDateTime"])
        event_name = stream_record["eventName"]
        event_id = stream_record["eventID"]
        # The mark is a replay's bookkeeping, never data: an edit that removed one changed
        # only what else it wrote.
        old = without_mark(dynamodb.from_item(change.get("OldImage", {})))
        new = without_mark(dynamodb.from_item(change.get("NewImage", {})))
    except KeyError as exc:
        raise MalformedStreamRecordError(f"missing {exc.args[0]}") from None
    except (TypeError, ValueError, AttributeError, dynamodb.UnsupportedAttributeError) as exc:
        raise MalformedStreamRecordError(f"unreadable record: {type(exc).__name__}") from None
    if not sequence_number.isdigit():
        raise MalformedStreamRecordError("dynamodb.SequenceNumber: not a number")
    if not EARLIEST_CHANGE <= seconds <= LATEST_CHANGE:  # False for NaN too
        raise MalformedStreamRecordError(
            "dynamodb.ApproximateCreationDateTime: must be epoch seconds between 2012 and 9999"
        )

    if event_name not in AUDIT_EVENT_NAMES:
        raise MalformedStreamRecordError(
            f"eventName: must be one of {', '.join(AUDIT_EVENT_NAMES)}"
        )

    approximate_time = datetime.fromtimestamp(seconds, UTC)
    changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    return AuditEntry(
        user_id=str(user_id),
        audit_id=audit_id(approximate_time, sequence_number),
        event_name=event_name,
        changed_fields=changed,
        changes={
            name: FieldChange(old=_audited(name, old.get(name)), new=_audited(name, new.get(name)))
            for name in changed
        },
        old_version=_version(old, "OldImage"),
        new_version=_version(new, "NewImage"),
        at=iso_utc(approximate_time),
        sequence_number=sequence_number,
        stream_event_id=str(event_id),
        expires_at=int(seconds) + retention_days * SECONDS_PER_DAY if retention_days else None,
    )


def _version(image: Mapping[str, Any], name: str) -> int | None:
    """An image's ``_version``: a whole number, or absent. Stricter than the model, which would
    also take a numeric string: a version stored as a string is not something to audit as if
    it were one."""
    value = image.get("_version")
    if value is None:
        return None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MalformedStreamRecordError(f"dynamodb.{name}._version: must be a whole number")


def audit(
    stream_record: Mapping[str, Any], store: AuditStore, *, retention_days: int | None = None
) -> Audited | None:
    """Append the audit record for one stream record; a redelivered record writes nothing, and
    a replay write neither (``None``). A deletion then redacts every record of the user."""
    if replay_write(stream_record):
        return None
    record = audit_record_from(stream_record, retention_days=retention_days)
    appended = store.append(record)
    if not _deletes_the_user(stream_record):
        return Audited(record, appended)
    return Audited(record, appended, redact_user(record.user_id, store))


def _deletes_the_user(stream_record: Mapping[str, Any]) -> bool:
    """Whether the record's new image is a tombstone its old image was not (a record
    ``audit_record_from`` has read, so its images are readable)."""
    change = stream_record["dynamodb"]
    new = dynamodb.from_item(change.get("NewImage") or {})
    old = dynamodb.from_item(change.get("OldImage") or {})
    return is_tombstone(new) and not is_tombstone(old)


def redacted(changes: StoredChanges) -> dict[str, FieldChange]:
    """The sensitive fields of one record's changes whose values are not yet erased, with
    every value ``ERASED`` (a value that was absent stays absent). Empty: nothing to redact."""
    result: dict[str, FieldChange] = {}
    for name, change in changes.items():
        if name not in SENSITIVE_USER_FIELDS:
            continue
        old, new = change.get("old"), change.get("new")
        if {old, new} <= {None, ERASED}:
            continue
        result[name] = FieldChange(
            old=None if old is None else ERASED, new=None if new is None else ERASED
        )
    return result


def redact_user(user_id: str, store: AuditStore) -> int:
    """Erase the fingerprints of every sensitive value in the user's records; how many records
    it changed (0 when done already: idempotent)."""
    count = 0
    for audit_id_, changes in store.changes_of(user_id):
        fields = redacted(changes)
        if fields:
            store.replace_changes(user_id, audit_id_, fields)
            count += 1
    return count


def replay_write(stream_record: Mapping[str, Any]) -> bool:
    """Whether the record is one of the projector's marked writes (a replay's). A record whose
    images are not objects is not: ``audit_record_from`` says what is wrong with it."""
    change = stream_record.get("dynamodb")
    if not isinstance(change, Mapping):
        return False
    old, new = change.get("OldImage"), change.get("NewImage")
    if not all(image is None or isinstance(image, Mapping) for image in (old, new)):
        return False
    return caused_by_replay(old, new)


def _audited(field: str, value: Any) -> AuditedValue:
    """What the audit keeps of a value: sensitive ones as a fingerprint, others as they are."""
    if value is None:
        return None
    if field in SENSITIVE_USER_FIELDS:
        return fingerprint(value)
    if isinstance(value, str | int | bool):
        return value
    if isinstance(value, set | frozenset):  # string, number or binary sets, in a stable order
        value = sorted(value, key=str)
    return json.dumps(value, default=str, sort_keys=True)
