"""boto3 clients for one deployment: a stack in AWS, or the local stack (nothing there can
reach AWS: an explicit endpoint and the local stack's own credentials)."""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

#: The local stack's region (any would do; the emulator keeps it in ARNs).
REGION: Final = "eu-west-1"


class Clients:
    """One client per service, each made on first use.

    ``endpoint_url`` given: the local stack, with its ``credentials`` (``read_credentials``);
    with current botocore the streams client would otherwise pick an account-based endpoint
    the emulator does not route. Otherwise AWS, with the usual credential chain, ``profile``
    and ``region``."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        region: str | None = None,
        profile: str | None = None,
        local: bool | None = None,
        credentials: tuple[str, str] | None = None,  # the local stack's (access key, secret)
    ) -> None:
        self.endpoint_url = endpoint_url
        self.local = endpoint_url is not None if local is None else local
        self.region = region or (REGION if self.local else None)
        if self.local:
            key, secret = credentials or ("local", "local")  # in-process moto checks none
            self._session = boto3.Session(
                aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region
            )
            config = Config(region_name=self.region, account_id_endpoint_mode="disabled")
        else:
            self._session = boto3.Session(profile_name=profile, region_name=region)
            self.region = self._session.region_name
            config = Config(region_name=self.region)
        self._options: dict[str, Any] = {"endpoint_url": endpoint_url, "config": config}

    def _client(self, service: str) -> Any:
        return self._session.client(service, **self._options)  # type: ignore[call-overload]

    @cached_property
    def events(self) -> EventBridgeClient:
        client: EventBridgeClient = self._client("events")
        return client

    @cached_property
    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs")
        return client

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    @cached_property
    def streams(self) -> DynamoDBStreamsClient:
        client: DynamoDBStreamsClient = self._client("dynamodbstreams")
        return client

    @cached_property
    def secrets(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self._client("secretsmanager")
        return client

    @cached_property
    def cognito(self) -> CognitoIdentityProviderClient:
        client: CognitoIdentityProviderClient = self._client("cognito-idp")
        return client

    @cached_property
    def cloudformation(self) -> CloudFormationClient:
        client: CloudFormationClient = self._client("cloudformation")
        return client

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        client: CloudWatchClient = self._client("cloudwatch")
        return client

    @cached_property
    def lambda_(self) -> LambdaClient:
        client: LambdaClient = self._client("lambda")
        return client


def read_credentials(path: str | Path) -> tuple[str, str]:
    """The local stack's operator credentials from its credentials file (profile
    ``userpipe-local``, an AWS shared credentials file)."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(Path(path).read_text())
        section = parser["userpipe-local"]
        return section["aws_access_key_id"], section["aws_secret_access_key"]
    except (OSError, KeyError, configparser.Error) as exc:
        raise CredentialsNotFoundError(
            f"cannot read the local stack's credentials from {path} ({exc}); start the stack "
            "with `userpipe local up`"
        ) from None


def local_clients(outputs: Mapping[str, Any]) -> Clients:
    """Clients of the local stack whose outputs these are, signing with its credentials."""
    return Clients(
        str(outputs["endpoint_url"]),
        region=str(outputs.get("region") or "") or None,
        credentials=read_credentials(outputs["credentials_path"]),
    )


class CredentialsNotFoundError(Exception):
    """The local stack's credentials file is missing or unreadable."""
