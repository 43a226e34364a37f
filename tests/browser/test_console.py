"""The console in a real browser (Debian's Chromium, headless, driven by Playwright; nothing
downloaded): sign up, confirm with the code the page shows, watch the record appear, edit it,
lose and win a conflict against a second page, and, as an Admin, see a newly confirmed user
appear without reloading; sign out and leave nothing behind; fit a phone in every state; name
the password rule a sign-up breaks; move from the plain HTTP port to the TLS one; delete an
account (a typed confirmation first; a refused deletion changes nothing) and, as an Admin, see
the deleted user's row go without reloading. A screenshot of each step goes to
build/test-artifacts/console/.

Chromium trusts the stack's TLS certificate by its public key only
(``--ignore-certificate-errors-spki-list``), not by ignoring certificate errors: the page, its
GraphQL calls, Cognito's and the wss:// real-time socket all go over verified TLS."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright

from contracts.topology import USER_POOL
from tests.support import STACK_PASSWORD, confirmed
from userpipe.local.client import StackClient
from userpipe.local.stack import LocalStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = STACK_PASSWORD
#: The flags this machine's headless Chromium needs (no sandbox as root, no calls out).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LIVE = 20_000  # ms: what a live update may take (the pipeline, then the socket)
#: What does not fit the viewport: the page's own width, every shown element past either edge,
#: and every element that scrolls its content sideways (form fields excepted: text scrolls in
#: a field by design; and what is clipped to 1 px for screen readers only).
SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  const forScreenReaders = (el) => {
    for (let at = el; at; at = at.parentElement) {
      if (at.getBoundingClientRect().width <= 1 && getComputedStyle(at).overflow === 'hidden') {
        return true;
      }
    }
    return false;
  };
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`the page is ${document.documentElement.scrollWidth} px wide`);
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (!el.getClientRects().length || forScreenReaders(el)) continue;
    const name = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
      + ` in #${el.closest('[id]')?.id}`;
    const box = el.getBoundingClientRect();
    if (box.left < -0.5 || box.right > width + 0.5) {
      found.push(`${name} spans ${Math.round(box.left)}..${Math.round(box.right)} px`);
    }
    const fields = ['INPUT', 'SELECT', 'TEXTAREA'];
    if (!fields.includes(el.tagName) && getComputedStyle(el).overflowX !== 'visible'
        && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${name} scrolls sideways (${el.scrollWidth} px in ${el.clientWidth} px)`);
    }
  }
  return found;
}"""
#: What a page shows or holds of people: its text, hidden parts included, and every field.
HELD = """() => [document.body.textContent,
  ...[...document.querySelectorAll('input')].map((field) => field.value)].join('\\n')"""


@pytest.fixture(scope="module")
def browser(stack: LocalStack) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is part of the toolchain (make browser)"
    cert = x509.load_pem_x509_certificate(stack.certificates.cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*FLAGS, f"--ignore-certificate-errors-spki-list={pin}"],
        )
        yield launched
        launched.close()


def open_console(browser: Browser, stack: LocalStack, width: int = 1200) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((stack.tls_endpoint_url, "wss://", "data:"))
            else None
        ),
    )
    page.goto(stack.console_url)
    page.outside = outside  # type: ignore[attr-defined]
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_in(page: Page, email: str) -> None:
    page.locator("#sign-in-email").fill(email)
    page.locator("#sign-in-password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#record-version")).not_to_be_empty(timeout=LIVE)


def assert_fits(page: Page, state: str) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    overflowing = page.evaluate(SIDEWAYS)
    assert overflowing == [], f"{state}, at {width} px: {overflowing}"


