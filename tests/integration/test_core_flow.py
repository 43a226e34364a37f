"""The core flow end to end on moto: the real handlers, wired as infra wires them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.events import UserConfirmedEnvelope
from contracts.names import TRIGGER_CONFIRM_FORGOT_PASSWORD
from contracts.topology import AUDIT_SOURCE, PROJECTOR_SOURCE
from services.audit_trail import handler as audit_trail
from services.confirm_trigger.publisher import EventBridgePublisher, PublishFailedError
from services.user_api.logic import VersionConflict
from tests.support import all_stream_records, cognito_sign_up
from userpipe.local.pipeline import LocalPipeline

pytestmark = pytest.mark.integration
PASSWORD = "Correct-Horse-9-Battery"


def queue_depth(pipe: LocalPipeline, url: str) -> int:
    attributes = pipe.clients.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def raw_messages(pipe: LocalPipeline) -> list[dict[str, Any]]:
    """Take what waits in the projector's queue (without projecting it) and put it back."""
    sqs, url = pipe.clients.sqs, pipe.resources.projector_queue.url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [json.loads(message["Body"]) for message in messages]


def test_a_sign_up_becomes_one_user_and_one_audit_record(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    settled = pipeline.settle()

    assert (settled.messages, settled.stream_records) == (1, 1)
    user = pipeline.users()[sub]
    assert (user.email, user.owner, user.version, user.typename) == (
        "ada@example.com",
        sub,
        1,
        "User",
    )
    (record,) = pipeline.audit_records()
    assert (record.user_id, record.event_name, record.new_version) == (sub, "INSERT", 1)


def test_the_published_event_matches_the_contract(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    (body,) = raw_messages(pipeline)
    envelope = UserConfirmedEnvelope.model_validate(body)
    assert envelope.detail.sub == sub
    assert envelope.detail.user_pool_id == pipeline.resources.user_pool_id
    assert envelope.detail.client_id == pipeline.resources.app_client_id
    assert envelope.detail.email_verified is True
    assert envelope.replay_name is None


def test_the_trigger_called_three_times_still_makes_one_user(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.run_trigger(sub)
    pipeline.run_trigger(sub)
    settled = pipeline.settle()

    assert settled.messages == 3
    assert list(pipeline.users()) == [sub]
    assert pipeline.users()[sub].version == 1
    assert len(pipeline.audit_records()) == 1


def test_a_password_reset_publishes_nothing(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()
    before = pipeline.users()[sub]

    returned = pipeline.run_trigger(sub, TRIGGER_CONFIRM_FORGOT_PASSWORD)

    assert returned["triggerSource"] == TRIGGER_CONFIRM_FORGOT_PASSWORD
    assert queue_depth(pipeline, pipeline.resources.projector_queue.url) == 0
    assert pipeline.settle().messages == 0
    assert pipeline.users()[sub] == before


def test_a_replay_after_a_profile_edit_changes_nothing(pipeline: LocalPipeline) -> None:
    subs = [pipeline.sign_up(f"user{i}@example.com", PASSWORD) for i in range(3)]
    pipeline.settle()
    profile = pipeline.api_store()
    edited = profile.update_profile(
        subs[0], {"name": "Ada", "age": 36}, expected_version=1, now=datetime.now(UTC)
    )
    pipeline.settle()
    audited = pipeline.audit_records()

    pipeline.replay("after-edit")
    replayed = raw_messages(pipeline)
    settled = pipeline.settle()

    assert {body["replay-name"] for body in replayed} == {"after-edit"}
    assert settled.messages == 3
    assert settled.stream_records == 0
    assert pipeline.users()[subs[0]] == edited
    assert (edited.version, edited.name, edited.age) == (2, "Ada", 36)
    assert pipeline.audit_records() == audited


def test_a_replay_into_an_empty_table_rebuilds_every_user_at_version_one(
    pipeline: LocalPipeline,
) -> None:
    subs = {pipeline.sign_up(f"user{i}@example.com", PASSWORD) for i in range(3)}
    pipeline.settle()
    originals = pipeline.users()
    for sub in subs:
        pipeline.clients.dynamodb.delete_item(
            TableName=pipeline.resources.names.user_table, Key={"id": {"S": sub}}
        )
    pipeline.replay("rebuild")
    pipeline.settle()

    rebuilt = pipeline.users()
    assert set(rebuilt) == subs
    for sub, user in rebuilt.items():
        assert user.version == 1
        assert user.created_at == originals[sub].created_at


def test_a_stale_profile_edit_is_a_conflict(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()
    profile = pipeline.api_store()
    profile.update_profile(sub, {"name": "Ada"}, expected_version=1, now=datetime.now(UTC))
    with pytest.raises(VersionConflict) as conflict:
        profile.update_profile(sub, {"name": "Eve"}, expected_version=1, now=datetime.now(UTC))
    assert conflict.value.current_version == 2
    assert pipeline.users()[sub].name == "Ada"


def test_a_poison_message_fails_alone_and_lands_in_the_dlq(pipeline: LocalPipeline) -> None:
    resources = pipeline.resources
    pipeline.clients.sqs.send_message(
        QueueUrl=resources.projector_queue.url, MessageBody='{"detail-type": "UserConfirmed"}'
    )
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()

    assert list(pipeline.users()) == [sub]
    assert queue_depth(pipeline, resources.projector_queue.url) == 0
    (dead,) = pipeline.clients.sqs.receive_message(
        QueueUrl=resources.projector_dlq.url, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert dead["Body"] == '{"detail-type": "UserConfirmed"}'
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= PROJECTOR_SOURCE.max_receive_count


def test_a_redelivered_stream_batch_writes_no_new_audit_records(
    pipeline: LocalPipeline, lambda_context: Any
) -> None:
    for i in range(3):
        pipeline.sign_up(f"user{i}@example.com", PASSWORD)
    pipeline.settle()
    before = pipeline.audit_records()
    batch = {"Records": all_stream_records(pipeline)}

    response = audit_trail.lambda_handler(batch, lambda_context)

    assert response == {"batchItemFailures": []}
    assert pipeline.audit_records() == before
    assert len(before) == len(batch["Records"]) == 3


def test_a_poison_stream_record_goes_alone_to_the_on_failure_queue(
    pipeline: LocalPipeline,
) -> None:
    table = pipeline.resources.names.user_table
    pipeline.clients.dynamodb.put_item(
        TableName=table, Item={"id": {"S": "junk"}, "_version": {"S": "not a number"}}
    )
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()

    assert [record.user_id for record in pipeline.audit_records()] == [sub]
    assert pipeline.audit.discarded == 1
    (dead,) = pipeline.clients.sqs.receive_message(QueueUrl=pipeline.resources.audit_dlq.url)[
        "Messages"
    ]
    info = json.loads(dead["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["requestContext"]["approximateInvokeCount"] == AUDIT_SOURCE.max_retry_attempts + 1
    assert "junk" not in dead["Body"]  # metadata only, never the images


def test_a_publish_to_a_missing_bus_raises(pipeline: LocalPipeline) -> None:
    publisher = EventBridgePublisher(pipeline.clients.events, "no-such-bus")
    with pytest.raises(PublishFailedError, match="ResourceNotFoundException"):
        publisher.publish(_detail())


def test_the_trigger_fails_loudly_when_the_bus_is_gone(pipeline: LocalPipeline) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    names = pipeline.resources.names
    pipeline.clients.events.remove_targets(
        Rule=names.projector_rule, EventBusName=names.event_bus, Ids=["projector-queue"]
    )
    pipeline.clients.events.delete_rule(Name=names.projector_rule, EventBusName=names.event_bus)
    pipeline.clients.events.delete_event_bus(Name=names.event_bus)
    with pytest.raises(PublishFailedError, match=sub):
        pipeline.run_trigger(sub)


def test_no_email_reaches_logs_or_the_audit_trail(pipeline: LocalPipeline, log_lines: Any) -> None:
    sub = pipeline.sign_up("secret.person@example.com", PASSWORD)
    pipeline.run_trigger(sub)
    pipeline.clients.sqs.send_message(
        QueueUrl=pipeline.resources.projector_queue.url,
        MessageBody=json.dumps({"source": "x", "detail": {"email": "secret.person@example.com"}}),
    )
    pipeline.settle()
    assert len(log_lines()) > 3
    assert "secret.person" not in json.dumps(log_lines())
    audit_items = pipeline.clients.dynamodb.scan(TableName=pipeline.resources.names.audit_table)
    assert "secret.person" not in json.dumps(audit_items["Items"])


def _detail() -> Any:
    from services.confirm_trigger.logic import user_confirmed_from

    return user_confirmed_from(cognito_sign_up(), datetime.now(UTC))


def test_the_same_sub_from_another_pool_ends_in_the_dlq_and_changes_nothing(
    pipeline: LocalPipeline,
) -> None:
    sub = pipeline.sign_up("ada@example.com", PASSWORD)
    pipeline.settle()
    before = pipeline.users()[sub]
    foreign = {**_detail(), "sub": sub, "userPoolId": "us-east-1_Zz98Yy76X"}
    EventBridgePublisher(pipeline.clients.events, pipeline.resources.names.event_bus).publish(
        foreign
    )
    pipeline.settle()

    assert pipeline.users() == {sub: before}
    assert before.user_pool_id == pipeline.resources.user_pool_id
    (dead,) = pipeline.clients.sqs.receive_message(
        QueueUrl=pipeline.resources.projector_dlq.url, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert json.loads(dead["Body"])["detail"]["userPoolId"] == "us-east-1_Zz98Yy76X"
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= PROJECTOR_SOURCE.max_receive_count
