"""What `userpipe local up` says when it listens beyond loopback."""

from __future__ import annotations

import pytest

from userpipe.cli.local import exposure_warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_warning(host: str) -> None:
    assert exposure_warning(host, allow_remote_admin=False) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])  # noqa: S104
def test_a_network_bind_says_what_becomes_reachable_and_what_stays_closed(host: str) -> None:
    text = "\n".join(exposure_warning(host, allow_remote_admin=False))
    assert text.startswith("WARNING: listening on")
    assert "Cognito's public API" in text and "GraphQL" in text  # open, as on AWS
    assert "the AWS APIs" in text and "credentials" in text  # closed without the keys
    assert "This machine only: the confirmation codes" in text


def test_remote_admin_says_plainly_that_accounts_can_be_taken_over() -> None:
    text = " ".join(" ".join(exposure_warning("0.0.0.0", allow_remote_admin=True)).split())  # noqa: S104
    assert "take over any account" in text and "--allow-remote-admin" in text
