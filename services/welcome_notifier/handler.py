"""SQS (its own UserConfirmed subscription) -> a welcome email, to the address Cognito holds for
the sub. Partial batch failures."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.event_models import InvalidEventError, parse_user_confirmed
from services.welcome_notifier.contacts import CognitoContacts
from services.welcome_notifier.logic import Contacts, EmailSender, welcome
from services.welcome_notifier.sender import SesSender

logger = Logger(service="welcome_notifier")


@dataclass(frozen=True)
class Settings:
    sender: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(sender=settings.require("WELCOME_SENDER"))


@cache
def default_sender() -> EmailSender:
    return SesSender(boto3.client("sesv2"), Settings.from_env().sender)


@cache
def default_contacts() -> Contacts:
    return CognitoContacts(boto3.client("cognito-idp"))


def process_batch(
    event: dict[str, Any],
    context: LambdaContext | None,
    sender: EmailSender,
    contacts: Contacts,
) -> PartialItemFailureResponse:
    def welcome_one(record: SQSRecord) -> None:
        ids = {"message_id": record.message_id}
        try:
            envelope = parse_user_confirmed(record.body)
        except InvalidEventError as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        ids |= {"sub": envelope.detail.sub}
        message_id = welcome(envelope, contacts, sender)
        if message_id is None:
            logger.info("no welcome for this event", extra=ids)
            return
        logger.info("welcome sent", extra={**ids, "ses_message_id": message_id})

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event, welcome_one, processor, context)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, default_sender(), default_contacts())
