"""The email change and the tombstone against DynamoDB (moto, a table declared as the topology's
``USER_TABLE``): each outcome, what a tombstone keeps, and that a write which would change
nothing writes nothing (so the table's stream records nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts import dynamodb
from contracts.lifecycle import is_tombstone
from contracts.names import REPLAY_MARK, TOMBSTONE_DAYS
from contracts.topology import USER_TABLE, ResourceNames
from services.shared.lifecycle import (
    Outcome,
    ReplayInFlightError,
    change_email,
    epoch_ms,
    tombstone,
)
from userpipe.local.provision import create_table

SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
POOL = "eu-west-1_Ab12Cd34E"
OTHER_POOL = "us-east-1_Zz98Yy76X"
NAMES = ResourceNames("test")
TABLE = NAMES.of(USER_TABLE.base_name)
NOW = datetime(2026, 12, 4, 3, 0, 0, 870_000, tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamo = boto3.client("dynamodb", region_name="eu-west-1")
        create_table(SimpleNamespace(dynamodb=dynamo), NAMES, USER_TABLE)  # type: ignore[arg-type]
        yield dynamo


def put(client: Any, **overrides: Any) -> None:
    values: dict[str, Any] = {
        "id": SUB,
        "__typename": "User",
        "userPoolId": POOL,
        "owner": SUB,
        "email": "ada@example.com",
        "name": "Ada",
        "age": 36,
        "createdAt": "2026-11-28T06:59:59.870Z",
        "updatedAt": "2026-11-29T08:00:00.000Z",
        "_version": 3,
        "_lastChangedAt": 1_795_939_200_000,
    }
    values.update(overrides)
    client.put_item(
        TableName=TABLE,
        Item=dynamodb.to_item({k: v for k, v in values.items() if v is not None}),
    )


def stored(client: Any) -> dict[str, Any] | None:
    found = client.get_item(TableName=TABLE, Key={"id": {"S": SUB}}, ConsistentRead=True)
    return dynamodb.from_item(found["Item"]) if "Item" in found else None


# --- the email change -----------------------------------------------------------------------


def test_an_email_change_sets_the_address_and_the_bookkeeping_only(client: Any) -> None:
    put(client)
    before = stored(client)
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW) is Outcome.WRITTEN
    after = stored(client)
    assert after is not None and before is not None
    assert after["email"] == "ada@new.example"
    assert after["_version"] == 4
    assert after["updatedAt"] == "2026-12-04T03:00:00.870Z"
    assert after["_lastChangedAt"] == 1_796_353_200_870
    assert {k for k in after if after[k] != before.get(k)} == {
        "email",
        "updatedAt",
        "_version",
        "_lastChangedAt",
    }


def test_an_email_change_to_the_address_the_item_holds_writes_nothing(client: Any) -> None:
    put(client)
    before = stored(client)
    assert change_email(client, TABLE, SUB, POOL, "ada@example.com", NOW) is Outcome.UNCHANGED
    assert stored(client) == before


def test_the_same_email_change_twice_moves_the_version_once(client: Any) -> None:
    put(client)
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW) is Outcome.WRITTEN
    later = NOW + timedelta(minutes=1)
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", later) is Outcome.UNCHANGED
    after = stored(client)
    assert after is not None and after["_version"] == 4
    assert after["updatedAt"] == "2026-12-04T03:00:00.870Z"


def test_an_email_change_without_an_item_is_missing_and_creates_none(client: Any) -> None:
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW) is Outcome.MISSING
    assert stored(client) is None


def test_an_email_change_of_another_pools_item_never_touches_it(client: Any) -> None:
    put(client, userPoolId=OTHER_POOL)
    before = stored(client)
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW) is Outcome.FOREIGN
    assert stored(client) == before


def test_an_email_change_of_a_deleted_user_does_nothing(client: Any) -> None:
    put(client)
    tombstone(client, TABLE, SUB, POOL, NOW)
    before = stored(client)
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW) is Outcome.DELETED
    assert stored(client) == before


def test_an_email_change_waits_for_a_replays_second_write(client: Any) -> None:
    put(client, **{REPLAY_MARK: "userpipe-rebuild-1"})
    before = stored(client)
    with pytest.raises(ReplayInFlightError) as raised:
        change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW)
    assert raised.value.user_id == SUB
    assert "ada" not in str(raised.value)  # ids only, never the address
    assert stored(client) == before


def test_an_item_without_email_takes_one(client: Any) -> None:
    put(client, email=None)
    assert change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW) is Outcome.WRITTEN
    after = stored(client)
    assert after is not None and after["email"] == "ada@new.example"


# --- the tombstone --------------------------------------------------------------------------


def test_a_tombstone_keeps_no_personal_data_and_expires_after_the_window(client: Any) -> None:
    put(client)
    assert tombstone(client, TABLE, SUB, POOL, NOW) is Outcome.WRITTEN
    after = stored(client)
    assert after is not None and is_tombstone(after)
    assert not {"email", "name", "age"} & after.keys()
    assert after["_ttl"] == int(NOW.timestamp()) + TOMBSTONE_DAYS * 86_400
    assert after["_version"] == 4
    assert after["updatedAt"] == "2026-12-04T03:00:00.870Z"
    assert after["_lastChangedAt"] == epoch_ms(NOW)
    # what is not personal data beyond the sub stays
    assert {k: after[k] for k in ("id", "owner", "userPoolId", "createdAt", "__typename")} == {
        "id": SUB,
        "owner": SUB,
        "userPoolId": POOL,
        "createdAt": "2026-11-28T06:59:59.870Z",
        "__typename": "User",
    }


def test_a_second_tombstone_writes_nothing_and_the_version_moved_once(client: Any) -> None:
    put(client)
    assert tombstone(client, TABLE, SUB, POOL, NOW) is Outcome.WRITTEN
    before = stored(client)
    assert tombstone(client, TABLE, SUB, POOL, NOW + timedelta(days=1)) is Outcome.DELETED
    assert stored(client) == before
    assert before is not None and before["_version"] == 4


def test_a_tombstone_without_an_item_is_missing_and_creates_none(client: Any) -> None:
    assert tombstone(client, TABLE, SUB, POOL, NOW) is Outcome.MISSING
    assert stored(client) is None


def test_a_tombstone_of_another_pools_item_never_touches_it(client: Any) -> None:
    put(client, userPoolId=OTHER_POOL)
    before = stored(client)
    assert tombstone(client, TABLE, SUB, POOL, NOW) is Outcome.FOREIGN
    assert stored(client) == before


def test_a_tombstone_waits_for_a_replays_second_write(client: Any) -> None:
    put(client, **{REPLAY_MARK: "userpipe-rebuild-1"})
    before = stored(client)
    with pytest.raises(ReplayInFlightError):
        tombstone(client, TABLE, SUB, POOL, NOW)
    assert stored(client) == before


def test_an_item_explicitly_not_deleted_is_live(client: Any) -> None:
    put(client, _deleted=False)
    assert tombstone(client, TABLE, SUB, POOL, NOW) is Outcome.WRITTEN


# --- the stream ------------------------------------------------------------------------------


def test_a_call_that_changes_nothing_leaves_no_stream_record(client: Any) -> None:
    """The change publisher announces what the stream records: a write that changes nothing
    must not be made at all (moto records MODIFY even for an identical overwrite)."""
    put(client)
    streams = boto3.client("dynamodbstreams", region_name="eu-west-1")
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]

    def records() -> list[str]:
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return [r["eventName"] for r in streams.get_records(ShardIterator=iterator)["Records"]]

    assert records() == ["INSERT"]
    change_email(client, TABLE, SUB, POOL, "ada@example.com", NOW)  # unchanged
    assert records() == ["INSERT"]
    tombstone(client, TABLE, SUB, POOL, NOW)
    tombstone(client, TABLE, SUB, POOL, NOW)  # already deleted
    change_email(client, TABLE, SUB, POOL, "ada@new.example", NOW)  # deleted
    assert records() == ["INSERT", "MODIFY"]


def test_epoch_ms_agrees_with_the_iso_timestamp_to_the_millisecond() -> None:
    moment = datetime(2026, 11, 28, 6, 59, 59, 870_000, tzinfo=UTC)
    assert epoch_ms(moment) == 1_795_849_199_870
    with pytest.raises(ValueError, match="timezone-aware"):
        epoch_ms(datetime(2026, 11, 28))
