"""A steady load on ``userpipe local up`` (its own process): 20 confirmations a second offered
for a minute. Nothing may be lost, memory must stay bounded; the figures are reported at the end
of the run (the rate the stack answered at, p50/p99 confirmation → item, peak RSS). How fast it
keeps up is a performance figure, not asserted here (timed assertions fail on a busy machine;
make bench measures throughput against same-run baselines)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.conftest import REPORTS
from userpipe.aws.clients import local_clients
from userpipe.aws.queues import wait_until_drained
from userpipe.local.client import StackClient, wait_for
from userpipe.local.process import StackProcess

RATE = 20  # confirmations a second
SECONDS = 60
PASSWORD = "Soak-Horse-9-Battery!"
MIB = 2**20


@pytest.mark.slow
def test_a_minute_at_20_confirmations_a_second_loses_nobody_and_memory_stays_bounded(
    tmp_path: Path,
) -> None:
    with StackProcess(tmp_path / "stack") as stack:
        client = StackClient(stack.outputs)
        aws = local_clients(stack.outputs)
        pool = client.pool_id
        emails = [f"soak-{i:05d}@example.com" for i in range(RATE * SECONDS + 1)]
        for email in emails:
            aws.cognito.sign_up(ClientId=client.client_id, Username=email, Password=PASSWORD)
        warm, emails = emails[0], emails[1:]
        aws.cognito.admin_confirm_sign_up(UserPoolId=pool, Username=warm)
        wait_for(lambda: len(client.users()) == 1, what="the first user (every function warm)")
        idle = stack.memory()

        sent: dict[str, float] = {}
        confirmed: list[float] = []  # when each confirmation was answered
        samples = [idle]
        done = threading.Event()

        def sample_memory() -> None:
            while not done.wait(2.0):
                samples.append(stack.memory())

        def confirm(email: str) -> None:
            sent[email] = time.time()
            aws.cognito.admin_confirm_sign_up(UserPoolId=pool, Username=email)
            confirmed.append(time.time())

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        started = time.monotonic()
        with ThreadPoolExecutor(4) as confirmers:
            for i, email in enumerate(emails):
                time.sleep(max(0.0, started + i / RATE - time.monotonic()))
                confirmers.submit(confirm, email)
        took = max(confirmed) - min(sent.values())  # first sent -> last answered
        wait_for(
            lambda: len(client.users()) == len(emails) + 1,
            timeout=300,
            interval=1.0,
            what="every confirmed user's item",
        )
        wait_until_drained(client.aws.sqs, client.queue_urls, timeout=120)
        done.set()
        sampler.join()
        samples.append(stack.memory())

        users = client.users()
        subs = {
            email: next(a["Value"] for a in attributes if a["Name"] == "sub")
            for email, attributes in (
                (e, aws.cognito.admin_get_user(UserPoolId=pool, Username=e)["UserAttributes"])
                for e in emails
            )
        }
        latencies = sorted(
            users[subs[email]].last_changed_at / 1000 - sent[email] for email in emails
        )
        peak = max(sample["total_rss"] for sample in samples)
        REPORTS["soak"] = (
            f"{len(emails)} confirmations offered at {RATE}/s, answered at "
            f"{len(emails) / took:.1f}/s ({took:.1f} s); "
            f"lost 0; confirmation → item p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms; peak RSS "
            f"{peak / MIB:.0f} MiB (idle {idle['total_rss'] / MIB:.0f} MiB, "
            f"{idle['sandboxes']} sandboxes)"
        )
        assert set(subs.values()) <= set(users), "every confirmed user has an item"
        assert {users[sub].version for sub in subs.values()} == {1}
        assert peak <= 2 * idle["total_rss"], REPORTS["soak"]
