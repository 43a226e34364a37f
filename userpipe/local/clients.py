"""boto3 clients for the emulator, with what moto needs and nothing that could reach AWS."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

REGION = "eu-west-1"
# With current botocore the streams client picks an account-based endpoint moto does not route.
_CONFIG = Config(region_name=REGION, account_id_endpoint_mode="disabled")


class Clients:
    """One client per service, all pointing at the same emulator, each made on first use."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url  # None: moto's in-process mock
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "config": _CONFIG,
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",  # the emulator checks nothing
        }

    @cached_property
    def events(self) -> EventBridgeClient:
        return boto3.client("events", **self._options)

    @cached_property
    def sqs(self) -> SQSClient:
        return boto3.client("sqs", **self._options)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return boto3.client("dynamodb", **self._options)

    @cached_property
    def streams(self) -> DynamoDBStreamsClient:
        return boto3.client("dynamodbstreams", **self._options)

    @cached_property
    def secrets(self) -> SecretsManagerClient:
        return boto3.client("secretsmanager", **self._options)

    @cached_property
    def cognito(self) -> CognitoIdentityProviderClient:
        return boto3.client("cognito-idp", **self._options)
