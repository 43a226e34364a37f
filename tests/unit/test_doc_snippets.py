"""The code the docs show is the code the tests run.

A page marks a fenced block with ``<!-- snippet: PATH#NAME -->`` on the line before it; PATH (from
the repository's root) holds the region between the whole-line comments ``// snippet: NAME`` and
``// end snippet`` (``#`` for Python and shell). The block must equal that region, dedented.
This test checks only that equality: that the code runs is its file's own test's to show
(tests/clients/gen2_client.mjs: tests/integration/test_gen2_client.py; examples/apollo/:
tests/integration/test_apollo_example.py). So a snippet that stops working fails there, and a
snippet edited in the page alone fails here.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
PAGES: Final = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
MARKED: Final = re.compile(
    r"^<!-- snippet: (?P<path>[^#\s]+)#(?P<name>[\w-]+) -->\n```\w*\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
START: Final = re.compile(r"^\s*(//|#) snippet: (?P<name>[\w-]+)\s*$")
END: Final = re.compile(r"^\s*(//|#) end snippet\s*$")


def regions(path: Path) -> dict[str, str]:
    """Every marked region of ``path``, by name, dedented; a region left open or named twice is
    an error."""
    found: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if (start := START.match(line)) is not None:
            assert name is None, f"{path}:{number}: snippet {start['name']} inside {name}"
            name, lines = start["name"], []
        elif END.match(line):
            assert name is not None, f"{path}:{number}: end snippet without a start"
            assert name not in found, f"{path}: snippet {name} twice"
            found[name] = textwrap.dedent("\n".join(lines)).strip("\n")
            name = None
        elif name is not None:
            lines.append(line)
    assert name is None, f"{path}: snippet {name} never ends"
    return found


def shown() -> list[tuple[str, str, str, str]]:
    """(page, path, name, block) for every marked block of every page."""
    return [
        (page, match["path"], match["name"], match["body"].rstrip("\n"))
        for page in PAGES
        for match in MARKED.finditer((ROOT / page).read_text())
    ]


def test_the_pages_show_snippets() -> None:
    # The guard against a marker the pattern silently misses: every marker is a matched block.
    markers = sum((ROOT / page).read_text().count("<!-- snippet:") for page in PAGES)
    assert markers == len(shown()) > 0


@pytest.mark.parametrize(("page", "path", "name", "block"), shown(), ids=lambda v: str(v)[:40])
def test_a_pages_snippet_is_the_code_a_test_runs(
    page: str, path: str, name: str, block: str
) -> None:
    source = ROOT / path
    assert source.is_file(), f"{page}: {path} does not exist"
    found = regions(source)
    assert name in found, f"{page}: {path} has no snippet {name} (it has {sorted(found)})"
    assert block == found[name], f"{page}: {path}#{name} differs from the file's region"


def test_regions_are_read_whole_and_dedented(tmp_path: Path) -> None:
    source = tmp_path / "client.mjs"
    source.write_text(
        "x();\n  // snippet: one\n  const a = 1;\n    a();\n  // end snippet\n"
        "// snippet: two\nb();\n// end snippet\n"
    )
    assert regions(source) == {"one": "const a = 1;\n  a();", "two": "b();"}
    source.write_text("// snippet: open\nx();\n")
    with pytest.raises(AssertionError, match="never ends"):
        regions(source)
