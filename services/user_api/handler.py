"""The Lambda resolver for every field of contracts/schema.graphql.

Thin: read settings, find the caller, call ``UserApi``, map errors. It answers
``{"data": value}`` or ``{"error": {"type", "message", "data"}}`` (``contracts.appsync``); the
AppSync resolver code and the local endpoint turn an error answer into a GraphQL error with
that ``errorType`` and ``data``. Anything unexpected — including a failure while building the
handler's dependencies on a cold start (a missing setting, an unreadable or too short
page-token secret) — is logged and answered as ``InternalFailure`` naming the request id: no
stack trace, no AWS error text, no ARN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts import settings
from contracts.appsync import data_answer, error_answer
from services.user_api.auth import Caller, caller_from
from services.user_api.errors import ApiError, InternalFailure
from services.user_api.logic import Subscribed, UserApi
from services.user_api.page_tokens import PageTokens
from services.user_api.routing import FieldRouter, field_of
from services.user_api.store import DynamoUserApiStore

logger = Logger(service="user_api")
router = FieldRouter()
#: The request being resolved: its event and the API that answers it (one at a time).
_request: dict[str, Any] = {}


@dataclass(frozen=True)
class Settings:
    user_table_name: str
    audit_table_name: str
    page_token_secret_arn: str
    admin_group: str
    user_pool_id: str  # the pool this API serves: what an item without userPoolId belongs to

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            user_table_name=settings.require("USER_TABLE_NAME"),
            audit_table_name=settings.require("AUDIT_TABLE_NAME"),
            page_token_secret_arn=settings.require("PAGE_TOKEN_SECRET_ARN"),
            admin_group=settings.require("ADMIN_GROUP"),
            user_pool_id=settings.require("USER_POOL_ID"),
        )


class PageTokenKeyError(ValueError):
    """The page-token secret cannot sign tokens (binary, or too short)."""


@cache
def default_api() -> UserApi:
    """Built on first use, once per cold start: tables, the page-token key, the admin group.
    A failure is not cached: the next request tries again."""
    config = Settings.from_env()
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=config.page_token_secret_arn)
    key = secret.get("SecretString")
    if not isinstance(key, str):
        raise PageTokenKeyError("the page-token secret has no SecretString (binary secrets unused)")
    store = DynamoUserApiStore(
        boto3.client("dynamodb"),
        config.user_table_name,
        config.audit_table_name,
        config.user_pool_id,
    )
    return UserApi(store, PageTokens(key.encode()), config.admin_group)


def _api() -> UserApi:
    api: UserApi = _request["api"]
    return api


def _caller() -> Caller:
    return caller_from(_request["event"].get("identity"))


@router.resolver(type_name="Query", field_name="me")
def me() -> dict[str, Any] | None:
    return _api().me(_caller())


@router.resolver(type_name="Query", field_name="getUser")
def get_user(id: str) -> dict[str, Any] | None:
    return _api().get_user(_caller(), id)


@router.resolver(type_name="Query", field_name="listUsers")
def list_users(
    filter: dict[str, Any] | None = None,
    limit: int | None = None,
    nextToken: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    return _api().list_users(_caller(), limit, nextToken, filter).as_graphql()


@router.resolver(type_name="Query", field_name="syncUsers")
def sync_users(
    filter: dict[str, Any] | None = None,
    limit: int | None = None,
    nextToken: str | None = None,  # noqa: N803
    lastSync: int | None = None,  # noqa: N803
) -> dict[str, Any]:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return _api().sync_users(_caller(), limit, nextToken, lastSync, now_ms, filter).as_graphql()


@router.resolver(type_name="Query", field_name="auditTrail")
def audit_trail(
    userId: str,  # noqa: N803 - GraphQL argument names
    limit: int | None = None,
    nextToken: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    return _api().audit_trail(_caller(), userId, limit, nextToken).as_graphql()


@router.resolver(type_name="Mutation", field_name="updateUser")
def update_user(input: dict[str, Any], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return _api().update_user(_caller(), input, datetime.now(UTC), condition)


@router.resolver(type_name="Mutation", field_name="createUser")
def create_user(input: dict[str, Any], condition: dict[str, Any] | None = None) -> None:
    _api().refuse_create(_caller())


@router.resolver(type_name="Mutation", field_name="deleteUser")
def delete_user(input: dict[str, Any], condition: dict[str, Any] | None = None) -> None:
    _api().refuse_delete(_caller())


@router.resolver(type_name="Subscription", field_name="onCreateUser")
@router.resolver(type_name="Subscription", field_name="onUpdateUser")
@router.resolver(type_name="Subscription", field_name="onDeleteUser")
def subscribe(filter: dict[str, Any] | None = None, id: str | None = None) -> Subscribed:
    return _api().subscribe(_caller(), id, filter)


def resolve(
    event: dict[str, Any], context: LambdaContext | None, build_api: Callable[[], UserApi]
) -> dict[str, Any]:
    """Resolve one field into an answer. ``build_api`` runs inside the error mapping, so a
    dependency that cannot be built is answered as ``InternalFailure`` like any other fault."""
    field = field_of(event)
    request_id = getattr(context, "aws_request_id", "unknown")
    try:
        api = build_api()
    except Exception as exc:
        # Settings and secrets name no user: their detail is safe, and needed, in the log.
        logger.error(
            "resolver dependencies unavailable",
            extra={"field": field, "error": type(exc).__name__, "detail": str(exc)[:500]},
        )
        return _error(InternalFailure(request_id))
    _request.update(api=api, event=event)
    try:
        value = router.resolve(event)
        if isinstance(value, Subscribed):  # a subscription accepted: AppSync returns no data
            return data_answer(None, value.filter)
        return data_answer(value)
    except ApiError as exc:
        logger.info("request refused", extra={"field": field, "error_type": type(exc).__name__})
        return _error(exc)
    except Exception as exc:
        # By type only: a store's error may quote an item, and items hold email addresses.
        logger.error("resolver failed", extra={"field": field, "error": type(exc).__name__})
        return _error(InternalFailure(request_id))
    finally:
        _request.clear()


def _error(exc: ApiError) -> dict[str, Any]:
    return error_answer(exc.error_type or type(exc).__name__, str(exc), exc.data)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(event, context, default_api)
