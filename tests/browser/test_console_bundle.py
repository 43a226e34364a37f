"""The console's built files ship with the Python package (so the local stack needs no Node):
they must be what `make console` builds from console/src with the pinned esbuild."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "userpipe" / "console"


def test_the_shipped_console_is_built_from_its_sources(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node is part of this project's toolchain"
    subprocess.run(
        [node, str(ROOT / "console" / "build.mjs"), str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    built = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    shipped = {path.name: path.read_bytes() for path in SHIPPED.iterdir()}
    assert sorted(built) == sorted(shipped) == ["app.css", "app.js", "index.html"]
    stale = [name for name in built if built[name] != shipped[name]]
    assert stale == [], f"userpipe/console/{stale} is out of date: run `make console`"


def test_the_console_loads_nothing_from_elsewhere() -> None:
    page = (SHIPPED / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert "fonts.googleapis" not in (SHIPPED / "app.css").read_text()
