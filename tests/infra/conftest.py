from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@dataclass
class Synthesized:
    """One synthesized stage: its template, the cdk-nag report and where the assembly is."""

    outdir: Path
    stack_name: str
    template: dict[str, Any]
    validation: dict[str, Any]
    error: str | None

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{self.stack_name}.template.json"

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    def one(self, kind: str, **matching: Any) -> dict[str, Any]:
        found = [
            r
            for r in self.resources(kind).values()
            if all(r["Properties"].get(k) == v for k, v in matching.items())
        ]
        assert len(found) == 1, f"expected one {kind} with {matching}, found {len(found)}"
        return found[0]

    def logical_id(self, kind: str, **matching: Any) -> str:
        resource = self.one(kind, **matching)
        return next(k for k, r in self.template["Resources"].items() if r is resource)


def synthesize(tmp: Path, context: dict[str, Any]) -> Synthesized:
    from infra.app import build_app
    from infra.layer import build_all

    build_all()  # the dependency layers; a no-op once built
    app, stack = build_app(context, outdir=str(tmp))
    error = None
    try:
        app.synth()
    except Exception as exc:  # cdk-nag findings fail synth but still write the report
        error = str(exc)
    report = tmp / "validation-report.json"
    return Synthesized(
        outdir=tmp,
        stack_name=stack.stack_name,
        template=json.loads((tmp / f"{stack.stack_name}.template.json").read_text()),
        validation=json.loads(report.read_text()) if report.exists() else {"pluginReports": []},
        error=error,
    )


#: A sender on a domain SES can verify (the example consumer is deployed only with one).
WELCOME_SENDER = "welcome@mail.acme-widgets.io"


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A stage with every part: the example consumer too (it is given a sender)."""
    return synthesize(
        tmp_path_factory.mktemp("dev"), {"stage": "dev", "welcomeSender": WELCOME_SENDER}
    )


@pytest.fixture(scope="session")
def ephemeral(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        tmp_path_factory.mktemp("pr"),
        {
            "stage": "pr-42",
            "ephemeral": "true",
            "archiveRetentionDays": "30",
            "auditRetentionDays": "365",
            "alarmEmail": "ops@example.com",
        },
    )


@pytest.fixture(scope="session")
def without_welcome(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The dev stage as the README's plain ``npx cdk deploy -c stage=dev`` makes it: no
    ``welcomeSender``, so no example consumer (it would fail every message)."""
    return synthesize(tmp_path_factory.mktemp("without-welcome"), {"stage": "dev"})


@pytest.fixture(scope="session")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The dev stage with every cost knob turned down (bench/COST.md): no announcements of what
    the pipeline changes, no X-Ray, warnings and errors only."""
    return synthesize(
        tmp_path_factory.mktemp("lean"),
        {
            "stage": "dev",
            "welcomeSender": WELCOME_SENDER,
            "announceChanges": "off",
            "tracing": "off",
            "logLevel": "WARN",
        },
    )
