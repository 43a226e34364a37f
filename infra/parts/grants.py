"""Each function's declared grants (``contracts.topology.Grant``) as statements on its role.

The declaration says what a function may call and on what; this says how IAM spells it. A grant
on a wildcard carries its reason to cdk-nag, on the policy that holds it."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from contracts.topology import (
    GRAPHQL_API,
    ApiFields,
    Attr,
    FunctionSpec,
    Grant,
    IndexOf,
    SesIdentities,
    Setting,
    StageResources,
)
from infra.parts.nag import acknowledge


class UnresolvedConditionError(ValueError):
    def __init__(self, spec: FunctionSpec, setting: Setting) -> None:
        super().__init__(f"{spec.id}'s grant names {setting.key}, and the stage gives none")


def grant_declared(
    function: lambda_.Function, spec: FunctionSpec, resources: StageResources
) -> None:
    """Add ``spec``'s grants to ``function``'s role, each reference resolved by ``resources``."""
    stack = Stack.of(function)
    for grant in spec.grants:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(grant.actions),
                resources=_policy_resources(grant, resources, stack),
                conditions=_conditions(grant, spec, resources),
            )
        )
        if isinstance(grant.on, SesIdentities):
            acknowledge(
                function.role.node.find_child("DefaultPolicy"),  # type: ignore[union-attr]
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:"
                "<AWS::AccountId>:identity/*]",
                grant.why,
            )


def _policy_resources(grant: Grant, resources: StageResources, stack: Stack) -> list[str]:
    target = grant.on
    if isinstance(target, Attr):
        return [resources.attribute(target)]
    if isinstance(target, IndexOf):
        return [f"{resources.attribute(Attr(target.table, 'arn'))}/index/{target.index}"]
    if isinstance(target, ApiFields):
        api_id = resources.attribute(Attr(GRAPHQL_API, "api_id"))
        return [
            stack.format_arn(
                service="appsync",
                resource=f"apis/{api_id}",
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                resource_name=f"types/{target.type_name}/fields/{field}",
            )
            for field in target.fields
        ]
    return [stack.format_arn(service="ses", resource="identity", resource_name="*")]


def _conditions(
    grant: Grant, spec: FunctionSpec, resources: StageResources
) -> dict[str, object] | None:
    if grant.condition is None:
        return None
    sender = resources(grant.condition.sender)
    if not sender:
        raise UnresolvedConditionError(spec, grant.condition.sender)
    return {"StringEquals": {"ses:FromAddress": sender}}
