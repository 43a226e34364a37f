"""Calls a ``publishUser*`` mutation on the GraphQL API, signed with the function's role (SigV4,
service ``appsync``): the one thing this function may do (its policy names the three fields).

It selects every field a subscriber may ask for (``PUBLISHED_FIELDS``: DataStore's and codegen's
subscriptions select the model's fields and _version, _deleted, _lastChangedAt; userpipe's clients
also email and owner): AppSync sends a subscriber only what the mutation selected.

HTTPS verifies the server against the system's CAs, or only the one bundle ``AWS_CA_BUNDLE``
names when set (the local stack sets it to its own CA, as it does for the AWS SDK).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from contracts.user_fields import PUBLISHED_FIELDS

SELECTION: Final = " ".join((*PUBLISHED_FIELDS, "__typename"))
TIMEOUT_SECONDS: Final = 5


class PublishMutationFailedError(RuntimeError):
    """AppSync refused or failed the mutation; the stream delivers the record again."""


class SignedGraphqlClient:
    def __init__(self, url: str, region: str, credentials: Credentials) -> None:
        self._url = url
        self._region = region
        self._credentials = credentials
        self._tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)

    def publish(self, mutation: str, user: Mapping[str, Any]) -> dict[str, Any]:
        query = (
            f"mutation Publish($input: PublishUserChangeInput!) {{ "
            f"{mutation}(input: $input) {{ {SELECTION} }} }}"
        )
        body = json.dumps({"query": query, "variables": {"input": dict(user)}}).encode()
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        SigV4Auth(self._credentials, "appsync", self._region).add_auth(request)
        outgoing = urllib.request.Request(  # noqa: S310 - the API's own https URL
            self._url, data=body, headers=dict(request.headers.items()), method="POST"
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                outgoing, timeout=TIMEOUT_SECONDS, context=self._tls
            ) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise PublishMutationFailedError(f"{mutation}: HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise PublishMutationFailedError(f"{mutation}: {type(exc).__name__}") from None
        if answer.get("errors"):
            kinds = sorted({str(error.get("errorType")) for error in answer["errors"]})
            raise PublishMutationFailedError(f"{mutation}: {', '.join(kinds)}")
        published: dict[str, Any] = (answer.get("data") or {}).get(mutation) or {}
        return published
