from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from contracts import dynamodb
from contracts.audit_item import ERASED, FieldChange
from contracts.audit_model import AuditRecord
from contracts.names import REPLAY_MARK
from services.audit_trail.handler import process_batch
from services.audit_trail.logic import (
    MalformedStreamRecordError,
    audit_id,
    audit_record_from,
    fingerprint,
    redact_user,
)
from services.audit_trail.store import DynamoAuditStore
from tests.support import FakeAuditLog, load_event, replay_writes, stream_event

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
MARK = {"S": "userpipe-rebuild-1"}


def failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_an_insert_is_audited_with_its_fields_and_version() -> None:
    record = audit_record_from(load_event("dynamodb_stream_insert"))
    assert record.user_id == SUB
    assert record.event_name == "INSERT"
    assert (record.old_version, record.new_version) == (None, 1)
    assert "email" in record.changed_fields and "_version" in record.changed_fields
    assert record.at == "2026-11-28T07:00:00.000Z"
    assert record.audit_id == "2026-11-28T07:00:00.000Z#" + "111100000000000012345678901".zfill(40)
    assert record.stream_event_id == "c4ca4238a0b923820dcc509a6f75849b"
    assert record.expires_at is None


def test_a_modify_names_exactly_the_changed_fields() -> None:
    record = audit_record_from(load_event("dynamodb_stream_modify"))
    assert record.changed_fields == [
        "_lastChangedAt",
        "_version",
        "age",
        "email",
        "name",
        "updatedAt",
    ]
    assert (record.old_version, record.new_version) == (1, 2)
    assert record.changes["updatedAt"].new == "2026-11-28T07:01:00.000Z"


def test_a_remove_is_audited_with_the_last_version() -> None:
    removed = load_event("dynamodb_stream_modify", eventName="REMOVE")
    del removed["dynamodb"]["NewImage"]
    record = audit_record_from(removed)
    assert record.event_name == "REMOVE"
    assert (record.old_version, record.new_version) == (1, None)
    assert "email" in record.changed_fields
    assert record.changes["email"].new is None


def test_email_name_and_age_are_kept_only_as_fingerprints() -> None:
    record = audit_record_from(load_event("dynamodb_stream_modify"))
    stored = json.dumps(record.to_item())
    assert "example.com" not in stored and "Ada" not in stored and '"36"' not in stored
    assert record.changes["email"].old == fingerprint("ada@example.com")
    assert record.changes["email"].new == fingerprint("ada.lovelace@example.com")
    assert record.changes["name"].new == fingerprint("Ada")
    assert record.changes["age"].new == fingerprint(36)
    assert (record.changes["name"].old, record.changes["age"].old) == (None, None)


def test_audit_ids_sort_chronologically() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 28, tzinfo=UTC)
    later = datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC)
    ids = [audit_id(moment, "9"), audit_id(moment, "10"), audit_id(later, "2")]
    assert sorted(ids) == ids


def test_retention_sets_a_ttl_from_the_change_time() -> None:
    record = audit_record_from(load_event("dynamodb_stream_insert"), retention_days=30)
    assert record.expires_at == 1_795_849_200 + 30 * 86_400


def test_a_redelivered_batch_writes_nothing_new(lambda_context: Any) -> None:
    store = FakeAuditLog()
    event = stream_event(load_event("dynamodb_stream_insert"), load_event("dynamodb_stream_modify"))
    assert failures(process_batch(event, lambda_context, store)) == []
    first = dict(store.records)
    assert failures(process_batch(event, lambda_context, store)) == []
    assert store.records == first and len(first) == 2


@pytest.mark.parametrize("change", ["dynamodb_stream_insert", "dynamodb_stream_modify"])
def test_both_replay_writes_are_not_audited(change: str, lambda_context: Any) -> None:
    store = FakeAuditLog()
    event = stream_event(*replay_writes(load_event(change)))
    assert failures(process_batch(event, lambda_context, store)) == []
    assert store.records == {}


