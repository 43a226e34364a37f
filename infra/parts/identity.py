"""The user pool: email sign-up, verified and strong; the Admin group; an app client; and the
PostConfirmation and pre token generation triggers (one function, ``USER_POOL`` says which). The
trigger needs only ``events:PutEvents`` (the pool id arrives in the event), so the pool and the
trigger's role never refer to each other: no cycle. A changed email stays unused until the user
verifies it (``USER_POOL.verify_before_update``).

A kept stage retains the pool and its groups (who is an Admin) on delete. ``trigger=None``
builds the pool as ``cdk import`` takes it back (``infra.adopt``): an import creates nothing,
so the pool may not refer to a function the next deploy creates.

``ExistingPool`` (``-c userPoolId=... -c userPoolClientId=...``): the stage uses a pool it does
not own — its users, its app client, its ``Admin`` group — and creates no pool, client, domain
or group. It cannot attach the triggers: CloudFormation changes only the resources it manages,
and ``AWS::Cognito::UserPool``'s ``LambdaConfig`` is a property of a pool it would have to own.
``userpipe attach-triggers`` attaches them (docs/deploy.md, "Deploying on an existing user
pool"); the stack only lets Cognito invoke the function: "When you create a trigger outside
the Amazon Cognito console, you must explicitly add permissions" (AWS re:Post knowledge center,
"cognito-lambda-trigger-errors") — a resource-based policy for ``cognito-idp.amazonaws.com``
limited by ``SourceArn`` (the pool) and ``SourceAccount``, as the console adds it."""

from __future__ import annotations

from aws_cdk import CfnRule, CfnRuleAssertion, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts.topology import USER_POOL, ResourceNames, StageResources
from infra.config import USER_POOL_ID_KEY, ExistingPool, InvalidContextError
from infra.parts.nag import acknowledge


class Identity(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        trigger: lambda_.Function | None,
        retain: bool,
        resources: StageResources,
        existing: ExistingPool | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if existing is not None:
            self._use_existing(existing, names=names, trigger=trigger, resources=resources)
            return
        self.user_pool: cognito.IUserPool
        self.client: cognito.IUserPoolClient
        declared = USER_POOL
        removal_policy = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        triggers = (
            cognito.UserPoolTriggers(post_confirmation=trigger)
            if trigger and declared.post_confirmation
            else None
        )
        self.user_pool = pool = cognito.UserPool(
            self,
            declared.id,
            user_pool_name=names.of(declared.base_name),
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(
                email="email" in declared.sign_in_aliases, username=False
            ),
            auto_verify=cognito.AutoVerifiedAttrs(email="email" in declared.auto_verified),
            # UserAttributeUpdateSettings.AttributesRequireVerificationBeforeUpdate
            keep_original=cognito.KeepOriginalAttrs(email="email" in declared.verify_before_update),
            user_verification=cognito.UserVerificationConfig(
                email_style=cognito.VerificationEmailStyle.CODE
            ),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(
                    required="email" in declared.required_attributes, mutable=True
                )
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=declared.password.min_length,
                require_lowercase=declared.password.require_lowercase,
                require_uppercase=declared.password.require_uppercase,
                require_digits=declared.password.require_digits,
                require_symbols=declared.password.require_symbols,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            lambda_triggers=triggers,
            deletion_protection=retain,
            removal_policy=removal_policy,
        )
        if declared.pre_token_generation not in (None, declared.post_confirmation):
            raise ValueError(
                "the stack makes one trigger function: pre token generation must be "
                "the PostConfirmation function or none"
            )
        if trigger and declared.pre_token_generation:
            # V1_0: the function returns the event unchanged, so it needs none of V2's token
            # customization (which also needs the Essentials or Plus feature plan).
            pool.add_trigger(
                cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
                trigger,
                cognito.LambdaVersion.V1_0,
            )
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "Self sign-up pool: MFA is offered (TOTP) but not forced on every user.",
        )
        acknowledge(
            pool,
            "AwsSolutions-COG3",
            "Threat protection needs the paid Plus plan; a deployment can enable it.",
        )
        acknowledge(
            pool,
            "AwsSolutions-COG8",
            "Threat protection needs the paid Plus plan; a deployment can enable it.",
        )
        for group in declared.groups:
            cognito.CfnUserPoolGroup(
                self,
                f"{group.name}Group",
                user_pool_id=pool.user_pool_id,
                group_name=group.name,
                description=group.description,
            ).apply_removal_policy(removal_policy)
        flows = set(declared.auth_flows)
        self.client = pool.add_client(
            "AppClient",
            user_pool_client_name=names.of(declared.client_base_name),
            generate_secret=False,
            auth_flows=cognito.AuthFlow(
                user_srp="ALLOW_USER_SRP_AUTH" in flows,
                user_password="ALLOW_USER_PASSWORD_AUTH" in flows,
            ),
            prevent_user_existence_errors=True,
            read_attributes=cognito.ClientAttributes().with_standard_attributes(
                email="email" in declared.read_attributes,
                email_verified="email_verified" in declared.read_attributes,
            ),
        )
        resources.add(
            declared.id,
            id=self.user_pool.user_pool_id,
            arn=self.user_pool.user_pool_arn,
            name=names.of(declared.base_name),
            client_id=self.client.user_pool_client_id,
        )

    def _use_existing(
        self,
        existing: ExistingPool,
        *,
        names: ResourceNames,
        trigger: lambda_.Function | None,
        resources: StageResources,
    ) -> None:
        """Refer to the pool by its ARN, built with the Region its id names: an imported
        resource's Region is its ARN's, which AppSync's user pool auth reads."""
        stack = Stack.of(self)
        if not Token.is_unresolved(stack.region) and stack.region != existing.region:
            raise InvalidContextError(
                USER_POOL_ID_KEY,
                existing.user_pool_id,
                f"a pool in the stack's Region, {stack.region} (a trigger and the API's auth "
                "work with a pool in their own Region only)",
            )
        if Token.is_unresolved(stack.region):
            # An environment-agnostic stack learns its Region at deploy: refuse it there.
            CfnRule(
                self,
                "PoolInStackRegion",
                assertions=[
                    CfnRuleAssertion(
                        assert_=Fn.condition_equals(stack.region, existing.region),
                        assert_description=f"{USER_POOL_ID_KEY} {existing.user_pool_id} is in "
                        f"{existing.region}: deploy the stack there",
                    )
                ],
            )
        arn = stack.format_arn(
            service="cognito-idp",
            resource="userpool",
            resource_name=existing.user_pool_id,
            region=existing.region,
        )
        self.user_pool = cognito.UserPool.from_user_pool_arn(self, USER_POOL.id, arn)
        self.client = cognito.UserPoolClient.from_user_pool_client_id(
            self, "AppClient", existing.client_id
        )
        if trigger is not None:
            trigger.add_permission(
                "CognitoInvokes",
                principal=iam.ServicePrincipal("cognito-idp.amazonaws.com"),
                source_arn=arn,
                source_account=stack.account,
            )
        resources.add(
            USER_POOL.id,
            id=existing.user_pool_id,
            arn=arn,
            name=existing.user_pool_id,  # a pool's name is not unique; its id is
            client_id=existing.client_id,
        )
