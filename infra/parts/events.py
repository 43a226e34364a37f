"""The bus ``UserConfirmed`` travels on, its archive (for replays) and the event's schema in an
EventBridge schema registry (so other teams and accounts can discover and bind to it)."""

from __future__ import annotations

import json

from aws_cdk import Duration
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
        resources: StageResources,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, BUS.id, event_bus_name=names.of(BUS.base_name))
        self.archive = self.bus.archive(
            ARCHIVE.id,
            archive_name=names.of(ARCHIVE.base_name),
            description="Every userpipe event, for replays that rebuild the User table",
            event_pattern=events.EventPattern(source=ARCHIVE.pattern["source"]),
            retention=Duration.days(archive_retention_days) if archive_retention_days else None,
        )
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
