"""The CDK app. ``npx cdk synth -c stage=NAME`` (see docs/deploy.md). Needs no AWS credentials,
no Docker and no network: the dependency layer is built beforehand (``make layer``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.config import StageConfig
from infra.stack import UserpipeStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def build_app(
    context: dict[str, object] | None = None, *, outdir: str | None = None
) -> tuple[App, UserpipeStack]:
    """The app as the CDK CLI builds it. Outside the CLI (tests), cdk.json's context — the
    feature flags included — is applied first, so both synthesize the same template."""
    if "CDK_CONTEXT_JSON" not in os.environ:
        context = {**json.loads(CDK_JSON.read_text())["context"], **(context or {})}
    app = App(context=context, outdir=outdir)
    config = StageConfig.from_context(app.node.try_get_context)
    stack = UserpipeStack(
        app,
        f"userpipe-{config.stage}",
        config=config,
        description=f"userpipe ({config.stage}): Cognito sign-ups to a replayable User table",
        env=Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
    )
    Tags.of(app).add("project", "userpipe")
    Tags.of(app).add("stage", config.stage)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack


if __name__ == "__main__":
    build_app()[0].synth()
