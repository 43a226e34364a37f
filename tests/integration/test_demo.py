from __future__ import annotations

import io

import pytest
from rich.console import Console

from userpipe.cli import main
from userpipe.demo import next_steps, run_demo

pytestmark = pytest.mark.integration


def test_the_demo_runs_every_check_and_they_all_hold() -> None:
    out = io.StringIO()
    assert run_demo(users=4, console=Console(file=out, width=120)) == 0
    text = out.getvalue()
    assert "Every check held." in text
    assert "✗" not in text
    assert text.count("✓") == 15
    assert text.rstrip().endswith(
        next_steps("userpipe")[-1].rstrip()
    )  # it ends with what to run next
    assert "userpipe local up" in text.split("Next:")[1]


def test_the_cli_rejects_a_silly_user_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--users", "0"])
    assert exit_.value.code == 2
    assert "--users must be between 1 and 50" in capsys.readouterr().err