def sign_out_leaving_nothing(page: Page, *traces: str) -> None:
    """Sign out, then find nothing of the last person: no ``traces`` (their email, password,
    name…) in the page's text or fields, every field empty, no code, no record, no users."""
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#who")).to_have_text("Not signed in.")
    expect(page.locator("#notice")).to_have_text("Signed out.")
    held = page.evaluate(HELD)
    assert [trace for trace in traces if trace in held] == []
    filled = page.eval_on_selector_all("input", "fs => fs.filter((f) => f.value).map((f) => f.id)")
    assert filled == []
    expect(page.locator("#outbox")).to_be_hidden()
    expect(page.locator("#outbox-code")).to_be_empty()
    assert set(page.locator("#record dd").all_text_contents()) == {""}
    expect(page.locator("#users tbody tr")).to_have_count(0)
    expect(page.locator("#audit li")).to_have_count(0)
    expect(page.locator("#audit-of")).to_be_empty()


def test_sign_up_confirm_edit_and_resolve_a_conflict_from_a_second_page(
    browser: Browser, stack: LocalStack
) -> None:
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    page = open_console(browser, stack)
    expect(page.locator("#password-rules li")).to_have_count(5)
    shot(page, "01-console")

    page.locator("#sign-up-email").fill(email)
    page.locator("#sign-up-password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#outbox")).to_be_visible(timeout=LIVE)  # the code, next to the form
    shot(page, "02-code-from-the-outbox")
    code = page.locator("#outbox-code").inner_text()
    page.get_by_role("button", name="Use this code").click()
    expect(page.locator("#confirm-code")).to_have_value(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#notice")).to_contain_text("Confirmed")

    page.get_by_role("button", name="Sign in").click()  # email and password carried over
    expect(page.locator("#record-email")).to_have_text(email, timeout=LIVE)
    expect(page.locator("#record-version")).to_have_text("1")
    expect(page.locator("#record-created")).not_to_be_empty()
    shot(page, "03-record-appeared")

    page.get_by_label("Name").fill("Ada")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#edit-result")).to_contain_text("_version 2")
    expect(page.locator("#record-name")).to_have_text("Ada")
    shot(page, "04-edited")

    # A second page, same user: it saves while the first is mid-edit from _version 2.
    page.get_by_label("Name").fill("Ada Lovelace")
    other = open_console(browser, stack)
    sign_in(other, email)
    other.get_by_label("Age").fill("36")
    other.get_by_role("button", name="Save").click()
    expect(other.locator("#edit-result")).to_contain_text("_version 3")
    expect(page.locator("#record-version")).to_have_text("3", timeout=LIVE)  # live, not reloaded
    page.get_by_role("button", name="Save").click()
    result = page.locator("#edit-result")
    expect(result).to_contain_text("Conflict")
    expect(result).to_contain_text("_version 3")
    expect(page.get_by_label("Age")).to_have_value("36")  # the form shows the current values
    shot(page, "05-conflict")

    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_role("button", name="Save").click()
    expect(result).to_contain_text("Saved: your record is at _version 4")
    expect(page.locator("#record-name")).to_have_text("Ada Lovelace")
    expect(other.locator("#record-version")).to_have_text("4", timeout=LIVE)
    shot(page, "06-conflict-resolved")
    assert page.outside == [] and other.outside == []  # type: ignore[attr-defined]

    sign_out_leaving_nothing(page, email, PASSWORD, "Ada Lovelace", code)
    expect(page.locator("#sign-up-email")).to_be_visible()
    shot(page, "06b-signed-out")


def test_an_admin_sees_a_newly_confirmed_user_appear_without_reloading(
    browser: Browser, stack: LocalStack, client: StackClient
) -> None:
    admin, _, _ = confirmed(client, admin=True)
    page = open_console(browser, stack)
    sign_in(page, admin)
    expect(page.locator("#who")).to_have_text(f"Signed in as {admin} (Admin).")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("#users tbody tr").first).to_be_visible(timeout=LIVE)
    shot(page, "07-admin")

    newcomer = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"
    client.sign_up(newcomer, PASSWORD)
    row = page.locator("#users tbody tr", has_text=newcomer)
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_have_class("fresh")
    row.get_by_role("button", name=f"audit trail of {newcomer}").click()
    expect(page.locator("#audit li").first).to_contain_text("INSERT", timeout=LIVE)
    expect(page.locator("#events li").first).to_be_visible(timeout=LIVE)
    shot(page, "08-admin-sees-the-newcomer")

    page.get_by_label("Email starts with").fill(newcomer[:14])
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(page.locator("#users tbody tr")).to_contain_text(newcomer)

    sign_out_leaving_nothing(page, admin, newcomer, PASSWORD)