def test_an_edit_that_removed_a_replay_mark_is_audited_without_the_mark(
    lambda_context: Any,
) -> None:
    edit = load_event("dynamodb_stream_modify")  # raced the projector's cleanup
    edit["dynamodb"]["OldImage"][REPLAY_MARK] = MARK
    store = FakeAuditLog()
    assert failures(process_batch(stream_event(edit), lambda_context, store)) == []
    [record] = store.records.values()
    assert (
        record.changed_fields
        == audit_record_from(load_event("dynamodb_stream_modify")).changed_fields
    )
    assert REPLAY_MARK not in record.changed_fields and record.new_version == 2


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r["dynamodb"].pop("Keys"),
        lambda r: r["dynamodb"].update(SequenceNumber="abc"),
        lambda r: r["dynamodb"].update(NewImage={"_version": {"Q": "1"}}),
        lambda r: r.update(eventName="UPSERT"),
    ],
    ids=["no-keys", "bad-sequence", "unknown-type", "bad-event-name"],
)
def test_a_malformed_stream_record_fails_alone(
    breakage: Any, lambda_context: Any, log_lines: Any
) -> None:
    bad = load_event("dynamodb_stream_modify")
    breakage(bad)
    store = FakeAuditLog()
    response = process_batch(
        stream_event(load_event("dynamodb_stream_insert"), bad), lambda_context, store
    )
    assert failures(response) == [bad["dynamodb"]["SequenceNumber"]]
    assert len(store.records) == 1
    assert "example.com" not in json.dumps(log_lines())


def test_auditing_logs_no_email(lambda_context: Any, log_lines: Any) -> None:
    event = stream_event(load_event("dynamodb_stream_insert"), load_event("dynamodb_stream_modify"))
    process_batch(event, lambda_context, FakeAuditLog())
    assert [line["message"] for line in log_lines()] == ["audit record written"] * 2
    assert "example.com" not in json.dumps(log_lines())


@pytest.fixture
def audit_store(monkeypatch: pytest.MonkeyPatch) -> FakeAuditLog:
    """What the Lambda entry point writes to, in memory."""
    from services.audit_trail import handler

    store = FakeAuditLog()
    monkeypatch.setattr(handler, "default_store", lambda: store)
    monkeypatch.setattr(handler, "default_settings", lambda: handler.Settings("audit", None))
    return store


def insert_at(sequence: str, **change: Any) -> dict[str, Any]:
    record = load_event("dynamodb_stream_insert")
    record["dynamodb"] |= {"SequenceNumber": sequence, **change}
    return record


@pytest.mark.parametrize(
    "moment",
    [float("nan"), float("inf"), float("-inf"), 1e20, -1, 0, 253_402_300_800, "soon"],
    ids=["nan", "inf", "-inf", "1e20", "negative", "1970", "year-10000", "text"],
)
def test_an_absurd_change_time_is_a_malformed_record_that_fails_alone(
    moment: Any, audit_store: FakeAuditLog, lambda_context: Any, log_lines: Any
) -> None:
    from services.audit_trail.handler import lambda_handler

    event = stream_event(
        insert_at("100"), insert_at("200", ApproximateCreationDateTime=moment), insert_at("300")
    )
    response = lambda_handler(event, lambda_context)

    assert failures(response) == ["200"]
    assert sorted(record.sequence_number for record in audit_store.records.values()) == [
        "100",
        "300",
    ]
    (rejected,) = [line for line in log_lines() if line["level"] == "WARNING"]
    assert rejected["message"] == "stream record rejected"
    assert rejected["sequence_number"] == "200"
    assert "ApproximateCreationDateTime" in rejected["reason"] or "unreadable" in rejected["reason"]


