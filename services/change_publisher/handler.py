"""User table stream -> userpipe's events on the bus (``UserProfileChanged`` for the API's edits,
``UserEmailChanged`` and ``UserDeleted`` for user_sync's and reconcile's changes), the GraphQL
API's ``publishUser*`` mutations for the changes its subscribers have not heard of, nothing for
replay writes (see ``logic``). Reports partial batch failures by sequence number; a record that
keeps failing goes to the on-failure queue after the stream's retries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from services.change_publisher.logic import (
    Announcement,
    BusEvent,
    Erased,
    KeyErasure,
    MalformedStreamRecordError,
    publication,
)
from services.shared.partial_batch import (
    PartialBatchResponse,
    StreamRecord,
    process_stream_batch,
    stream_sequence,
)
from services.shared.user_keys import KeyStore

logger = Logger(service="change_publisher")


class PublishMutationCaller(Protocol):
    def publish(self, mutation: str, user: dict[str, Any]) -> dict[str, Any]: ...


class EventPutter(Protocol):
    def put(self, event: BusEvent) -> str: ...


class KeyShredder(Protocol):
    def destroy(self, user_id: str) -> bool: ...


@dataclass(frozen=True)
class Publishers:
    """Where changes go — the API's subscribers (AppSync) and the bus (EventBridge) — and the
    users' data keys: an API edit's profile is sealed with one, a deleted user's is destroyed.
    ``subscribers`` is ``None`` on a stage built with ``-c announceChanges=off``: its
    announcements are skipped, never its events or erasures (the log stays whole)."""

    subscribers: PublishMutationCaller | None
    bus: EventPutter
    keys: KeyStore
    shredder: KeyShredder
    erased: Erased


@dataclass(frozen=True)
class Settings:
    graphql_url: str
    event_bus_name: str
    keys_table_name: str
    user_table_name: str
    region: str
    announce: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        announce = settings.optional("ANNOUNCE_CHANGES") or "on"
        if announce not in ("on", "off"):
            raise ValueError(f"ANNOUNCE_CHANGES={announce!r} is invalid: expected on or off")
        return cls(
            announce=announce == "on",
            graphql_url=settings.require("GRAPHQL_URL"),
            event_bus_name=settings.require("EVENT_BUS_NAME"),
            keys_table_name=settings.require("KEYS_TABLE_NAME"),
            user_table_name=settings.require("USER_TABLE_NAME"),
            region=settings.require("AWS_REGION"),
        )


@cache
def default_publishers() -> Publishers:
    """Built on the first invocation, once per cold start; tests pass their own instead."""
    import boto3
    import botocore.session

    from services.change_publisher.bus import EventBusPublisher
    from services.change_publisher.publisher import SignedGraphqlClient
    from services.change_publisher.users import ErasedUsers
    from services.shared.key_shredder import DynamoKeyShredder
    from services.shared.user_keys import DynamoKeyStore

    config = Settings.from_env()
    subscribers = None
    if config.announce:
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials to sign the GraphQL request with")
        subscribers = SignedGraphqlClient(config.graphql_url, config.region, credentials)
    return Publishers(
        subscribers=subscribers,
        bus=EventBusPublisher(boto3.client("events"), config.event_bus_name),
        keys=DynamoKeyStore(boto3.client("dynamodb"), config.keys_table_name),
        shredder=DynamoKeyShredder(boto3.client("dynamodb"), config.keys_table_name),
        erased=ErasedUsers(boto3.client("dynamodb"), config.user_table_name),
    )


def process_batch(event: dict[str, Any], publishers: Publishers) -> PartialBatchResponse:
    def publish(record: StreamRecord) -> None:
        ids = {"stream_event_id": record.get("eventID"), "sequence_number": stream_sequence(record)}
        try:
            actions = publication(record, publishers.keys, publishers.erased)
        except MalformedStreamRecordError as exc:
            logger.warning("stream record rejected", extra={**ids, "reason": str(exc)})
            raise
        if not actions:
            logger.debug("nothing to publish: a marked write, or an expired tombstone", extra=ids)
            return
        # In order, the event first; one failing fails the record, and its redelivery does
        # both again (the logic's docstring: each may be repeated).
        for action in actions:
            if isinstance(action, BusEvent):
                _put(action, publishers, ids)
            elif isinstance(action, KeyErasure):
                publishers.shredder.destroy(action.user_id)
            else:
                _announce(action, publishers, ids)

    return process_stream_batch(event["Records"], publish, _rejected)


def _put(event: BusEvent, publishers: Publishers, ids: dict[str, Any]) -> None:
    detail = event.detail
    try:
        event_id = publishers.bus.put(event)
    except Exception as exc:
        logger.warning(
            "event not published",
            extra={**ids, "detail_type": event.detail_type, "error": type(exc).__name__,
                   "detail": str(exc)[:300]},
        )  # fmt: skip
        raise
    logger.info(
        "event published",
        extra={**ids, "detail_type": event.detail_type, "user_id": detail["sub"],
               "version": detail["_version"], "event_id": event_id},
    )  # fmt: skip


def _announce(found: Announcement, publishers: Publishers, ids: dict[str, Any]) -> None:
    if publishers.subscribers is None:
        extra = {**ids, "mutation": found.mutation}
        logger.debug("not announced (announceChanges=off)", extra=extra)
        return
    try:
        publishers.subscribers.publish(found.mutation, found.user)
    except Exception as exc:
        # By type and message only: the message names the mutation and errorTypes, never
        # the user (items hold email addresses).
        logger.warning(
            "publish failed",
            extra={**ids, "mutation": found.mutation, "error": type(exc).__name__,
                   "detail": str(exc)[:300]},
        )  # fmt: skip
        raise
    logger.info(
        "change published",
        extra={**ids, "mutation": found.mutation, "user_id": found.user["id"]},
    )


def _rejected(event_id: str | None, reason: str) -> None:
    logger.warning("stream record rejected", extra={"stream_event_id": event_id, "reason": reason})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, default_publishers())
