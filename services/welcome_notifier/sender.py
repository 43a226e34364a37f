"""Sending email through Amazon SES (v2 API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.welcome_notifier.logic import Email

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


class SesSender:
    def __init__(self, client: SESV2Client, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, email: Email) -> str:
        response = self._client.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": [email.to]},
            Content={
                "Simple": {
                    "Subject": {"Data": email.subject},
                    "Body": {"Text": {"Data": email.body}},
                }
            },
        )
        return response["MessageId"]
