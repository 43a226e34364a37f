"""Requests to the emulator from inside the local stack, without going over the network.

The Cognito front and the GraphQL endpoint need a few emulator calls while they handle a
request (who is this user, mark the email verified). Making them over HTTP to the same server
would take a second worker thread per request and could exhaust the pool under load; instead
they go straight into the emulator's WSGI app, with the same wire format a client uses.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client
from werkzeug.wrappers import Response


class EmulatorError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class InProcessAws:
    """Calls JSON-protocol AWS APIs (Cognito, DynamoDB, ...) on the emulator's WSGI app."""

    def __init__(self, emulator: Any, region: str) -> None:
        self._client = Client(emulator, Response)
        self._region = region

    def call(self, service: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``service`` is the signing name (``cognito-idp``), ``target`` the X-Amz-Target
        (``AWSCognitoIdentityProviderService.AdminGetUser``)."""
        response = self._client.post(
            "/",
            data=json.dumps(payload),
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": target,
                # Only the credential scope matters: the emulator routes by it, checks nothing.
                "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/"
                f"{self._region}/{service}/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        body: dict[str, Any] = json.loads(response.get_data() or b"{}")
        if response.status_code >= 400:
            code = str(body.get("__type", "UnknownError")).rsplit("#", 1)[-1]
            raise EmulatorError(code, str(body.get("message", "")), response.status_code)
        return body
