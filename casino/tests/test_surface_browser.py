"""The Content-Security-Policy in a real browser: the back office and the sandbox
checkout page work under it, and the browser reports no script it blocked.

Every page records the ``securitypolicyviolation`` events Chromium fires (an
init script, which the policy does not govern) and the console errors that
name the policy; a page that needs an inline script or an outside origin shows
up as a violation here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.tests.factories import UserFactory
from conftest import admin_log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} on ${location.pathname}` +
      ` (${event.sourceFile || "page"}:${event.lineNumber})`,
  );
});
"""


@pytest.fixture
def watched(page: Page) -> tuple[Page, list[str]]:
    """The page, and the CSP complaints of its console."""
    console: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: console.append(f"{message.location.get('url')}: {message.text}")
        if "Content Security Policy" in message.text
        else None,
    )
    return page, console


def violations(page: Page, console: list[str]) -> list[str]:
    return [*page.evaluate("window.__cspViolations || []"), *console]


def script_violations(page: Page, console: list[str]) -> list[str]:
    return [entry for entry in violations(page, console) if "script-src" in entry]


def test_the_back_office_runs_under_the_policy_without_blocked_scripts(
    watched: tuple[Page, list[str]], staff_user: User, password: str
) -> None:
    page, console = watched
    player = UserFactory(site_id="csp-player", nickname="CspPlayer")

    # When staff log in and use pages whose JavaScript matters: the action bar,
    # the select-all box, the filter sidebar, a change form with its widgets
    admin_log_in(page, staff_user.site_id, password)
    page.goto("/admin/accounts/user/")
    page.locator("#action-toggle").check()  # actions.js ticks every row
    expect(page.locator("#result_list tbody input.action-select").first).to_be_checked()
    expect(page.locator(".action-counter")).to_contain_text("selected")
    page.goto(reverse("admin:accounts_user_change", args=[player.pk]))
    expect(page.locator("#id_nickname")).to_have_value("CspPlayer")
    page.goto(reverse("admin:accounts_invitecode_changelist"))
    page.get_by_role("link", name="Generate codes").click()
    expect(page).to_have_url(re.compile(r"/generate/$"))
    page.goto(reverse("admin:economy_wallet_changelist"))
    page.goto("/admin/")

    # Then the scripts ran (the row was ticked) and the browser blocked none;
    # whatever else it blocked is a style attribute (cosmetic; a stylesheet fixes it)
    assert script_violations(page, console) == []
    assert all("style-src" in entry for entry in violations(page, console)), violations(page, console)


def test_the_sandbox_checkout_page_is_styled_and_posts_under_the_policy(watched: tuple[Page, list[str]]) -> None:
    from shop.providers.sandbox import SandboxProvider

    page, console = watched
    intent = SandboxProvider().create_payment(
        merchant_reference="RC-CSP-0001", amount=1999, currency="USD", description="Gold"
    )

    # When a player opens the checkout page
    page.goto(f"/sandbox/checkout/{intent.reference}")

    # Then its inline style applies, and nothing was blocked
    expect(page.get_by_test_id("amount")).to_contain_text("19.99")
    background = page.locator("button.approve").evaluate("button => getComputedStyle(button).backgroundColor")
    assert background == "rgb(31, 122, 58)"  # .approve { background: #1f7a3a } from the page's <style>
    assert violations(page, console) == []


def test_an_inline_script_would_be_blocked(watched: tuple[Page, list[str]], live_server: Any) -> None:
    # The check above can fail: a page the policy covers may not run an inline script
    page, console = watched
    page.goto("/admin/login/")

    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
        " document.body.appendChild(s); }"
    )

    assert page.evaluate("window.__ran === true") is False
    assert script_violations(page, console)
