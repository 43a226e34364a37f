"""``userpipe verify``'s step runner and report, against an in-memory stage on a fake clock:
each step is timed from its cause, the first failure ends the run, and the cleanup always runs
(``AdminDeleteUser`` only when ``DeleteUser`` never did)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from contracts.audit_item import fingerprint
from userpipe.ops.verify import (
    EDIT,
    GET_USER,
    ME,
    VERIFY_AGE,
    VERIFY_NAME,
    Check,
    Report,
    StepFailedError,
    Steps,
    StoppedError,
    describe,
    throwaway_email,
    verdict,
    verify,
)

EMAIL = "userpipe-verify+abc@example.com"
SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
TIMEOUT = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeSubscription:
    def __init__(self, stage: FakeStage) -> None:
        self.stage, self.closed = stage, False

    def next_data(self, timeout: float) -> dict[str, Any] | None:
        assert timeout == 0  # verify looks without waiting, between its other looks
        if not self.stage._since(self.stage.confirmed_at, "message"):
            return None
        return {"onCreateUser": {"id": self.stage.message_id, "email": EMAIL, "_version": 1}}

    def close(self) -> None:
        self.closed = True


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


class FakeStage:
    """The pipeline, in memory: each call takes ``COSTS`` seconds of the clock; what the
    pipeline writes appears ``DELAYS`` seconds after the call that causes it, unless ``never``
    names it; ``fail`` makes a method raise."""

    COSTS: ClassVar = {
        "sign_up": 0.05,
        "confirm": 0.2,
        "sign_in": 0.1,
        "graphql": 0.02,
        "delete": 0.08,
    }
    DELAYS: ClassVar = {
        "item": 0.3,
        "audit": 0.4,
        "message": 0.35,
        "mail": 0.6,
        "key": 0.5,
        "tombstone": 0.9,
    }

    def __init__(self, clock: Clock, *, sees_mail: bool = True, announces: bool = True) -> None:
        self.clock, self.sees_mail, self.announces = clock, sees_mail, announces
        self.confirmation = "ConfirmSignUp, the code from the outbox"
        self.never: set[str] = set()
        self.fail: dict[str, Exception] = {}
        self.confirmed_at = self.edited_at = self.deleted_at = float("inf")
        self.users: set[str] = set()
        self.admin_deleted: list[str] = []
        self.subscriptions: list[FakeSubscription] = []
        self.message_id = SUB
        self.leak_fingerprint = False

    def _call(self, name: str) -> None:
        if name in self.fail:
            raise self.fail[name]
        self.clock.sleep(self.COSTS.get(name, 0.01))

    def _since(self, started: float, what: str) -> bool:
        return what not in self.never and self.clock.now >= started + self.DELAYS[what]

    def sign_up(self, email: str, password: str) -> str:
        self._call("sign_up")
        self.users.add(email)
        return SUB

    def subscribe_created(self, sub: str) -> FakeSubscription:
        self._call("subscribe")
        self.subscriptions.append(FakeSubscription(self))
        return self.subscriptions[-1]

    def confirm(self, email: str) -> None:
        self.confirmed_at = self.clock.now
        self._call("confirm")

    def item(self, sub: str) -> dict[str, Any] | None:
        if self._since(self.deleted_at, "tombstone"):
            return {"id": sub, "_deleted": True, "_ttl": 1, "_version": 3}
        if self._since(self.confirmed_at, "item"):
            return {"id": sub, "email": EMAIL, "_version": 1}
        return None

    def audit_records(self, sub: str) -> list[dict[str, Any]]:
        records = []
        if self._since(self.confirmed_at, "audit"):
            kept = fingerprint(EMAIL) if self.leak_fingerprint else None
            records.append(
                {"eventName": "INSERT", "changes": {"email": {"old": None, "new": kept}}}
            )
        if self._since(self.deleted_at, "tombstone"):
            records.append({"eventName": "MODIFY", "changedFields": ["_deleted", "_version"]})
        return records

    def welcome_mails(self, email: str) -> int:
        return int(self._since(self.confirmed_at, "mail"))

    def sign_in(self, email: str, password: str) -> str:
        self._call("sign_in")
        return "access-token"

    def graphql(self, query: str, variables: Mapping[str, Any], token: str) -> dict[str, Any]:
        self._call("graphql")
        if query == ME:
            return {"data": {"me": {"id": SUB, "email": EMAIL}}}
        if query == GET_USER:
            return {"data": {"getUser": {"id": SUB, "email": EMAIL}}}
        assert query == EDIT
        self.edited_at = self.clock.now
        edit = variables["input"]
        return {"data": {"updateUser": {"id": SUB, "name": edit["name"], "age": edit["age"]}}}

    def has_key(self, sub: str) -> bool:
        return self._since(self.edited_at, "key") and not self._since(self.deleted_at, "tombstone")

    def delete_user(self, access_token: str) -> None:
        self.deleted_at = self.clock.now
        self._call("delete")
        self.users.discard(EMAIL)

    def admin_delete_user(self, email: str) -> bool:
        self._call("admin_delete")
        self.admin_deleted.append(email)
        existed = email in self.users
        self.users.discard(email)
        return existed

    def admin_delete_command(self, email: str) -> str:
        return f"aws cognito-idp admin-delete-user --user-pool-id pool --username {email}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stage(clock: Clock) -> FakeStage:
    return FakeStage(clock)


def run(stage: FakeStage, clock: Clock, **options: Any) -> Report:
    return verify(stage, email=EMAIL, timeout=TIMEOUT, clock=clock, sleep=clock.sleep, **options)


def test_every_step_holds_each_timed_from_the_action_that_caused_it(
    stage: FakeStage, clock: Clock
) -> None:
    report = run(stage, clock)

    assert report.ok and report.cleaned
    ms = {step.name: step.ms for step in report.steps}
    assert ms == {
        "sign up (SignUp)": 50,
        "onCreateUser subscription, for this user's id (IAM operator)": 10,
        "confirm (ConfirmSignUp, the code from the outbox)": 200,
        # Looked at together every 100 ms once the 200 ms confirmation returned, each timed
        # from the confirmation's start to the look that first saw it (the message came at
        # 350 ms: seen at 400), not from the step's own start, nor after the slower ones.
        "item in the User table": 300,
        "audit record of its creation": 400,
        "onCreateUser message": 400,
        "welcome mail in the outbox": 600,
        "sign in (InitiateAuth)": 100,
        "me and getUser through GraphQL, with its own token": 40,
        "profile edit through GraphQL (updateUser)": 20,
        "its key in the keys table (the edit's event sealed with it)": 520,
        "delete (DeleteUser, with its own token)": 80,
        "tombstone (_deleted, no email, name or age)": 980,
        "audit trail redacted (no email, name or age, nor their fingerprints)": 980,
        "key deleted from the keys table": 980,
    }
    assert stage.admin_deleted == []  # the user deleted itself
    assert all(subscription.closed for subscription in stage.subscriptions)


def test_the_report_prints_each_step_with_its_latency_then_the_cleanup_and_the_verdict(
    stage: FakeStage, clock: Clock
) -> None:
    lines = describe(run(stage, clock))

    assert lines[0] == "✓ sign up (SignUp) — 50 ms"
    assert lines[-2] == (
        "cleanup: the user deleted itself (DeleteUser); left by design: its tombstone (the User "
        "table's TTL removes it) and its audit records, without personal data"
    )
    assert lines[-1] == "OK: every step held (15); nothing of verify's is left but its tombstone"


def test_a_missing_tombstone_fails_its_step_and_ends_the_run_with_no_admin_delete(
    stage: FakeStage, clock: Clock
) -> None:
    stage.never.add("tombstone")

    report = run(stage, clock)

    assert not report.ok
    assert report.steps[-1].line() == (
        "✗ tombstone (_deleted, no email, name or age) — the tombstone not within 2 s"
    )
    assert stage.admin_deleted == []
    assert verdict(report) == "FAILED: 12 of 13 step(s) held"


def test_a_failure_before_the_deletion_deletes_the_user_as_an_operator(
    stage: FakeStage, clock: Clock
) -> None:
    stage.never.add("item")

    report = run(stage, clock)

    assert [step.ok for step in report.steps] == [True, True, True, False]
    assert report.steps[-1].why == "the item not within 2 s"
    assert stage.admin_deleted == [EMAIL] and not stage.users
    assert report.cleanup == [
        "cleanup: the user was deleted (AdminDeleteUser); the pipeline erases it as after any "
        "deletion, leaving a tombstone and audit records without personal data"
    ]
    assert report.cleaned and not report.ok
    assert stage.subscriptions[0].closed


def test_a_refused_sign_up_is_one_line_naming_the_call_and_leaves_no_user(
    stage: FakeStage, clock: Clock
) -> None:
    stage.fail["sign_up"] = client_error("InvalidPasswordException", "SignUp")

    report = run(stage, clock)

    assert describe(report) == [
        "✗ sign up (SignUp) — SignUp failed: InvalidPasswordException: refused",
        "cleanup: no user was created",
        "FAILED: 0 of 1 step(s) held",
    ]
    assert stage.admin_deleted == []


def test_a_cleanup_that_fails_says_how_to_delete_the_user_and_fails_the_run(
    stage: FakeStage, clock: Clock
) -> None:
    stage.never.add("audit")
    stage.fail["admin_delete"] = client_error("AccessDeniedException", "AdminDeleteUser")

    report = run(stage, clock)

    assert not report.cleaned
    (line,) = report.cleanup
    assert line.startswith(
        "cleanup FAILED: could not delete the user (AdminDeleteUser failed: "
        "AccessDeniedException: refused); delete it: aws cognito-idp admin-delete-user"
    )
    assert verdict(report).endswith("and the cleanup failed")


def test_ctrl_c_mid_step_still_deletes_the_user_then_stops(stage: FakeStage, clock: Clock) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    heard: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        verify(
            stage, email=EMAIL, timeout=TIMEOUT, clock=clock, sleep=interrupted,
            on_cleanup=heard.append,
        )  # type: ignore[arg-type]  # fmt: skip

    assert stage.admin_deleted == [EMAIL]
    assert heard and heard[0].startswith("cleanup: the user was deleted (AdminDeleteUser)")


def test_a_message_about_another_user_fails_the_subscription_step(
    stage: FakeStage, clock: Clock
) -> None:
    stage.message_id = "someone-else"

    report = run(stage, clock)

    assert report.steps[-1].line() == (
        "✗ onCreateUser message — the message is not about this user (id or email differ)"
    )


def test_no_message_in_time_fails_the_subscription_step(stage: FakeStage, clock: Clock) -> None:
    stage.never.add("message")

    report = run(stage, clock)

    assert report.steps[-1].why == "the message not within 2 s"


def test_a_fingerprint_of_the_email_left_in_the_audit_trail_is_not_a_redaction(
    stage: FakeStage, clock: Clock
) -> None:
    stage.leak_fingerprint = True

    report = run(stage, clock)

    assert report.steps[-1].line() == (
        "✗ audit trail redacted (no email, name or age, nor their fingerprints) — the "
        "redaction not within 2 s"
    )


def test_a_graphql_error_names_its_type_and_message(stage: FakeStage, clock: Clock) -> None:
    answers = {ME: {"errors": [{"errorType": "Unauthorized", "message": "Not Authorized"}]}}
    real = stage.graphql

    def refusing(query: str, variables: Mapping[str, Any], token: str) -> dict[str, Any]:
        return answers.get(query) or real(query, variables, token)

    stage.graphql = refusing  # type: ignore[method-assign]

    report = run(stage, clock)

    assert report.steps[-1].why == "me: Unauthorized: Not Authorized"


def test_the_welcome_mail_is_a_step_only_where_verify_can_see_it(clock: Clock) -> None:
    report = run(FakeStage(clock, sees_mail=False), clock)

    assert report.ok
    assert "welcome mail in the outbox" not in [step.name for step in report.steps]


def test_a_stage_that_announces_nothing_is_verified_without_a_subscription(clock: Clock) -> None:
    """Built with ``-c announceChanges=off``: nothing announces a user the pipeline created, so
    verify opens no subscription and waits for no message — and still checks the rest."""
    stage = FakeStage(clock, announces=False)
    report = run(stage, clock)

    names = [step.name for step in report.steps]
    assert report.ok
    assert not [name for name in names if "onCreateUser" in name]
    assert stage.subscriptions == []
    assert "item in the User table" in names and "key deleted from the keys table" in names


def test_the_json_report_has_every_step_its_latency_and_the_cleanup(
    stage: FakeStage, clock: Clock
) -> None:
    stage.never.add("tombstone")

    shown = json.loads(json.dumps(run(stage, clock).as_dict()))

    assert shown["ok"] is False and shown["cleaned"] is True
    assert (shown["email"], shown["sub"]) == (EMAIL, SUB)
    assert shown["steps"][0] == {"step": "sign up (SignUp)", "ok": True, "ms": 50, "why": None}
    assert shown["steps"][-1] == {
        "step": "tombstone (_deleted, no email, name or age)",
        "ok": False,
        "ms": None,
        "why": "the tombstone not within 2 s",
    }
    assert shown["cleanup"][0].startswith("cleanup: the user deleted itself")


def test_the_profile_verify_writes_is_what_it_checks_is_erased(
    stage: FakeStage, clock: Clock
) -> None:
    edits: list[dict[str, Any]] = []
    real = stage.graphql

    def recording(query: str, variables: Mapping[str, Any], token: str) -> dict[str, Any]:
        if query == EDIT:
            edits.append(dict(variables["input"]))
        return real(query, variables, token)

    stage.graphql = recording  # type: ignore[method-assign]
    run(stage, clock)

    assert edits == [{"id": SUB, "name": VERIFY_NAME, "age": VERIFY_AGE}]


def test_a_step_failing_unexpectedly_is_recorded_and_stops_the_runner(clock: Clock) -> None:
    report = Report(email=EMAIL)
    steps = Steps(report, clock=clock)

    def broken() -> None:
        raise KeyError("UserSub")

    with pytest.raises(Exception, match="sign up"):
        steps.run("sign up", broken)
    assert report.steps[0].line() == "✗ sign up — KeyError: 'UserSub'"


def test_what_one_action_causes_is_watched_together_each_timed_to_when_it_was_seen(
    clock: Clock,
) -> None:
    report = Report(email=EMAIL)
    steps = Steps(report, clock=clock)
    since = clock()
    looks = {"fast": [None, 1], "slow": [None, None, None, 1]}

    def look(name: str) -> Any:
        return lambda: looks[name].pop(0)

    steps.watch(
        since,
        [Check("slow", look("slow"), "the slow one"), Check("fast", look("fast"), "x")],
        timeout=1,
        sleep=clock.sleep,
        poll=0.1,
    )

    assert [(step.name, step.ms) for step in report.steps] == [("slow", 300), ("fast", 100)]


def test_a_watched_step_that_never_holds_is_named_with_its_timeout(clock: Clock) -> None:
    report = Report(email=EMAIL)
    steps = Steps(report, clock=clock)

    with pytest.raises(StoppedError):
        steps.watch(
            clock(), [Check("item", lambda: None, "the item")], timeout=0.5, sleep=clock.sleep
        )

    assert report.steps[0].line() == "✗ item — the item not within 0.5 s"


def test_each_run_has_its_own_throwaway_address() -> None:
    first, second = throwaway_email("example.org"), throwaway_email("example.org")

    assert first != second
    assert first.startswith("userpipe-verify+") and first.endswith("@example.org")


def test_a_stack_needs_an_email_domain_before_anything_reaches_aws(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from userpipe.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verify", "--stack", "userpipe-prod", "--region", "eu-west-1"])

    assert exited.value.code == 2
    assert "--email-domain DOMAIN is needed with --stack" in capsys.readouterr().err


def aws_stage(graphql_url: str) -> Any:
    from userpipe.aws.clients import Clients
    from userpipe.aws.deployment import Deployment
    from userpipe.ops.verify import DeploymentStage

    outputs = {
        "user_pool_id": "eu-west-1_Ab12Cd34E",
        "user_pool_client_id": "client",
        "graphql_url": graphql_url,
        "region": "eu-west-1",
        "stage": "prod",
    }
    clients = Clients(region="eu-west-1")
    return DeploymentStage(Deployment("stack userpipe-prod", outputs, clients, local=False))


@pytest.mark.parametrize(
    ("graphql_url", "realtime_url"),
    [
        (
            "https://abc123.appsync-api.eu-west-1.amazonaws.com/graphql",
            "wss://abc123.appsync-realtime-api.eu-west-1.amazonaws.com/graphql",
        ),
        ("https://api.example.com/graphql", "wss://api.example.com/graphql/realtime"),
    ],
)
def test_on_aws_the_real_time_endpoint_is_the_one_amplify_derives(
    graphql_url: str, realtime_url: str
) -> None:
    assert aws_stage(graphql_url).realtime_url == realtime_url


def test_on_aws_verify_confirms_as_an_operator_and_cannot_see_the_mail() -> None:
    stage = aws_stage("https://abc123.appsync-api.eu-west-1.amazonaws.com/graphql")

    assert stage.confirmation == "AdminConfirmSignUp"
    assert stage.sees_mail is False
    assert stage.announces is True  # a stack built before AnnounceChanges existed announced
    stage.deployment = replace(stage.deployment, outputs={
        **stage.deployment.outputs, "announce_changes": "off"})  # fmt: skip
    assert stage.announces is False


def test_a_watched_step_that_sees_something_wrong_fails_at_once_with_what_it_saw(
    clock: Clock,
) -> None:
    report = Report(email=EMAIL)
    steps = Steps(report, clock=clock)

    def wrong() -> bool:
        raise StepFailedError("the message is not about this user (id or email differ)")

    with pytest.raises(StoppedError):
        steps.watch(
            clock(),
            [Check("item", lambda: None, "the item"), Check("message", wrong, "the message")],
            timeout=30,
            sleep=clock.sleep,
        )

    assert [step.line() for step in report.steps] == [
        "✗ message — the message is not about this user (id or email differ)"
    ]
    assert clock() == 1000.0  # it did not wait out the timeout
