"""The Amplify JS v6 configuration (``ResourcesConfig``) for a frontend of a userpipe stack —
local (``userpipe local up`` writes it next to the outputs) or deployed (``userpipe outputs
--stack NAME`` prints it). A frontend passes it to ``Amplify.configure(config)`` unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def amplify_config(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """``outputs``: a stack's outputs under their snake-case names (CloudFormation's, or the
    local stack's file). Locally, Cognito is the stack's own endpoint (``userPoolEndpoint``,
    its TLS port, so a page served over HTTPS may call it); on AWS, Amplify finds Cognito
    from the pool id's region."""
    cognito: dict[str, Any] = {
        "userPoolId": outputs["user_pool_id"],
        "userPoolClientId": outputs["user_pool_client_id"],
        "loginWith": {"email": True},
        "signUpVerificationMethod": "code",
    }
    endpoint = outputs.get("tls_endpoint_url") or outputs.get("endpoint_url")
    if endpoint:
        cognito["userPoolEndpoint"] = endpoint
    return {
        "Auth": {"Cognito": cognito},
        "API": {
            "GraphQL": {
                "endpoint": outputs["graphql_url"],
                "region": outputs["region"],
                "defaultAuthMode": "userPool",
            }
        },
    }
