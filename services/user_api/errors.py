"""Errors the API returns. AppSync shows a direct Lambda resolver's exception class name as the
GraphQL ``errorType`` and its message as ``message``, so these classes are named for what
clients match on (``ConflictUnhandled`` is what Amplify DataStore expects) rather than ending
in ``Error``. Messages never carry an email address or a stack trace."""

from __future__ import annotations


class ApiError(Exception):
    """Base of every error a client may see."""


class Unauthorized(ApiError):  # noqa: N818 - AppSync errorType
    def __init__(self, message: str = "Not Authorized to access this resource") -> None:
        super().__init__(message)


class BadRequest(ApiError):  # noqa: N818 - AppSync errorType
    pass


class NotFound(ApiError):  # noqa: N818 - AppSync errorType
    pass


class ConflictUnhandled(ApiError):  # noqa: N818 - AppSync errorType
    """``expectedVersion`` is stale; the message carries the current version."""

    def __init__(self, user_id: str, current_version: int) -> None:
        super().__init__(
            f"Conflict: user {user_id} is at _version {current_version}; "
            f"read it again and retry with expectedVersion {current_version}"
        )
        self.current_version = current_version


class InternalFailure(ApiError):  # noqa: N818 - AppSync errorType
    def __init__(self, request_id: str) -> None:
        super().__init__(f"Internal failure (request {request_id})")
