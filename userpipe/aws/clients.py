"""boto3 clients for one deployment: a stack in AWS, or the local stack (nothing there can
reach AWS: an explicit endpoint and the local stack's own credentials).

Every client has a time budget, so that no command waits on an endpoint forever: a connect
timeout, a read timeout and at most ``ATTEMPTS`` attempts (botocore's standard retry mode). A
read timeout bounds each wait for the next bytes of an answer; botocore retries it like any
connection error ("General socket/connection errors: ConnectionError, ConnectionClosedError,
ReadTimeoutError, EndpointConnectionError" — Boto3 guide, "Retries"), and ``total_max_attempts``
counts the first call too ("Prefer total_max_attempts … max_attempts does not include the first
attempt", botocore ``Config``). An endpoint that answers with something other than an AWS API
response (a web server's HTML page, say) is a ``NotAnAwsEndpointError`` naming it, rather than
an empty parse that fails later as a ``KeyError``; a 5xx answer is left to the retries.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

if TYPE_CHECKING:
    from botocore.model import OperationModel
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
#: The profile of the local stack's credentials file (``<state_dir>/credentials``).
LOCAL_PROFILE: Final = "userpipe-local"

# --- the time budget -------------------------------------------------------------------------
#: A TCP handshake with an AWS endpoint or the local stack takes milliseconds; one that has not
#: completed in 2 s is not going to.
CONNECT_TIMEOUT_SECONDS: Final = 2
#: Every call the commands make answers in well under a second on AWS and on the local stack
#: (their long polls wait 1 s at most): 4 s is a dead or wrong endpoint, not a slow one.
READ_TIMEOUT_SECONDS: Final = 4
#: Calls that answer only once something else has run may wait longer:
SLOW_READ_SECONDS: Final = {
    # ConfirmSignUp, AdminConfirmSignUp and ConfirmForgotPassword answer after the
    # PostConfirmation trigger, which Cognito waits 5 s for, three calls at most (Cognito
    # developer guide, "Customizing user pool workflows with Lambda triggers").
    "cognito-idp": 20,
    # Invoke (RequestResponse) answers when the function returns: redrive hands stream records
    # to the stream consumers, which may run 30 s (contracts.topology).
    "lambda": 35,
}
#: Attempts in all, the first included (botocore's standard mode; its default too).
ATTEMPTS: Final = 3
#: Standard mode waits ``rand(0, 1) * 0.05 * 2**i`` s before retry ``i`` after a connection
#: error (``botocore.retries.standard.ExponentialBackoff``: 50 ms base for errors other than
#: throttling): at most this much over every retry.
_MAX_RETRY_WAIT_SECONDS: Final[float] = sum(0.05 * 2**i for i in range(ATTEMPTS - 1))


def read_timeout(service: str) -> int:
    return SLOW_READ_SECONDS.get(service, READ_TIMEOUT_SECONDS)


def worst_case_seconds(service: str) -> float:
    """Longest one call to ``service`` can take when the endpoint never answers: every attempt
    spends its whole connect and read timeouts, every wait between attempts its maximum."""
    per_attempt = CONNECT_TIMEOUT_SECONDS + read_timeout(service)
    return ATTEMPTS * per_attempt + _MAX_RETRY_WAIT_SECONDS


class NotAnAwsEndpointError(BotoCoreError):
    """The endpoint answered, but not as an AWS API does."""

    fmt = (
        "{endpoint_url} answered {operation} with HTTP {status} {content_type}, which is not an "
        "AWS API response: check that the endpoint is the one you meant (a local stack's "
        "outputs file; AWS_ENDPOINT_URL or the profile's endpoint_url for --stack)"
    )


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
        self.profile = profile
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
        self._config = config

    def _client(self, service: str) -> Any:
        budget = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=read_timeout(service),
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        )
        client = self._session.client(  # type: ignore[call-overload]
            service, endpoint_url=self.endpoint_url, config=self._config.merge(budget)
        )
        client.meta.events.register("before-parse", _refuse_what_is_not_aws(client))
        return client

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
        section = parser[LOCAL_PROFILE]
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


def _refuse_what_is_not_aws(client: Any) -> Any:
    """A ``before-parse`` hook: an answer whose body is not in the protocol's format (JSON for
    the JSON protocols, XML for the query protocol) did not come from an AWS API. Content types
    cannot tell (moto answers some JSON APIs as ``text/html``), the body's first byte can; an
    empty body is left to the parser (some operations answer nothing)."""

    def check(operation_model: OperationModel, response_dict: dict[str, Any], **_: Any) -> None:
        body = response_dict.get("body")
        if not isinstance(body, bytes | bytearray):
            return  # a streamed payload (Lambda's Invoke), read by the caller
        if int(response_dict.get("status_code") or 0) >= 500:
            return  # a proxy's or server's passing failure, whatever its body: retried as such
        start = bytes(body[:256]).lstrip().lower()
        protocol = operation_model.service_model.resolved_protocol
        if not start or protocol not in ("json", "rest-json", "query"):
            return
        if protocol == "query":
            aws = start.startswith(b"<") and b"<html" not in start and b"<!doctype" not in start
        else:
            aws = start.startswith(b"{")
        if not aws:
            headers = {k.lower(): v for k, v in response_dict.get("headers", {}).items()}
            raise NotAnAwsEndpointError(
                endpoint_url=client.meta.endpoint_url,
                operation=operation_model.name,
                status=response_dict.get("status_code"),
                content_type=f"({headers.get('content-type', 'no content type')})",
            )

    return check
