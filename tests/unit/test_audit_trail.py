from __future__ import annotations

import json
from typing import Any

import pytest

from services.audit_trail.handler import process_batch
from services.audit_trail.logic import audit_id, audit_record_from, fingerprint
from tests.fakes import FakeAuditStore
from tests.support import load_event, stream_event

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"


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
    stored = json.dumps(record.model_dump(by_alias=True, mode="json"))
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