def test_the_console_fits_a_phone_and_works_from_the_keyboard(
    browser: Browser, stack: LocalStack, client: StackClient
) -> None:
    page = open_console(browser, stack, width=360)
    expect(page.locator("#sign-up-email")).to_be_visible()
    expect(page.locator("#queues tbody tr").first).to_be_visible(timeout=LIVE)
    assert_fits(page, "signed out")
    # Tab reaches the sign-up form in order, Enter submits it.
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    page.keyboard.press("Tab")
    expect(page.locator("#sign-up-email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#outbox")).to_be_visible(timeout=LIVE)
    assert_fits(page, "signed up, with the code shown")
    shot(page, "09-phone")

    page.get_by_role("button", name="Use this code").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#notice")).to_contain_text("Confirmed")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#record-email")).to_have_text(email, timeout=LIVE)
    expect(page.locator("#events li").first).to_be_visible(timeout=LIVE)
    assert_fits(page, "signed in as a user")
    shot(page, "10-phone-signed-in")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#notice")).to_have_text("Signed out.")
    admin, _, _ = confirmed(client, admin=True)
    sign_in(page, admin)
    expect(page.locator("#users tbody tr").first).to_be_visible(timeout=LIVE)
    page.locator("#users tbody tr").first.get_by_role("button").click()
    expect(page.locator("#audit li").first).to_be_visible(timeout=LIVE)
    assert_fits(page, "signed in as an Admin, with the users and an audit trail")
    shot(page, "11-phone-admin")


def test_the_console_opened_on_the_http_port_moves_to_the_tls_port(
    browser: Browser, stack: LocalStack
) -> None:
    """Amplify signs in only from the TLS origin (its configuration and its wss:// socket)."""
    page = browser.new_context().new_page()
    for name in ("127.0.0.1", "localhost"):
        page.goto(f"http://{name}:{stack.port}/")
        assert page.url == f"https://{name}:{stack.tls_port}/"
        expect(page.locator("#password-rules li")).to_have_count(5)  # its configuration loaded


#: A password for each rule of the pool's policy that breaks that rule only.
MIN_LENGTH = USER_POOL.password.min_length
ONE_RULE_BROKEN = {
    f"at least {MIN_LENGTH} characters": "Aa1-" + "a" * (MIN_LENGTH - 5),
    "a lowercase letter": PASSWORD.upper(),
    "an uppercase letter": PASSWORD.lower(),
    "a digit": "Correct-Horse-Nine-Battery!",
    "a symbol": "CorrectHorse9Battery",
}


