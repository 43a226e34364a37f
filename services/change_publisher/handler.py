"""User table stream -> ``UserProfileChanged`` on the bus for the API's edits, the GraphQL API's
``publishUser*`` mutations for the other changes, nothing for replay writes (see ``logic``).
Reports partial batch failures by sequence number; a record that keeps failing goes to the
on-failure queue after the stream's retries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.user_profile_changed import ProfileChangedDetail
from services.change_publisher.logic import (
    MalformedStreamRecordError,
    ProfileChanged,
    publication,
)
from services.shared.partial_batch import (
    PartialBatchResponse,
    StreamRecord,
    process_stream_batch,
    stream_sequence,
)

logger = Logger(service="change_publisher")


class PublishMutationCaller(Protocol):
    def publish(self, mutation: str, user: dict[str, Any]) -> dict[str, Any]: ...


class ProfileChangedPutter(Protocol):
    def put(self, detail: ProfileChangedDetail) -> str: ...


@dataclass(frozen=True)
class Publishers:
    """Where changes go: the API's subscribers (AppSync) and the bus (EventBridge)."""

    subscribers: PublishMutationCaller
    bus: ProfileChangedPutter


@dataclass(frozen=True)
class Settings:
    graphql_url: str
    event_bus_name: str
    region: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            graphql_url=settings.require("GRAPHQL_URL"),
            event_bus_name=settings.require("EVENT_BUS_NAME"),
            region=settings.require("AWS_REGION"),
        )


@cache
def default_publishers() -> Publishers:
    """Built on the first invocation, once per cold start; tests pass their own instead."""
    import boto3
    import botocore.session

    from services.change_publisher.bus import EventBusPublisher
    from services.change_publisher.publisher import SignedGraphqlClient

    config = Settings.from_env()
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials to sign the GraphQL request with")
    return Publishers(
        subscribers=SignedGraphqlClient(config.graphql_url, config.region, credentials),
        bus=EventBusPublisher(boto3.client("events"), config.event_bus_name),
    )


def process_batch(event: dict[str, Any], publishers: Publishers) -> PartialBatchResponse:
    def publish(record: StreamRecord) -> None:
        ids = {"stream_event_id": record.get("eventID"), "sequence_number": stream_sequence(record)}
        try:
            found = publication(record)
        except MalformedStreamRecordError as exc:
            logger.warning("stream record rejected", extra={**ids, "reason": str(exc)})
            raise
        if found is None:
            logger.debug("a marked write of the projector: published when it happened", extra=ids)
            return
        if isinstance(found, ProfileChanged):
            detail = found.detail
            try:
                event_id = publishers.bus.put(detail)
            except Exception as exc:
                logger.warning(
                    "UserProfileChanged not published",
                    extra={**ids, "error": type(exc).__name__, "detail": str(exc)[:300]},
                )
                raise
            logger.info(
                "UserProfileChanged published",
                extra={**ids, "user_id": detail["sub"], "version": detail["_version"],
                       "event_id": event_id},
            )  # fmt: skip
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

    return process_stream_batch(event["Records"], publish, _rejected)


def _rejected(event_id: str | None, reason: str) -> None:
    logger.warning("stream record rejected", extra={"stream_event_id": event_id, "reason": reason})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, default_publishers())
