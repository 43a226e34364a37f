"""User table stream -> the GraphQL API's ``publishUser*`` mutations, so subscriptions see the
changes the API did not make (see ``logic``). Reports partial batch failures by sequence
number; a record that keeps failing goes to the on-failure queue after the stream's retries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from services.change_publisher.logic import MalformedStreamRecordError, announcement
from services.shared.partial_batch import (
    PartialBatchResponse,
    StreamRecord,
    process_stream_batch,
    stream_sequence,
)

logger = Logger(service="change_publisher")


class PublishMutationCaller(Protocol):
    def publish(self, mutation: str, user: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Settings:
    graphql_url: str
    region: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            graphql_url=settings.require("GRAPHQL_URL"), region=settings.require("AWS_REGION")
        )


@cache
def default_publisher() -> PublishMutationCaller:
    import botocore.session

    from services.change_publisher.publisher import SignedGraphqlClient

    config = Settings.from_env()
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials to sign the GraphQL request with")
    return SignedGraphqlClient(config.graphql_url, config.region, credentials)


def process_batch(event: dict[str, Any], publisher: PublishMutationCaller) -> PartialBatchResponse:
    def publish(record: StreamRecord) -> None:
        ids = {"stream_event_id": record.get("eventID"), "sequence_number": stream_sequence(record)}
        try:
            found = announcement(record)
        except MalformedStreamRecordError as exc:
            logger.warning("stream record rejected", extra={**ids, "reason": str(exc)})
            raise
        if found is None:
            logger.debug("made through the API: its subscribers were notified", extra=ids)
            return
        try:
            publisher.publish(found.mutation, found.user)
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
    return process_batch(event, default_publisher())
