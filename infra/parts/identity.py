"""The user pool: email sign-up, verified and strong; the Admin group; an app client; and the
PostConfirmation and pre token generation triggers (one function, ``USER_POOL`` says which). The
trigger needs only ``events:PutEvents`` (the pool id arrives in the event), so the pool and the
trigger's role never refer to each other: no cycle. A changed email stays unused until the user
verifies it (``USER_POOL.verify_before_update``).

A kept stage retains the pool and its groups (who is an Admin) on delete. ``trigger=None``
builds the pool as ``cdk import`` takes it back (``infra.adopt``): an import creates nothing,
so the pool may not refer to a function the next deploy creates."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from contracts.topology import USER_POOL, ResourceNames, StageResources
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
    ) -> None:
        super().__init__(scope, construct_id)
        declared = USER_POOL
        removal_policy = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        triggers = (
            cognito.UserPoolTriggers(post_confirmation=trigger)
            if trigger and declared.post_confirmation
            else None
        )
        self.user_pool = cognito.UserPool(
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
                email=cognito.StandardAttribute(required=True, mutable=True)
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
            self.user_pool.add_trigger(
                cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
                trigger,
                cognito.LambdaVersion.V1_0,
            )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "Self sign-up pool: MFA is offered (TOTP) but not forced on every user.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG3",
            "Threat protection needs the paid Plus plan; a deployment can enable it.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "Threat protection needs the paid Plus plan; a deployment can enable it.",
        )
        for group in declared.groups:
            cognito.CfnUserPoolGroup(
                self,
                f"{group.name}Group",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=group.name,
                description=group.description,
            ).apply_removal_policy(removal_policy)
        flows = set(declared.auth_flows)
        self.client = self.user_pool.add_client(
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
