"""The console in a real browser (Debian's Chromium, headless, driven by Playwright; nothing
downloaded): sign up, confirm with the code the page shows, watch the record appear, edit it,
lose and win a conflict against a second page, and, as an Admin, see a newly confirmed user
appear without reloading. A screenshot of each step goes to build/test-artifacts/console/.

Chromium trusts the stack's TLS certificate by its public key only
(``--ignore-certificate-errors-spki-list``), not by ignoring certificate errors: the page, its
GraphQL calls, Cognito's and the wss:// real-time socket all go over verified TLS."""

from __future__ import annotations

import base64
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, expect, sync_playwright

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
    page.get_by_role("button", name="Use this code").click()
    expect(page.locator("#confirm-code")).to_have_value(page.locator("#outbox-code").inner_text())
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

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#who")).to_have_text("Not signed in.")
    expect(page.locator("#sign-up-email")).to_be_visible()


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


def test_the_console_fits_a_phone_and_works_from_the_keyboard(
    browser: Browser, stack: LocalStack
) -> None:
    page = open_console(browser, stack, width=360)
    expect(page.locator("#sign-up-email")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways at 360 px ({width} px wide)"
    # Tab reaches the sign-up form in order, Enter submits it.
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    page.keyboard.press("Tab")
    expect(page.locator("#sign-up-email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#outbox")).to_be_visible(timeout=LIVE)
    shot(page, "09-phone")
