"""The bus userpipe's events travel on, its archive (for replays) and ``UserConfirmed``'s schema
in an EventBridge schema registry (so other teams and accounts can discover and bind to it).

The archive is the truth the User table is rebuilt from (``userpipe rebuild``): a kept stage
retains it and its bus on delete, and ``cdk import`` takes both back (``infra.adopt``). An
ephemeral stage is destroyed whole."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from constructs import Construct

from contracts.jsonschema import eventbridge_schema
from contracts.names import EVENT_SOURCE, USER_CONFIRMED
from contracts.topology import ARCHIVE, BUS, ResourceNames, StageResources


class UserEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: ResourceNames,
        archive_retention_days: int,
        retain: bool,
        resources: StageResources,
    ) -> None:
        super().__init__(scope, construct_id)
        removal_policy = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.bus = events.EventBus(self, BUS.id, event_bus_name=names.of(BUS.base_name))
        self.bus.apply_removal_policy(removal_policy)
        self.archive = self.bus.archive(
            ARCHIVE.id,
            archive_name=names.of(ARCHIVE.base_name),
            description="Every userpipe event, for replays that rebuild the User table",
            event_pattern=events.EventPattern(source=ARCHIVE.pattern["source"]),
            retention=Duration.days(archive_retention_days) if archive_retention_days else None,
        )
        self.archive.apply_removal_policy(removal_policy)
        registry = eventschemas.CfnRegistry(
            self,
            "Registry",
            registry_name=names.prefix,
            description="Events published by userpipe",
        )
        self.schema = eventschemas.CfnSchema(
            self,
            "UserConfirmedSchema",
            registry_name=registry.attr_registry_name,
            schema_name=f"{EVENT_SOURCE}@{USER_CONFIRMED}",
            type="JSONSchemaDraft4",
            content=json.dumps(eventbridge_schema()),
            description="UserConfirmed v1 (contracts/schemas/UserConfirmed.v1.json)",
        )
        resources.add(BUS.id, name=self.bus.event_bus_name, arn=self.bus.event_bus_arn)
        resources.add(ARCHIVE.id, name=self.archive.archive_name, arn=self.archive.archive_arn)
