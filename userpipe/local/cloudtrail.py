"""The EventBridge event AWS puts on the account's default bus for a Cognito user-pool API call.

A call that CloudTrail records as a management event reaches EventBridge as
``detail-type: "AWS API Call via CloudTrail"``, ``source: "aws.cognito-idp"``, with the CloudTrail
record as ``detail`` (EventBridge user guide, "Events from AWS services"; only while a trail
logs management events; delivery is best effort). The local stack builds the same event after
each user-lifecycle call the Cognito front serves (``userpipe.local.cognito``).

What the record holds, and where each fact comes from:

- Cognito hides private fields: "Amazon Cognito obscures some private fields in your CloudTrail
  events with the value HIDDEN_FOR_SECURITY_REASONS", and for user-specific requests it
  "records UserSub but not UserName" (Cognito developer guide, "Amazon Cognito logging in AWS
  CloudTrail" / "Confidential data in AWS CloudTrail",
  https://docs.aws.amazon.com/cognito/latest/developerguide/logging-using-cloudtrail.html).
  Hence every ``username``, ``accessToken``, ``code``, ``session``, password, challenge
  response and attribute *value* below is ``HIDDEN_FOR_SECURITY_REASONS``, and the user is
  named by ``additionalEventData.sub``.
- Attribute values are hidden in attribute updates: "user attributes (such as email) are not
  revealed in the CloudTrail event" (aws-amplify/amplify-js#9391, a user's observation, 2024).
- Admin calls carry ``requestParameters.userPoolId`` in clear and the user as
  ``additionalEventData.sub``: AWS's own consumer of ``AdminUpdateUserAttributes`` events reads
  exactly those two fields and then reads the email from Cognito with ``AdminGetUser`` instead
  of trusting the event (aws-solutions/deepracer-on-aws, ``profileEmailChangeHandler.ts`` and
  its ``common/types.ts``: ``requestParameters {username, userPoolId, userAttributes[{name,
  value}]}``, ``additionalEventData {sub}``, ``responseElements: null``, ``eventVersion`` 1.08).
- ``DeleteUser`` / ``AdminDeleteUser`` are delivered to a rule matching ``source
  aws.cognito-idp``, ``detail-type AWS API Call via CloudTrail``, ``detail.eventName``
  (zenn.dev/mn87 "Cognito ユーザープールのユーザー削除イベントを EventBridge で検知してみた",
  a captured run).
- Envelope and common fields (``eventVersion`` 1.08, ``eventSource``
  ``cognito-idp.amazonaws.com``, ``eventType``, ``managementEvent``, ``eventCategory``,
  ``recipientAccountId``): the developer guide's "Example Amazon Cognito events".

Not confirmed from a published sample (choices made here, each in one place below):

- Token-authorized calls (``DeleteUser``, ``UpdateUserAttributes``, ``VerifyUserAttribute``,
  ``RespondToAuthChallenge``) carry no pool id in their request; this module puts it in
  ``additionalEventData.userPoolId`` next to ``sub`` for every call, so a consumer always
  finds both in one place. Their ``userIdentity`` is taken to be ``{"type": "Unknown",
  "principalId": "Anonymous"}`` (what CloudTrail writes for unsigned calls).
- Whether attribute *names* stay visible (here: yes, values hidden) and ``responseElements``
  (here: always ``null``, so no response value can leak).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

HIDDEN: Final = "HIDDEN_FOR_SECURITY_REASONS"
DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
SOURCE: Final = "aws.cognito-idp"
EVENT_SOURCE: Final = "cognito-idp.amazonaws.com"
EVENT_VERSION: Final = "1.08"
ANONYMOUS: Final = {"type": "Unknown", "principalId": "Anonymous"}

# Request fields Cognito shows as they are; every other field of a request is hidden.
_VISIBLE_FIELDS: Final = frozenset(
    {
        "userPoolId",
        "clientId",
        "challengeName",
        "attributeName",
        "messageAction",
        "desiredDeliveryMediums",
        "forceAliasCreation",
    }
)


def api_call_event(
    event_name: str,
    request: Mapping[str, Any],
    *,
    user_pool_id: str,
    sub: str,
    account: str,
    region: str,
    user_identity: Mapping[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
    user_agent: str = "",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The event for one successful call: ``request`` is the call's body as the client sent it
    (Cognito's PascalCase names), shown as CloudTrail shows it (camelCase, private values
    hidden); ``user_identity`` is the signer's identity, ``None`` for a token-authorized call."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    time = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": dict(user_identity) if user_identity is not None else dict(ANONYMOUS),
        "eventTime": time,
        "eventSource": EVENT_SOURCE,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters(request),
        "responseElements": None,
        "additionalEventData": {"sub": sub, "userPoolId": user_pool_id},
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": time,
        "region": region,
        "resources": [],
        "detail": detail,
    }


def request_parameters(request: Mapping[str, Any]) -> dict[str, Any]:
    """A request as CloudTrail records it: camelCase names; ids and enums in clear; user
    attributes as ``{name, value}`` with the value hidden; everything else hidden."""
    shown: dict[str, Any] = {}
    for name, value in request.items():
        key = name[:1].lower() + name[1:]
        if key in _VISIBLE_FIELDS:
            shown[key] = value
        elif key == "userAttributes" and isinstance(value, Sequence):
            shown[key] = [_hidden_attribute(attribute) for attribute in value]
        else:
            shown[key] = HIDDEN
    return shown


def _hidden_attribute(attribute: Any) -> dict[str, str]:
    name = attribute.get("Name", "") if isinstance(attribute, Mapping) else ""
    return {"name": str(name), "value": HIDDEN}


def signer_identity(principal: Any, account: str) -> dict[str, Any]:
    """CloudTrail's ``userIdentity`` for a signed call: an IAM user (the operator) or a
    function's assumed role, with the access key id (CloudTrail records it; it is no secret)."""
    if principal is None:
        return {
            "type": "IAMUser",
            "principalId": "local",
            "arn": f"arn:aws:iam::{account}:user/local",
            "accountId": account,
        }
    return {
        "type": "AssumedRole" if principal.is_function else "IAMUser",
        "principalId": str(principal.access_key_id),
        "arn": str(principal.arn),
        "accountId": account,
        "accessKeyId": str(principal.access_key_id),
    }
