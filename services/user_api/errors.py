"""Errors the API answers. The handler returns each as a value — its class name as the GraphQL
``errorType``, its message, its ``data`` — and the AppSync resolver code raises it with
``util.error`` (see ``contracts/appsync.py``: a thrown error would reach clients only as
``Lambda:Unhandled``). So these classes are named for what clients match on
(``ConflictUnhandled`` is what Amplify DataStore expects) rather than ending in ``Error``.
Messages never carry an email address or a stack trace."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Base of every error a client may see."""

    data: Any = None  # sent with the error (AppSync's ``errors[].data``)
    error_type: str | None = None  # the errorType, when it cannot be a class name


class Unauthorized(ApiError):  # noqa: N818 - AppSync errorType
    def __init__(self, message: str = "Not Authorized to access this resource") -> None:
        super().__init__(message)


class BadRequest(ApiError):  # noqa: N818 - AppSync errorType
    pass


class NotFound(ApiError):  # noqa: N818 - AppSync errorType
    pass


class ConflictUnhandled(ApiError):  # noqa: N818 - AppSync errorType
    """The edit's version is stale. The message names the current version; ``data`` is the
    server's current item, which Amplify DataStore's conflict handler retries with."""

    def __init__(self, user_id: str, current: dict[str, Any]) -> None:
        version = current.get("_version")
        super().__init__(
            f"Conflict: user {user_id} is at _version {version}; "
            f"read it again and retry with _version {version}"
        )
        self.current_version = version
        self.data = current


class ConditionalCheckFailed(ApiError):  # noqa: N818 - named for its errorType
    """``updateUser``'s ``condition`` does not hold for the stored item. AppSync's generated
    resolvers answer this with the errorType below (aws-amplify/amplify-js#3485 and #4948 quote
    it), so clients that match on it keep working."""

    error_type = "DynamoDB:ConditionalCheckFailedException"

    def __init__(self) -> None:
        super().__init__("The conditional request failed")


class InternalFailure(ApiError):  # noqa: N818 - AppSync errorType
    def __init__(self, request_id: str) -> None:
        super().__init__(f"Internal failure (request {request_id})")