@pytest.mark.parametrize("dynamodb", ["garbage", ["a"], None, 7, {"Keys": {}}])
def test_a_record_without_a_readable_dynamodb_object_fails_alone(
    dynamodb: Any, audit_store: FakeAuditLog, lambda_context: Any, log_lines: Any
) -> None:
    """Lambda cannot be told a record without a sequence number failed; it is reported under
    the record before it, so the retry starts there and takes it in."""
    from services.audit_trail.handler import lambda_handler

    bad = load_event("dynamodb_stream_insert", dynamodb=dynamodb)
    response = lambda_handler(stream_event(insert_at("100"), bad, insert_at("300")), lambda_context)

    assert failures(response) == ["100"]
    assert len(audit_store.records) == 2
    (rejected,) = [line for line in log_lines() if line["message"] == "stream record rejected"]
    assert "dynamodb: must be an object with a SequenceNumber" in rejected["reason"]


def test_an_unreadable_first_record_fails_the_batch_with_an_empty_identifier(
    audit_store: FakeAuditLog, lambda_context: Any
) -> None:
    from services.audit_trail.handler import lambda_handler

    bad = load_event("dynamodb_stream_insert", dynamodb="garbage")
    response = lambda_handler(stream_event(bad, insert_at("300")), lambda_context)
    assert failures(response) == [""]  # Lambda: retry the whole batch; bisection isolates it
    assert len(audit_store.records) == 1


def test_sets_and_binary_values_the_api_never_writes_are_audited(lambda_context: Any) -> None:
    record = load_event("dynamodb_stream_modify")
    record["dynamodb"]["NewImage"] |= {"flags": {"NS": ["2", "1"]}, "avatar": {"B": "iVBORw=="}}
    audited = audit_record_from(record)
    assert audited.changes["flags"].new == "[1, 2]"
    assert audited.changes["avatar"].new is not None


# --- the plain-Python audit record agrees with the AuditRecord model ---------------------------

attribute_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
).map(dynamodb.serialize)
versions = st.sampled_from([None, {"N": "1"}, {"N": "7"}, {"N": "1.5"}, {"S": "1"}, {"BOOL": True}])
images = st.dictionaries(
    st.sampled_from(["email", "name", "age", "updatedAt", "flags", "_lastChangedAt"]),
    attribute_values,
    max_size=4,
)


@st.composite
def stream_records(draw: st.DrawFn) -> dict[str, Any]:
    record = load_event("dynamodb_stream_modify")
    record["eventName"] = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE", "UPSERT"]))
    change = record["dynamodb"]
    for image in ("OldImage", "NewImage"):
        if draw(st.booleans()):
            change.pop(image, None)
            continue
        change[image] = {"id": {"S": SUB}, **draw(images)}
        version = draw(versions)
        if version is not None:
            change[image]["_version"] = version
    return record


@settings(max_examples=500, deadline=None)
@given(stream_records(), st.sampled_from([None, 1, 90]))
def test_the_plain_audit_record_is_the_item_the_model_would_store(
    record: dict[str, Any], retention_days: int | None
) -> None:
    """``AuditEntry`` keeps pydantic off the audit trail's cold path; ``AuditRecord`` stays the
    declaration (and what the API reads back), so what the first stores the second must store
    identically, and nothing it refuses may get through."""
    try:
        entry = audit_record_from(record, retention_days=retention_days)
    except MalformedStreamRecordError:
        return
    model = AuditRecord.model_validate(entry.values())
    assert entry.to_item() == model.to_item()
    assert AuditRecord.from_item(entry.to_item()) == model


def test_a_version_that_is_not_a_whole_number_is_refused_by_name() -> None:
    record = load_event("dynamodb_stream_modify")
    record["dynamodb"]["NewImage"]["_version"] = {"S": "2"}
    with pytest.raises(MalformedStreamRecordError, match=r"NewImage\._version: must be a whole"):
        audit_record_from(record)


# --- a deleted user's records are redacted -----------------------------------------------------

OTHER = "0f1e2d3c-4b5a-4697-8877-665544332211"


