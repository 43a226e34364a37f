"""What each function deploys, read from the synthesized cloud assembly: its code asset plus the
layers its template attaches, unzipped bytes and zipped (deflate) bytes, and whether any of it
carries pydantic. Synthesized in a subprocess (the CDK app, as ``cdk synth`` runs it)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.report import Measurement

ROOT = Path(__file__).resolve().parent.parent


#: A sender, so the stage has every part the declaration can deploy (without one it has no
#: welcome notifier) and the report a row for every function.
WELCOME_SENDER = "welcome@acme-widgets.io"


def synthesize(outdir: Path) -> dict[str, Any]:
    context = {"welcomeSender": WELCOME_SENDER}
    code = (
        "from infra.app import build_app; "
        f"build_app({context!r}, outdir={str(outdir)!r})[0].synth()"
    )
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    template = next(outdir.glob("userpipe-*.template.json"))
    parsed: dict[str, Any] = json.loads(template.read_text())
    return parsed


def _asset_dir(outdir: Path, code: dict[str, Any]) -> Path:
    key = code["S3Key"]
    key = key if isinstance(key, str) else json.dumps(key)
    digest = key.split(".")[0]
    return outdir / f"asset.{digest}"


def _sizes(directory: Path) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of a directory, as Lambda would receive it."""
    raw = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                raw += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return raw, buffer.tell()


def _package_bytes(directory: Path, package: str) -> int:
    """Unzipped bytes of ``package`` (and its ``package_*`` companions, e.g. pydantic_core)."""
    roots = [directory, directory / "python"]
    return sum(
        path.stat().st_size
        for root in roots
        if root.is_dir()
        for top in root.iterdir()
        if top.is_dir() and (top.name == package or top.name.startswith(f"{package}_"))
        for path in top.rglob("*")
        if path.is_file()
    )


def measure() -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="userpipe-bench-synth-") as tmp:
        outdir = Path(tmp)
        resources = synthesize(outdir)["Resources"]
        layers = {
            logical: _asset_dir(outdir, resource["Properties"]["Content"])
            for logical, resource in resources.items()
            if resource["Type"] == "AWS::Lambda::LayerVersion"
        }
        out = []
        for logical, layer in sorted(layers.items()):
            raw, zipped = _sizes(layer)
            out.append(
                Measurement(
                    name=f"layer size: {logical[:-8] if len(logical) > 8 else logical}",
                    unit="MiB",
                    value=zipped / 2**20,
                    baseline=None,
                    notes={
                        "unzipped_mib": round(raw / 2**20, 2),
                        "pydantic_mib": round(_package_bytes(layer, "pydantic") / 2**20, 2),
                    },
                )
            )
        for resource in resources.values():
            if resource["Type"] != "AWS::Lambda::Function" or "S3Key" not in json.dumps(
                resource["Properties"].get("Code", {})
            ):
                continue
            properties = resource["Properties"]
            code_dir = _asset_dir(outdir, properties["Code"])
            attached = [layers[ref["Ref"]] for ref in properties.get("Layers", []) if "Ref" in ref]
            code_raw, code_zipped = _sizes(code_dir)
            total_raw = code_raw + sum(_sizes(layer)[0] for layer in attached)
            total_zipped = code_zipped + sum(_sizes(layer)[1] for layer in attached)
            pydantic = sum(_package_bytes(d, "pydantic") for d in (code_dir, *attached))
            name = properties.get("FunctionName", "?")
            function = name if isinstance(name, str) else properties["Handler"].split(".")[1]
            out.append(
                Measurement(
                    name=f"bundle size: {function}",
                    unit="MiB",
                    value=total_zipped / 2**20,
                    baseline=None,
                    notes={
                        "code_zipped_kib": round(code_zipped / 1024, 1),
                        "code_unzipped_kib": round(code_raw / 1024, 1),
                        "layers": len(attached),
                        "unzipped_mib": round(total_raw / 2**20, 2),
                        "pydantic_unzipped_mib": round(pydantic / 2**20, 2),
                    },
                )
            )
        return out