def test_a_password_that_breaks_one_rule_is_refused_naming_that_rule(
    browser: Browser, stack: LocalStack, client: StackClient
) -> None:
    page = open_console(browser, stack, width=360)
    expect(page.locator("#password-rules li")).to_have_count(5)  # the page is ready
    sign_ups: list[Request] = []
    page.on(
        "request",
        lambda request: (
            sign_ups.append(request)
            if request.headers.get("x-amz-target", "").endswith(".SignUp")
            else None
        ),
    )
    problem = page.locator("#password-problem")
    for rule, password in ONE_RULE_BROKEN.items():
        page.locator("#sign-up-email").fill(f"rules-{uuid.uuid4().hex[:8]}@example.com")
        page.locator("#sign-up-password").fill(password)
        page.get_by_role("button", name="Sign up").click()
        expect(problem).to_contain_text(f"The password needs {rule}")
        assert [other for other in ONE_RULE_BROKEN if other in problem.inner_text()] == [rule]
        expect(page.locator("#sign-up-password")).to_have_attribute("aria-invalid", "true")
    shot(page, "12-password-rule-named")
    assert sign_ups == []  # checked before sending: Cognito never saw these

    # A page that read the rules before the pool's policy changed lets the password through;
    # Cognito refuses it (InvalidPasswordException; the local stack's message names no rule),
    # and the page reads the rules again and names the one broken.
    with urllib.request.urlopen(  # noqa: S310 - the stack's own TLS port
        f"{stack.tls_endpoint_url}/console/config.json", context=client.tls
    ) as answer:
        config = json.load(answer)
    config["password"]["requireSymbols"] = False

    def older_rules(route: Route) -> None:
        route.fulfill(json=config)

    stale = open_console(browser, stack, width=360)
    stale.route("**/console/config.json", older_rules, times=1)
    stale.reload()
    expect(stale.locator("#password-rules li")).to_have_count(4)
    stale.locator("#sign-up-email").fill(f"rules-{uuid.uuid4().hex[:8]}@example.com")
    stale.locator("#sign-up-password").fill(ONE_RULE_BROKEN["a symbol"])
    with stale.expect_response(
        lambda answer: answer.request.headers.get("x-amz-target", "").endswith(".SignUp")
    ) as refused:
        stale.get_by_role("button", name="Sign up").click()
    assert refused.value.status == 400
    assert refused.value.json()["__type"].endswith("InvalidPasswordException")
    expect(stale.locator("#password-problem")).to_contain_text("The password needs a symbol")
    expect(stale.locator("#password-rules li")).to_have_count(5)  # the rules read again


def open_the_deletion(page: Page) -> None:
    """Open "Delete my account"'s confirmation step: focus moves to the field that asks for the
    account's email."""
    start = page.get_by_role("button", name="Delete my account…", exact=True)
    expect(start).to_have_attribute("aria-expanded", "false")
    start.click()
    expect(start).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("To confirm, type your email address")).to_be_focused()


def test_a_deleted_account_signs_its_page_out_and_leaves_an_admins_list_live(
    browser: Browser, stack: LocalStack, client: StackClient
) -> None:
    """DeleteUser from the user's page → Cognito's CloudTrail event → user_sync's tombstone →
    the change publisher's onDeleteUser: the Admin's row goes without a reload, and the deleting
    page, signed out at once, hears its record erased."""
    admin, _, _ = confirmed(client, admin=True)
    leaving, _, _ = confirmed(client)
    watcher = open_console(browser, stack)
    sign_in(watcher, admin)
    watcher.get_by_label("Email starts with").fill(leaving)
    watcher.get_by_role("button", name="Filter").click()
    row = watcher.locator("#users tbody tr", has_text=leaving)
    expect(row).to_be_visible(timeout=LIVE)
    row.get_by_role("button", name=f"audit trail of {leaving}").click()
    expect(watcher.locator("#audit li").first).to_contain_text("INSERT", timeout=LIVE)
    watcher.evaluate("() => { window.notReloaded = true; }")

    elsewhere = open_console(browser, stack)  # the same user, on another device
    sign_in(elsewhere, leaving)
    page = open_console(browser, stack)
    sign_in(page, leaving)
    open_the_deletion(page)
    page.get_by_label("To confirm, type your email address").fill(leaving.upper())
    shot(page, "13-delete-my-account-confirm")
    page.get_by_role("button", name="Delete my account permanently").click()
    expect(page.locator("#who")).to_have_text("Not signed in.", timeout=LIVE)
    expect(page.locator("#notice")).to_contain_text("Your account was deleted")
    expect(page.locator("#notice")).to_be_focused()
    expect(page.locator("#sign-in-email")).to_be_visible()
    shot(page, "14-account-deleted")

    expect(row).to_have_count(0, timeout=LIVE)  # live: the Admin's page was not reloaded
    assert watcher.evaluate("() => window.notReloaded") is True
    expect(watcher.locator("#notice")).to_contain_text("A user deleted their account")
    expect(watcher.locator("#audit-of")).not_to_contain_text(leaving)
    shot(watcher, "15-admin-row-gone")
    watcher.get_by_role("button", name="Filter").click()  # read again: a tombstone is not listed
    expect(watcher.locator("#users tbody tr")).to_have_count(0)

    expect(page.locator("#notice")).to_have_text(
        "Your account was deleted and your record erased: its email, name and age are gone.",
        timeout=LIVE,
    )
    assert leaving not in page.evaluate(HELD)
    shot(page, "16-record-erased")
    # Where the user was still signed in, the erasure heard signs the page out.
    expect(elsewhere.locator("#who")).to_have_text("Not signed in.", timeout=LIVE)
    expect(elsewhere.locator("#notice")).to_contain_text("your record erased")
    assert leaving not in elsewhere.evaluate(HELD)
    page.locator("#sign-in-email").fill(leaving)
    page.locator("#sign-in-password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#notice")).to_contain_text("Sign-in refused")
    assert page.outside == watcher.outside == elsewhere.outside == []  # type: ignore[attr-defined]


