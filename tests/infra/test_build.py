"""How the app is built: acknowledgements, the layer, the code assets, context, the CDK CLI."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import CfnResource, Stack

from contracts.topology import (
    CONFIRM_TRIGGER,
    FUNCTIONS,
    SUBSCRIPTIONS,
    USER_PROJECTOR,
    FunctionSpec,
)
from infra.bundling import function_code
from infra.config import InvalidContextError, StageConfig
from infra.layer import (
    PLATFORM,
    PYTHON_VERSION,
    LayerConflictError,
    build,
    build_all,
    check_shared_distributions_agree,
    distributions,
)
from infra.parts.functions import ARCHITECTURE, RUNTIME

ROOT = Path(__file__).resolve().parents[2]
ELF_MACHINE_AARCH64 = 183


def test_every_acknowledgement_sits_on_one_resource_and_gives_a_reason() -> None:
    from infra.app import build_app

    app, _ = build_app({"stage": "dev"})
    acknowledged = [
        (construct, entry.data)
        for construct in app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
    ]
    assert len(acknowledged) >= 10
    for construct, rules in acknowledged:
        assert not isinstance(construct, Stack), f"stack-wide acknowledgement: {rules}"
        resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
        assert isinstance(resource, CfnResource), f"{construct.node.path} is not one resource"
        assert all(len(reason) > 20 for reason in rules.values()), rules


def test_layer_matches_the_functions_runtime_and_architecture() -> None:
    assert RUNTIME.name == f"python{PYTHON_VERSION}"
    assert ARCHITECTURE.name == "arm64" and "aarch64" in PLATFORM
    native = list((build("models") / "python").rglob("*.so"))
    assert native, "pydantic_core should bring at least one native module"
    for library in native:
        assert_built_for_the_functions(library)


def assert_built_for_the_functions(library: Path) -> None:
    header = library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", library
    (machine,) = struct.unpack_from("<H", header, 18)
    assert machine == ELF_MACHINE_AARCH64, f"{library.name} is not aarch64"
    if ".cpython-" in library.name:
        assert f"cpython-{PYTHON_VERSION.replace('.', '')}-aarch64" in library.name


def test_the_crypto_layer_holds_cryptography_and_cffi_built_for_the_functions() -> None:
    """cryptography's Rust extension is one abi3 wheel for every CPython from 3.11, and it loads
    cffi's backend when imported (AESGCM's import puts ``_cffi_backend`` in ``sys.modules``), so
    the layer carries both, as aarch64 binaries."""
    layer = build("crypto")
    assert {"cryptography", "cffi"} <= set(distributions(layer))
    native = {library.name: library for library in (layer / "python").rglob("*.so")}
    cffi_backend = f"_cffi_backend.cpython-{PYTHON_VERSION.replace('.', '')}-aarch64-linux-gnu.so"
    assert {"_rust.abi3.so", cffi_backend} <= set(native)
    for library in native.values():
        assert_built_for_the_functions(library)


def test_layers_carry_the_runtime_dependencies_but_not_boto3() -> None:
    powertools = {path.name for path in (build("powertools") / "python").iterdir()}
    models = {path.name for path in (build("models") / "python").iterdir()}
    assert "aws_lambda_powertools" in powertools
    assert "pydantic" not in powertools and "pydantic_core" not in powertools
    assert {"pydantic", "pydantic_core"} <= models
    for packages in (powertools, models):
        assert "boto3" not in packages and "botocore" not in packages


def test_layers_that_share_a_distribution_ship_the_same_version_of_it() -> None:
    built = build_all()
    shared = set(distributions(built["powertools"])) & set(distributions(built["models"]))
    assert "typing_extensions" in shared  # the overlap the check exists for
    for name in shared:
        assert distributions(built["powertools"])[name] == distributions(built["models"])[name]


def test_layers_shipping_different_versions_of_one_distribution_are_refused(
    tmp_path: Path,
) -> None:
    for layer, version in (("a", "4.15.0"), ("b", "4.16.0")):
        (tmp_path / layer / "python" / f"typing_extensions-{version}.dist-info").mkdir(parents=True)
    with pytest.raises(LayerConflictError, match=r"typing_extensions \['4.15.0', '4.16.0'\]"):
        check_shared_distributions_agree([tmp_path / "a", tmp_path / "b"])


def test_layer_names_nothing_of_the_machine_that_built_it() -> None:
    """Otherwise every machine builds a different layer hash and redeploys it for nothing."""
    here = str(ROOT).encode()
    for layer in build_all().values():
        for path in (layer / "python").rglob("*"):
            if path.is_file():
                assert here not in path.read_bytes(), path


def test_a_function_asset_holds_only_contracts_shared_code_and_its_own_service() -> None:
    asset = function_code(CONFIRM_TRIGGER)
    top = {path.name for path in asset.iterdir()}
    services = {path.name for path in (asset / "services").iterdir()}
    assert top == {"contracts", "services"}
    assert services == {"__init__.py", "__pycache__", "shared", "confirm_trigger"}
    # No bytecode of this machine's Python (the working tree's __pycache__): the runtime's only.
    assert {p.name.split(".")[-2] for p in asset.rglob("*.pyc")} <= {"cpython-314"}


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_every_function_asset_imports_its_handler_alone(spec: FunctionSpec) -> None:
    """The asset is all of the function's own code: its handler imports, in a fresh interpreter
    that sees the asset and the installed libraries (the layers' stand-in) but not the project,
    and every module of ours it loads comes from the asset."""
    asset = function_code(spec)
    probe = (
        "import sys; sys.path = [p for p in sys.path if p != '']; "
        f"import {spec.package}.handler; "
        "print('\\n'.join(sorted({m.__file__ for n, m in sys.modules.items() "
        "if n.split('.')[0] in ('contracts', 'services') and getattr(m, '__file__', None)})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        cwd=asset,
        env={"AWS_DEFAULT_REGION": "eu-west-1", "PATH": "", "PYTHONPATH": str(asset)},
    )
    assert result.returncode == 0, result.stderr
    assert all(Path(f).is_relative_to(asset) for f in result.stdout.split()), result.stdout


def test_a_function_asset_is_the_same_when_built_twice() -> None:
    """Same files, same bytes: an unchanged function keeps its asset hash."""

    def contents(asset: Path) -> dict[str, bytes]:
        return {
            path.relative_to(asset).as_posix(): path.read_bytes()
            for path in sorted(asset.rglob("*"))
            if path.is_file()
        }

    first = contents(function_code(USER_PROJECTOR))
    assert contents(function_code(USER_PROJECTOR)) == first
    assert "services/shared/partial_batch.py" in first


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stage": "Prod"}, "stage 'Prod' is invalid"),
        ({"ephemeral": "maybe"}, "ephemeral='maybe' is invalid: expected true or false"),
        ({"auditRetentionDays": "-1"}, "auditRetentionDays='-1' is invalid"),
        ({"archiveRetentionDays": "forever"}, "expected a whole number of days"),
        ({"welcomeNotifier": "maybe"}, "welcomeNotifier='maybe' is invalid: expected on or off"),
        ({"cloudTrail": "none"}, "cloudTrail='none' is invalid: expected create or existing"),
    ],
)
def test_bad_context_is_refused_with_a_clear_error(context: dict[str, str], message: str) -> None:
    with pytest.raises((InvalidContextError, ValueError), match=message):
        StageConfig.from_context(context.get)


def test_a_stage_has_the_welcome_notifier_only_with_a_sender_and_unless_switched_off() -> None:
    """Without a sender SES has verified, the example consumer would fail every message into
    its DLQ from the first sign-up: a plain deploy leaves it out, and asking for it is an error."""
    plain = StageConfig.from_context({}.get)
    assert plain.switched_off == {"welcomeNotifier"}
    assert plain.settings()["welcomeNotifier"] == "off"
    given = StageConfig.from_context({"welcomeSender": "hello@acme-widgets.io"}.get)
    assert given.switched_off == set()
    assert given.settings() == {
        "auditRetentionDays": "", "welcomeSender": "hello@acme-widgets.io", "welcomeNotifier": "on",
        "announceChanges": "on", "logLevel": "INFO", "cloudTrail": "create", "userPoolId": "",
        "userPoolClientId": "",
    }  # fmt: skip
    switched = StageConfig.from_context(
        {"welcomeSender": "hello@acme-widgets.io", "welcomeNotifier": "off"}.get
    )
    assert switched.switched_off == {"welcomeNotifier"}
    assert switched.settings()["welcomeNotifier"] == "off"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"welcomeNotifier": "on"},
         "welcomeNotifier='on' is invalid: expected off, or on with -c welcomeSender=... "
         r"\(WelcomeNotifier cannot run without it\)"),
        ({"welcomeSender": "no-reply@example.com"}, "SES cannot verify example.com"),
        ({"welcomeSender": "a@mail.example.org"}, "SES cannot verify mail.example.org"),
        ({"welcomeSender": "a@shop.test"}, "SES cannot verify shop.test"),
        ({"welcomeSender": "a@corp.invalid"}, "SES cannot verify corp.invalid"),
        ({"welcomeSender": "a@localhost"}, "expected an email address"),
        ({"logLevel": "WARNING"}, "expected one of DEBUG, INFO, WARN, ERROR"),
        ({"tracing": "on"}, "expected active or off"),
        ({"announceChanges": "no"}, "announceChanges='no' is invalid: expected one of on, off"),
        ({"welcomeSender": "Ada <a@acme.io>"}, "expected an email address"),
        ({"welcomeSender": "acme.io"}, "expected an email address"),
    ],
)  # fmt: skip
def test_a_sender_ses_cannot_verify_stops_synth(context: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidContextError, match=message):
        StageConfig.from_context(context.get)


def test_the_deploy_docs_document_every_context_key_and_how_to_deploy_each_optional_part() -> None:
    asked: list[str] = []
    StageConfig.from_context(lambda key: asked.append(key))  # every key it reads, unset
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    undocumented = [key for key in dict.fromkeys(asked) if f"| `{key}` |" not in deploy]
    deploys = [line for line in deploy.splitlines() if line.startswith("npx cdk deploy")]
    not_shown = [
        s.id
        for s in SUBSCRIPTIONS
        if s.switch is not None
        and not any(all(f"-c {need}=" in d for need in s.consumer.needs) for d in deploys)
    ]
    assert (undocumented, not_shown) == ([], [])


def test_npx_cdk_synth_works_without_aws_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"HOME": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            "synth",
            "--quiet",
            "--output",
            str(tmp_path / "out"),
            "-c",
            "stage=clitest",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "userpipe-clitest.template.json").is_file()
