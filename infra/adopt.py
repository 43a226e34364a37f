"""Taking a kept stage's retained resources back after ``cdk destroy``: the resource mapping
``cdk import`` needs, written from the very template it imports with.

A stage that is not ephemeral keeps its user pool and the pool's groups, its tables, its event
bus with the archive (the events the User table is rebuilt from), the functions' log groups and
the CloudTrail log bucket when its stack is deleted. Deploying the stage again cannot create
them anew: the tables, bus, archive and log groups have fixed names (CloudFormation stops at
"already exists"), and a user pool's name is not unique, so a plain deploy would create a
second, empty pool beside the one that holds the users. Instead the stack is created by
importing them, then deployed (docs/deploy.md, "What `destroy` keeps")::

    python -m infra.adopt -c stage=prod --user-pool-id eu-west-1_AbC123 > build/adopt-prod.json
    npx cdk import -c stage=prod -c adopt=true --resource-mapping build/adopt-prod.json
    npx cdk deploy -c stage=prod

An import creates nothing, so what it imports may refer only to itself: ``-c adopt=true``
synthesizes the pool without its PostConfirmation trigger, which the deploy creates and
attaches again. This module reads no AWS account: the pool's id is the one identifier the
template cannot know, so it is given.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from typing import Any, Final

USER_POOL: Final = "AWS::Cognito::UserPool"
#: Each type a kept stage retains, by the properties an import identifies it with (the type's
#: ``primaryIdentifier`` in its CloudFormation registry schema).
IDENTIFIERS: Final[dict[str, tuple[str, ...]]] = {
    USER_POOL: ("UserPoolId",),
    "AWS::Cognito::UserPoolGroup": ("UserPoolId", "GroupName"),
    "AWS::DynamoDB::Table": ("TableName",),
    # Both importable: "For default event buses, the identifier is Name" (EventBridge user
    # guide, "Updating a default event bus using CloudFormation"), and the Archive is in
    # CloudFormation's "Resource type support" list for import.
    "AWS::Events::EventBus": ("Name",),
    "AWS::Events::Archive": ("ArchiveName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
}
#: Cognito's user pool id: ``<region>_<id>``.
USER_POOL_ID: Final = re.compile(r"[\w-]+_[0-9a-zA-Z]+")

Mapping = dict[str, dict[str, str]]


class InvalidUserPoolIdError(ValueError):
    def __init__(self) -> None:
        super().__init__("--user-pool-id is not a user pool id (<region>_<id>, as eu-west-1_Ab1)")


def import_mapping(template: dict[str, Any], *, user_pool_id: str) -> Mapping:
    """Logical id -> import identifier, for every retained resource of the types above whose
    identifier is known before the deploy. One named after a resource the deploy creates anew
    (the AppSync log group, named after the API's id) is left out: it never stands in the way.
    So is a retained resource of any other type; tests/infra/test_redeploy.py fails if such a
    resource has a fixed name."""
    if not USER_POOL_ID.fullmatch(user_pool_id):
        raise InvalidUserPoolIdError
    resources: dict[str, dict[str, Any]] = template["Resources"]
    kept = {lid: r for lid, r in resources.items() if r.get("DeletionPolicy") == "Retain"}
    pool_refs = [{"Ref": lid} for lid, r in kept.items() if r["Type"] == USER_POOL]
    if len(pool_refs) > 1:
        raise ValueError("a stage has one user pool; --user-pool-id cannot name several")

    def value(kind: str, name: str, properties: dict[str, Any]) -> str | None:
        if kind == USER_POOL and name == "UserPoolId":
            return user_pool_id
        given = properties.get(name)
        if given in pool_refs:
            return user_pool_id
        return given if isinstance(given, str) else None

    mapping: Mapping = {}
    for logical_id, resource in kept.items():
        kind = resource["Type"]
        if kind not in IDENTIFIERS:
            continue
        properties = resource.get("Properties", {})
        identifier = {name: value(kind, name, properties) for name in IDENTIFIERS[kind]}
        if all(identifier.values()):
            mapping[logical_id] = {name: str(v) for name, v in identifier.items()}
    return mapping


def adopting_template(context: dict[str, str]) -> dict[str, Any]:
    """The template ``cdk import`` synthesizes with this context and ``-c adopt=true``."""
    from infra.app import build_app

    with tempfile.TemporaryDirectory() as outdir:
        app, stack = build_app({**context, "adopt": "true"}, outdir=outdir)
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
        return template


def _context_pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE, as with cdk's -c")
    return key, value


def _user_pool_id(text: str) -> str:
    if not USER_POOL_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(str(InvalidUserPoolIdError()))
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.adopt",
        description="Print the --resource-mapping for `cdk import -c adopt=true` of a kept "
        "stage after `cdk destroy` (docs/deploy.md, 'What `destroy` keeps').",
    )
    parser.add_argument(
        "-c",
        "--context",
        type=_context_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the context `cdk import` gets (stage=prod, welcomeNotifier=off, ...)",
    )
    parser.add_argument(
        "--user-pool-id",
        type=_user_pool_id,
        required=True,
        help="the kept pool's id: the UserPoolId output, or `aws cognito-idp list-user-pools`",
    )
    args = parser.parse_args(argv)
    template = adopting_template(dict(args.context))
    print(json.dumps(import_mapping(template, user_pool_id=args.user_pool_id), indent=2))


if __name__ == "__main__":
    main()
