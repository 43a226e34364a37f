from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import dynamodb
from contracts.audit_model import AuditRecord
from contracts.names import REPLAY_MARK
from services.audit_trail.handler import process_batch
from services.audit_trail.logic import (
    MalformedStreamRecordError,
    audit_id,
    audit_record_from,
    fingerprint,
)
from tests.fakes import FakeAuditStore
from tests.support import load_event, replay_writes, stream_event

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
    assert record.changes["name"].new == "Ada" and record.changes["age"].new == 36


def test_a_remove_is_audited_with_the_last_version() -> None:
    removed = load_event("dynamodb_stream_modify", eventName="REMOVE")
    del removed["dynamodb"]["NewImage"]
    record = audit_record_from(removed)
    assert record.event_name == "REMOVE"
    assert (record.old_version, record.new_version) == (1, None)
    assert "email" in record.changed_fields
    assert record.changes["email"].new is None


def test_email_is_kept_only_as_a_fingerprint() -> None:
    record = audit_record_from(load_event("dynamodb_stream_modify"))
    stored = json.dumps(record.to_item())
    assert "example.com" not in stored
    assert record.changes["email"].old == fingerprint("ada@example.com")
    assert record.changes["email"].new == fingerprint("ada.lovelace@example.com")
    assert record.changes["email"].new.startswith("sha256:")


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
    store = FakeAuditStore()
    event = stream_event(load_event("dynamodb_stream_insert"), load_event("dynamodb_stream_modify"))
    assert failures(process_batch(event, lambda_context, store)) == []
    first = dict(store.records)
    assert failures(process_batch(event, lambda_context, store)) == []
    assert store.records == first and len(first) == 2


@pytest.mark.parametrize("change", ["dynamodb_stream_insert", "dynamodb_stream_modify"])
def test_both_replay_writes_are_not_audited(change: str, lambda_context: Any) -> None:
    store = FakeAuditStore()
    event = stream_event(*replay_writes(load_event(change)))
    assert failures(process_batch(event, lambda_context, store)) == []
    assert store.records == {}


def test_an_edit_that_removed_a_replay_mark_is_audited_without_the_mark(
    lambda_context: Any,
) -> None:
    edit = load_event("dynamodb_stream_modify")  # raced the projector's cleanup
    edit["dynamodb"]["OldImage"][REPLAY_MARK] = MARK
    store = FakeAuditStore()
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
    store = FakeAuditStore()
    response = process_batch(
        stream_event(load_event("dynamodb_stream_insert"), bad), lambda_context, store
    )
    assert failures(response) == [bad["dynamodb"]["SequenceNumber"]]
    assert len(store.records) == 1
    assert "example.com" not in json.dumps(log_lines())


def test_auditing_logs_no_email(lambda_context: Any, log_lines: Any) -> None:
    event = stream_event(load_event("dynamodb_stream_insert"), load_event("dynamodb_stream_modify"))
    process_batch(event, lambda_context, FakeAuditStore())
    assert [line["message"] for line in log_lines()] == ["audit record written"] * 2
    assert "example.com" not in json.dumps(log_lines())


@pytest.fixture
def audit_store(monkeypatch: pytest.MonkeyPatch) -> FakeAuditStore:
    """What the Lambda entry point writes to, in memory."""
    from services.audit_trail import handler

    store = FakeAuditStore()
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
    moment: Any, audit_store: FakeAuditStore, lambda_context: Any, log_lines: Any
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
    dynamodb: Any, audit_store: FakeAuditStore, lambda_context: Any, log_lines: Any
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
    audit_store: FakeAuditStore, lambda_context: Any
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
