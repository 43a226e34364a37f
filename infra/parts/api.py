"""The GraphQL API: AppSync with Cognito user pool auth (default, this stack's app client only)
and IAM (operators), one Lambda data source for the Python resolver, a resolver per root field
running ``contracts/resolver.js`` (it turns errors the Python resolver returns as values into
GraphQL errors with a type and data, and sets subscription filters), field-level logging at
ERROR and X-Ray. The resolver may read users, edit their profiles and read the audit trail —
nothing more (its grants: ``contracts.topology.USER_API``). The IAM-only ``publishUser*``
mutations run on a NONE data source (``contracts/publish.js``): their result is their input,
published to the subscriptions."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_appsync as appsync
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from contracts.appsync import (
    PUBLISH_CODE_PATH,
    PUBLISH_MUTATIONS,
    RESOLVER_CODE_PATH,
    SCHEMA_PATH,
    root_fields,
)
from contracts.topology import GRAPHQL_API, PAGE_TOKEN_KEY, USER_API, ResourceNames, StageResources
from infra.parts.alarms import Alarms
from infra.parts.functions import TRACING_OFF, FunctionFactory
from infra.parts.nag import acknowledge


class UserGraphqlApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        user_pool: cognito.IUserPool,
        app_client: cognito.IUserPoolClient,
        functions: FunctionFactory,
        alarms: Alarms,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        resources: StageResources,
    ) -> None:
        super().__init__(scope, construct_id)
        # Deleted with the stack in every stage: a new key only invalidates outstanding
        # nextTokens, while a kept one's fixed name would stop the next deploy of the stage.
        self.page_token_key = secretsmanager.Secret(
            self,
            PAGE_TOKEN_KEY.id,
            secret_name=names.of(PAGE_TOKEN_KEY.base_name),
            description=PAGE_TOKEN_KEY.description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=PAGE_TOKEN_KEY.length, exclude_punctuation=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        resources.add(
            PAGE_TOKEN_KEY.id,
            arn=self.page_token_key.secret_arn,
            name=self.page_token_key.secret_name,
        )
        acknowledge(
            self.page_token_key,
            "AwsSolutions-SMG4",
            "An HMAC key for page tokens, not a credential: rotating it only invalidates "
            "outstanding nextTokens; rotate by updating the secret when needed.",
        )
        self.function = functions.make(
            self,
            USER_API,
            invoked_by="AppSync calls it synchronously and returns its errors to the client.",
        )
        alarms.function_errors(self, self.function)

        log_role = iam.Role(
            self,
            "LogRole",
            assumed_by=iam.ServicePrincipal("appsync.amazonaws.com"),
            description="Lets AppSync write the API's own logs, nothing else",
        )
        self.api = appsync.GraphqlApi(
            self,
            "Api",
            name=names.graphql_api,
            definition=appsync.Definition.from_file(str(SCHEMA_PATH)),
            authorization_config=appsync.AuthorizationConfig(
                default_authorization=appsync.AuthorizationMode(
                    authorization_type=appsync.AuthorizationType.USER_POOL,
                    # Only this stack's app client: a token minted for another client of the
                    # pool is refused, as the local stack refuses it.
                    user_pool_config=appsync.UserPoolConfig(
                        user_pool=user_pool,
                        app_id_client_regex=f"^{app_client.user_pool_client_id}$",
                    ),
                ),
                additional_authorization_modes=[
                    appsync.AuthorizationMode(authorization_type=appsync.AuthorizationType.IAM)
                ],
            ),
            xray_enabled=functions.traced,
        )
        # Logging is set on the L1: the L2's log_config always adds a log-retention custom
        # resource (a Node function with a managed policy); our own log group below replaces it.
        cfn_api = self.api.node.default_child
        assert isinstance(cfn_api, appsync.CfnGraphQLApi)
        if not functions.traced:
            acknowledge(cfn_api, "Serverless-AppSyncTracing", TRACING_OFF)
        cfn_api.log_config = appsync.CfnGraphQLApi.LogConfigProperty(
            cloud_watch_logs_role_arn=log_role.role_arn,
            field_log_level="ERROR",
            exclude_verbose_content=True,
        )
        acknowledge(
            cfn_api,
            "AwsSolutions-ASC3",
            "Field-level logging is on at ERROR; verbose content (headers, arguments, "
            "results) is excluded on purpose so email addresses never reach the logs.",
        )
        # The log group AppSync writes to, made here so it has a retention (not forever).
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/appsync/apis/{self.api.api_id}",
            retention=log_retention,
            removal_policy=removal_policy,
        )
        log_group.grant_write(log_role)
        self.data_source = self.api.add_lambda_data_source("Resolver", self.function)
        function_id = Stack.of(self).resolve(
            Stack.of(self).get_logical_id(self.function.node.default_child)  # type: ignore[arg-type]
        )
        acknowledge(
            self.data_source.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "AppSync may invoke only this function (its versions are the ':*' suffix).",
        )
        code = appsync.Code.from_asset(str(RESOLVER_CODE_PATH))
        for type_name, field in root_fields():
            self.data_source.create_resolver(
                f"{type_name}{field[0].upper()}{field[1:]}",
                type_name=type_name,
                field_name=field,
                runtime=appsync.FunctionRuntime.JS_1_0_0,
                code=code,
            )
        publish_source = self.api.add_none_data_source(
            "Publish", description="Publishes the pipeline's changes to the subscriptions"
        )
        publish_code = appsync.Code.from_asset(str(PUBLISH_CODE_PATH))
        for field in PUBLISH_MUTATIONS:
            publish_source.create_resolver(
                f"Mutation{field[0].upper()}{field[1:]}",
                type_name="Mutation",
                field_name=field,
                runtime=appsync.FunctionRuntime.JS_1_0_0,
                code=publish_code,
            )
        resources.add(GRAPHQL_API, graphql_url=self.api.graphql_url, api_id=self.api.api_id)