def life_of(sub: str, first_sequence: int) -> list[dict[str, Any]]:
    """A user's stream records: created, edited (email, name, age), then deleted (the
    tombstone: the personal fields removed, ``_deleted``, ``_ttl``)."""
    created, edited = load_event("dynamodb_stream_insert"), load_event("dynamodb_stream_modify")
    deleted = load_event("dynamodb_stream_modify")
    change = deleted["dynamodb"]
    change["OldImage"] = copy.deepcopy(edited["dynamodb"]["NewImage"])
    new = change["NewImage"] = copy.deepcopy(change["OldImage"])
    for name in ("email", "name", "age"):
        del new[name]
    new |= {
        "_deleted": {"BOOL": True},
        "_ttl": {"N": "1798441260"},
        "_version": {"N": "3"},
        "updatedAt": {"S": "2026-11-28T07:05:00.000Z"},
    }
    change["ApproximateCreationDateTime"] += 240
    records = [created, edited, deleted]
    for index, record in enumerate(records):
        record["dynamodb"]["SequenceNumber"] = str(first_sequence + index)
        for image in ("Keys", "OldImage", "NewImage"):
            if image in record["dynamodb"]:
                record["dynamodb"][image]["id"] = {"S": sub}
                if "owner" in record["dynamodb"][image]:
                    record["dynamodb"][image]["owner"] = {"S": sub}
    return records


def stored_text(store: Any, sub: str) -> str:
    return json.dumps([item for (user, _), item in store.items.items() if user == sub])


def test_a_deletion_redacts_every_record_of_the_user_keeping_what_happened(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeAuditLog()
    before = [audit_record_from(record) for record in life_of(SUB, 100)[:2]]

    response = process_batch(stream_event(*life_of(SUB, 100)), lambda_context, store)

    assert failures(response) == []
    assert "sha256:" not in stored_text(store, SUB)
    records = [AuditRecord.from_item(item) for (user, _), item in sorted(store.items.items())]
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "MODIFY"]
    for record, original in zip(records, before, strict=False):
        assert record.changed_fields == original.changed_fields
        assert (record.old_version, record.new_version, record.at) == (
            original.old_version,
            original.new_version,
            original.at,
        )
    created, edited, deleted = records
    assert created.changes["email"].model_dump() == {"old": None, "new": ERASED}
    assert edited.changes["name"].model_dump() == {"old": None, "new": ERASED}
    assert edited.changes["email"].model_dump() == {"old": ERASED, "new": ERASED}
    assert edited.changes["updatedAt"].new == "2026-11-28T07:01:00.000Z"  # not personal data
    assert deleted.changes["age"].model_dump() == {"old": ERASED, "new": None}
    assert "_deleted" in deleted.changed_fields and deleted.new_version == 3
    line = log_lines()[-1]
    assert (line["message"], line["redacted"]) == ("user deleted: their audit records redacted", 3)


def test_redaction_leaves_other_users_alone() -> None:
    store = FakeAuditLog()
    process_batch(stream_event(*life_of(OTHER, 200)[:2], *life_of(SUB, 100)), None, store)
    assert stored_text(store, OTHER).count("sha256:") == 5  # email; email, name, age; email old


def test_a_redelivered_deletion_redacts_again_harmlessly(
    lambda_context: Any, log_lines: Any
) -> None:
    store = FakeAuditLog()
    batch = stream_event(*life_of(SUB, 100))
    process_batch(batch, lambda_context, store)
    redacted = copy.deepcopy(store.items)

    assert failures(process_batch(batch, lambda_context, store)) == []

    assert store.items == redacted
    assert log_lines()[-1]["redacted"] == 0


def test_a_record_appended_after_the_redaction_is_redacted_by_the_retry(
    lambda_context: Any,
) -> None:
    """Every record of a stream batch is attempted: an earlier one that failed is appended
    after the tombstone's redaction, on the retry, which starts at it and takes the tombstone's
    record in again."""
    created, edited, deleted = life_of(SUB, 100)
    store = FakeAuditLog()
    store.append = lambda record, append=store.append: (  # type: ignore[method-assign]
        append(record) if record.sequence_number != "101" else _fail()
    )
    first = process_batch(stream_event(created, edited, deleted), lambda_context, store)
    assert failures(first) == ["101"]
    del store.append  # the store answers again

    assert failures(process_batch(stream_event(edited, deleted), lambda_context, store)) == []

    assert len(store.items) == 3 and "sha256:" not in stored_text(store, SUB)


