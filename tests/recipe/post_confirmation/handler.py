"""The recipe's post-confirmation trigger, in Python: the well-known Node.js one ("Add a user to
DynamoDB after signing up", gist dabit3/5dd7069c91e46ee015c828c5384edb0f, repeated in blog posts
such as blog.arturofm.com "AWS Amplify | User Auth using DynamoDB + Cognito Post-confirmation
Lambda Trigger") with the DataStore metadata its DataStore variants add, so that DataStore
clients sync the item.

As the recipe does, and as userpipe must not:

- one unconditional ``PutItem`` keyed by the ``sub``: it runs on every PostConfirmation, the
  ``ConfirmForgotPassword`` one too, so a password reset overwrites the user's item (name, age,
  createdAt, ``_version`` back to 1);
- ``_version`` 1 and ``_lastChangedAt`` now in epoch milliseconds (AppSync developer guide,
  "Versioned data source metadata"), ``createdAt``/``updatedAt`` as JavaScript's
  ``toISOString()`` writes them; no ``owner``, no ``userPoolId``;
- errors are logged and swallowed: Cognito is answered with the event either way, so a failed
  write loses the user's item silently.

Its only setting is ``USERTABLE``, the table's name (the gist's variable).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3

DYNAMODB = boto3.client("dynamodb")  # the recipe's `new aws.DynamoDB()`, at module scope


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    attributes = event["request"]["userAttributes"]
    if not attributes.get("sub"):
        print("Error: Nothing was written to DynamoDB")  # the recipe's log
        return event
    written = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    item = {
        "id": {"S": attributes["sub"]},
        "__typename": {"S": "User"},
        "email": {"S": attributes["email"]},
        "createdAt": {"S": written},
        "updatedAt": {"S": written},
        "_version": {"N": "1"},
        "_lastChangedAt": {"N": str(int(now.timestamp() * 1000))},
    }
    try:
        DYNAMODB.put_item(TableName=os.environ["USERTABLE"], Item=item)
        print("Success")
    except Exception as error:  # the recipe's catch: log, and answer Cognito all the same
        print("Error", error)
    return event
