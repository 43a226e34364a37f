"""The CloudTrail trail that puts Cognito's API calls on the account's default bus.

EventBridge receives ``AWS API Call via CloudTrail`` events only while "a CloudTrail trail with
logging enabled" exists (EventBridge user guide, "Events from AWS services"); user_sync's
subscription hears nothing without one. A stage with ``-c cloudTrail=create`` (the default) gets
this trail; ``-c cloudTrail=existing`` says the account logs management events already and
nothing is made.

The trail is as small as EventBridge needs: this Region only, no global service events, write
management events only. Every user-pool API call is a management event (Cognito developer guide,
"Logging Amazon Cognito API calls with AWS CloudTrail"), and the calls user_sync follows
(UpdateUserAttributes, VerifyUserAttribute, AdminUpdateUserAttributes, DeleteUser,
AdminDeleteUser) change state: CloudTrail records them with ``readOnly: false``, and EventBridge
takes read-only calls (List, Get, Describe) only from rules that opt in to them.

Cost (https://aws.amazon.com/cloudtrail/pricing/): "The first copy of management events is
delivered free of charge"; every further copy costs $2.00 per 100,000 management events, and the
bucket costs S3 storage. So ``create`` is free of CloudTrail charges in an account with no other
trail of management events in this Region; where one exists (an organization trail included),
use ``existing`` instead of paying for a second copy of every write call in the Region.

The log bucket outlives the stack (``RemovalPolicy.RETAIN``, in every stage): CloudTrail keeps
writing until the trail is gone, so CloudFormation could not delete the bucket (it deletes only
empty buckets), and the logs are an audit record whose life should not end with a stack. Its
lifecycle rule expires every object after ``LOG_EXPIRY_DAYS``, so a kept bucket empties itself;
its name is generated, so a redeploy makes a new one beside it rather than stopping on it.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_s3 as s3
from constructs import Construct

from contracts.topology import ResourceNames
from infra.parts.nag import acknowledge

#: How long the trail's log files are kept. CloudTrail's own event history keeps 90 days of
#: management events for free; the files match it.
LOG_EXPIRY_DAYS: Final = 90


class CognitoCallsTrail(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, names: ResourceNames) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Logs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireTrailLogs",
                    expiration=Duration.days(LOG_EXPIRY_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Only CloudTrail writes here (its bucket policy); the trail's files are themselves the "
            "access record, with log file validation on. Access logs of it would be a second "
            "bucket to keep for a log bucket.",
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=names.of("cognito-calls"),
            bucket=self.bucket,
            is_multi_region_trail=False,
            include_global_service_events=False,
            management_events=cloudtrail.ReadWriteType.WRITE_ONLY,
            enable_file_validation=True,
            send_to_cloud_watch_logs=False,
        )