def _fail() -> bool:
    raise ConnectionError("throttled")


def test_a_failed_redaction_fails_the_record_for_a_retry(lambda_context: Any) -> None:
    store = FakeAuditLog(fail_replacements=1)
    batch = stream_event(*life_of(SUB, 100))
    assert failures(process_batch(batch, lambda_context, store)) == ["102"]
    assert failures(process_batch(batch, lambda_context, store)) == []
    assert "sha256:" not in stored_text(store, SUB)


def test_a_deleted_flag_already_set_redacts_nothing_again(lambda_context: Any) -> None:
    """Only the record that makes the tombstone deletes the user (a TTL removal of it later
    holds nothing personal, and redacts nothing)."""
    *_, deleted = life_of(SUB, 100)
    expiry = copy.deepcopy(deleted)
    expiry["eventName"] = "REMOVE"
    expiry["dynamodb"]["OldImage"] = expiry["dynamodb"].pop("NewImage")
    expiry["dynamodb"]["SequenceNumber"] = "999"
    store = FakeAuditLog()
    process_batch(stream_event(expiry), lambda_context, store)
    assert list(store.items) == [(SUB, audit_record_from(expiry).audit_id)]


# --- the Audit table in DynamoDB (moto): the same contract ---------------------------------------


@pytest.fixture(params=["dynamodb", "fake"])
def audit_table(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeAuditLog()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="audit",
            KeySchema=[
                {"AttributeName": "userId", "KeyType": "HASH"},
                {"AttributeName": "auditId", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "userId", "AttributeType": "S"},
                {"AttributeName": "auditId", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoAuditStore(client, "audit")


def test_the_store_reads_a_users_records_and_replaces_their_changes(audit_table: Any) -> None:
    records = [audit_record_from(record) for record in life_of(SUB, 100)]
    for record in [*records, *(audit_record_from(r) for r in life_of(OTHER, 200))]:
        assert audit_table.append(record) is True

    found = dict(audit_table.changes_of(SUB))
    assert sorted(found) == sorted(record.audit_id for record in records)
    assert found[records[1].audit_id]["name"] == {"old": None, "new": fingerprint("Ada")}

    assert redact_user(SUB, audit_table) == 3
    assert redact_user(SUB, audit_table) == 0
    after = dict(audit_table.changes_of(SUB))
    assert after[records[1].audit_id]["name"] == {"old": None, "new": ERASED}
    assert "sha256:" not in json.dumps(after)
    assert "sha256:" in json.dumps(dict(audit_table.changes_of(OTHER)))


def test_the_store_never_creates_a_record_when_replacing(audit_table: Any) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - moto's ConditionalCheckFailed, the fake's KeyError
        audit_table.replace_changes(SUB, "2026-11-28T07:00:00.000Z#1", {"email": FieldChange()})
    assert list(audit_table.changes_of(SUB)) == []


def test_the_store_reads_every_page(audit_table: Any) -> None:
    """A user with more records than one Query page (1 MB) holds: read to the last page."""
    if not isinstance(audit_table, DynamoAuditStore):
        pytest.skip("paging is DynamoDB's")
    template = audit_record_from(life_of(SUB, 100)[1])
    padding = "x" * 60_000  # ~60 KB a record: 1 MB is ~17 of them
    for index in range(40):
        values = template.values() | {"auditId": f"2026-11-28T07:00:{index:02d}.000Z#{index}"}
        values["changes"] |= {"note": {"old": None, "new": padding}}
        audit_table._client.put_item(TableName="audit", Item=dynamodb.to_item(values))
    assert len(list(audit_table.changes_of(SUB))) == 40
