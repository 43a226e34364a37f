"""The command line refuses what it cannot do in one line, before anything starts: ports out of
range, a stack without a Region; and the commands it prints name the way userpipe and the AWS
CLI were reached, so that they run when pasted in the same shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from userpipe.aws.shell import userpipe_command
from userpipe.cli import main


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (["--port", "99999"], "--port", "99999"),
        (["--port", "-1"], "--port", "-1"),
        (["--port", "0", "--tls-port", "70000"], "--tls-port", "70000"),
    ],
)
def test_a_port_out_of_range_is_one_line(
    args: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["local", "up", *args, "--outputs", str(tmp_path / "outputs.json")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == f"userpipe: {option} {value} is not a port: choose 0-65535 (0 picks a free one)\n"
    assert not (tmp_path / "outputs.json").exists()


def test_the_last_port_leaves_no_room_for_the_default_tls_port(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["local", "up", "--port", "65535", "--outputs", str(tmp_path / "o.json")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == (
        "userpipe: --tls-port defaults to --port + 1, and 65536 is not a port: choose one "
        "with --tls-port\n"
    )


def test_a_stack_without_a_region_is_told_to_pass_region(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    code = main(["status", "--stack", "userpipe-prod"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == (
        "userpipe status: no AWS Region for stack userpipe-prod: pass --region (e.g. "
        "--region eu-west-1), or configure one (AWS_REGION, `aws configure`)\n"
    )


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        (".venv/bin/userpipe", False, ".venv/bin/userpipe"),
        ("{cwd}/.venv/bin/userpipe", False, ".venv/bin/userpipe"),
        ("{cwd}/.venv/bin/userpipe", True, "userpipe"),
        ("/somewhere/else/userpipe", False, "/somewhere/else/userpipe"),
        ("/opt/pytest", False, "userpipe"),
    ],
)
def test_userpipe_is_printed_as_it_was_reached(
    argv0: str,
    on_path: bool,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / ".venv" / "bin" / "userpipe"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(script.parent) if on_path else "/nonexistent")
    assert userpipe_command(argv0.format(cwd=os.getcwd())) == expected


def test_local_up_leaves_the_welcome_notifier_out_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--welcome-notifier off`` reaches the stack as the setting ``-c welcomeNotifier=off``
    is in a deployment; without it the example consumer is on."""
    import signal

    from userpipe.local import stack as local_stack

    seen: list[dict[str, str]] = []

    class Recorded(local_stack.LocalStack):
        def start(self) -> local_stack.LocalStack:
            seen.append(dict(self.options.settings))
            raise local_stack.OutputsInUseError(self.outputs_path, {})  # stop before serving

    monkeypatch.setattr(local_stack, "LocalStack", Recorded)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # keep pytest's own handlers
    outputs = ["--outputs", str(tmp_path / "outputs.json")]
    assert main(["local", "up", "--welcome-notifier", "off", *outputs]) == 2
    assert main(["local", "up", *outputs]) == 2
    assert [settings.get("welcomeNotifier") for settings in seen] == ["off", "on"]
    assert seen[0]["welcomeSender"] == local_stack.DEFAULT_SETTINGS["welcomeSender"]
