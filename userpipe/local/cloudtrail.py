"""The EventBridge event AWS puts on the account's default bus for a Cognito user-pool API call.

A call that CloudTrail records as a management event reaches EventBridge as
``detail-type: "AWS API Call via CloudTrail"``, ``source: "aws.cognito-idp"``, with the CloudTrail
record as ``detail`` (EventBridge user guide, "Events from AWS services"; only while a trail
logs management events; delivery is best effort). The local stack builds the same event after
each user-lifecycle call the Cognito front serves (``userpipe.local.cognito``).

What the record holds, and where each fact comes from:

- Cognito hides private fields: it "obscures some private fields in your CloudTrail events with
  the value HIDDEN_DUE_TO_SECURITY_REASONS ... only ... fields that commonly contain user
  information, like passwords and tokens", and for user-specific requests it "records UserSub
  but not UserName" (Cognito developer guide, "Amazon Cognito logging in AWS CloudTrail",
  https://docs.aws.amazon.com/cognito/latest/developerguide/logging-using-cloudtrail.html; an
  older edition spelled the value HIDDEN_FOR_SECURITY_REASONS). The user is therefore named by
  ``additionalEventData.sub`` (the same page's Logs Insights query reads
  ``additionalEventData.sub``).
- A captured ``SignUp`` event (aws-amplify/amplify-js#10374, pasted by a user in 2022):
  ``userIdentity {"type": "Unknown", "principalId": "Anonymous"}`` for an unsigned call;
  ``requestParameters {clientId, username: HIDDEN_DUE_TO_SECURITY_REASONS, password: HIDDEN...,
  userAttributes: HIDDEN...}`` (the whole attribute list hidden as one string);
  ``responseElements.codeDeliveryDetails {destination: HIDDEN..., deliveryMedium, attributeName}``.
  "user attributes (such as email) are not revealed in the CloudTrail event. They appear as
  HIDDEN_DUE_TO_SECURITY_REASONS" (aws-amplify/amplify-js#9391, 2024).
- Admin calls carry ``requestParameters.userPoolId`` and the user as ``additionalEventData.sub``:
  AWS's own consumer of ``AdminUpdateUserAttributes`` events reads exactly those two fields and
  then reads the email from Cognito (``AdminGetUser``) instead of trusting the event
  (aws-solutions/deepracer-on-aws, ``profileEmailChangeHandler.ts`` with ``common/types.ts``:
  ``additionalEventData {sub}``, ``responseElements: null``, ``eventVersion`` 1.08).
- ``DeleteUser`` / ``AdminDeleteUser`` reach a default-bus rule matching ``source
  aws.cognito-idp``, ``detail-type AWS API Call via CloudTrail`` and ``detail.eventName``
  (zenn.dev/mn87, "Cognito ユーザープールのユーザー削除イベントを EventBridge で検知してみた", a
  captured run).
- The envelope and common fields (``eventVersion`` 1.08, ``eventSource``, ``eventType
  AwsApiCall``, ``managementEvent``, ``eventCategory Management``, ``recipientAccountId``): the
  developer guide's "Example Amazon Cognito events"; user-pool API calls are management events
  (same guide).

Not confirmed from a published sample of these operations (AWS publishes none for user-pool API
calls); choices made here, each in one place below:

- Which fields are shown: ids and enums (``userPoolId``, ``clientId``, ``challengeName``,
  ``attributeName``, ``messageAction``, ...) in clear; everything else, including every
  ``username``, ``accessToken``, ``code``, ``session``, password, challenge response and the
  whole ``userAttributes`` list, hidden.
- Token-authorized calls (``DeleteUser``, ``UpdateUserAttributes``, ``VerifyUserAttribute``,
  ``RespondToAuthChallenge``) carry no pool id in their request: this module puts the pool in
  ``additionalEventData.userPoolId`` next to ``sub`` for every call, so a consumer finds both
  in one place. Their ``userIdentity`` is the anonymous one of the ``SignUp`` sample.
- ``responseElements``: ``null`` unless the caller passes the (already hidden) response, as the
  front does for the code delivery of ``UpdateUserAttributes``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

HIDDEN: Final = "HIDDEN_DUE_TO_SECURITY_REASONS"
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
    response_elements: Mapping[str, Any] | None = None,
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
        "responseElements": dict(response_elements) if response_elements is not None else None,
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
    """A request as CloudTrail records it: camelCase names; ids and enums in clear; everything
    else (names, tokens, codes, attributes) hidden."""
    return {
        key: value if key in _VISIBLE_FIELDS else HIDDEN
        for key, value in ((name[:1].lower() + name[1:], value) for name, value in request.items())
    }


def hidden_delivery(details: Mapping[str, Any]) -> dict[str, Any]:
    """A code delivery as CloudTrail shows it (the ``SignUp`` sample): the destination hidden."""
    return {
        "destination": HIDDEN,
        "deliveryMedium": details.get("DeliveryMedium"),
        "attributeName": details.get("AttributeName"),
    }


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