def test_deleting_an_account_asks_for_its_email_and_a_refused_deletion_changes_nothing(
    browser: Browser, stack: LocalStack, client: StackClient
) -> None:
    email, _, _ = confirmed(client)
    page = open_console(browser, stack, width=360)
    sign_in(page, email)
    deletions: list[Request] = []
    page.on(
        "request",
        lambda request: (
            deletions.append(request)
            if request.headers.get("x-amz-target", "").endswith(".DeleteUser")
            else None
        ),
    )
    start = page.get_by_role("button", name="Delete my account…", exact=True)
    confirm_with = page.get_by_label("To confirm, type your email address")

    # Escape and Cancel close the step; focus goes back to the button that opened it.
    open_the_deletion(page)
    page.keyboard.press("Escape")
    expect(confirm_with).to_be_hidden()
    expect(start).to_be_focused()
    open_the_deletion(page)
    confirm_with.fill("someone-else@example.com")
    page.get_by_role("button", name="Cancel").click()
    expect(start).to_be_focused()
    expect(start).to_have_attribute("aria-expanded", "false")

    # Not the account's email: nothing is sent.
    open_the_deletion(page)
    expect(confirm_with).to_have_value("")  # what was typed before went with the cancel
    confirm_with.fill("someone-else@example.com")
    page.get_by_role("button", name="Delete my account permanently").click()
    expect(page.locator("#delete-problem")).to_contain_text("nothing was deleted")
    expect(confirm_with).to_have_attribute("aria-invalid", "true")
    expect(confirm_with).to_be_focused()
    assert deletions == []
    assert_fits(page, "asked to confirm a deletion, with a problem")

    # Cognito refuses (here, its answer replaced): the page says so and stays signed in.
    def unavailable(route: Route) -> None:
        if route.request.headers.get("x-amz-target", "").endswith(".DeleteUser"):
            route.fulfill(
                status=400,
                json={"__type": "InternalErrorException", "message": "Cognito is unavailable"},
            )
        else:
            route.fallback()

    page.route("**/*", unavailable)
    confirm_with.fill(email)
    page.get_by_role("button", name="Delete my account permanently").click()
    problem = page.locator("#delete-problem")
    expect(problem).to_contain_text("Not deleted: Cognito is unavailable", timeout=LIVE)
    expect(problem).to_contain_text("as they were")
    expect(page.get_by_role("button", name="Delete my account permanently")).to_be_enabled()
    expect(page.get_by_role("button", name="Delete my account permanently")).to_be_focused()
    assert len(deletions) >= 1
    expect(page.locator("#who")).to_have_text(f"Signed in as {email}.")
    expect(page.locator("#record-email")).to_have_text(email)
    assert_fits(page, "a deletion refused")
    shot(page, "17-deletion-refused")
    page.unroute("**/*", unavailable)

    # Still signed in for real: an edit saves.
    page.get_by_label("Name").fill("Still Here")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#edit-result")).to_contain_text("Saved: your record is at _version 2")
    sign_out_leaving_nothing(page, email, "Still Here")
