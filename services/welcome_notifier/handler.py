"""SQS (its own UserConfirmed subscription) -> a welcome email, to the address Cognito holds for
the sub. Partial batch failures.

Its cold path is the projector's: the event is read in plain Python (``read_user_confirmed``,
held to the pydantic model by tests) and the batch reported by ``services.shared.partial_batch``,
not Powertools' ``BatchProcessor`` (whose module imports ``asyncio``): no pydantic, no asyncio
(``make bench``, cold path rows)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.user_confirmed import InvalidEventError, read_user_confirmed
from services.shared.partial_batch import PartialBatchResponse, SQSMessage, process_sqs_batch
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
) -> PartialBatchResponse:
    def welcome_one(record: SQSMessage) -> None:
        ids = {"message_id": record["messageId"]}
        try:
            event = read_user_confirmed(record["body"])
        except InvalidEventError as exc:
            logger.warning("message rejected", extra={**ids, "reason": str(exc)})
            raise
        ids |= {"sub": event.detail["sub"]}
        try:
            message_id = welcome(event, contacts, sender)
        except Exception as exc:  # reported for a retry; by type only (SES may quote the address)
            logger.warning("welcome failed", extra={**ids, "error": type(exc).__name__})
            raise
        if message_id is None:
            logger.info("no welcome for this event", extra=ids)
            return
        logger.info("welcome sent", extra={**ids, "ses_message_id": message_id})

    return process_sqs_batch(event, welcome_one)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return process_batch(event, context, default_sender(), default_contacts())
