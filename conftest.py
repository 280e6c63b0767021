"""Shared fixtures. The suite runs against the real services that
``scripts/services.sh up`` starts (``make test`` exports their URLs)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    if not settings.USING_POSTGRES:
        raise pytest.UsageError(
            "The tests run against PostgreSQL: use `make test`, or export the URLs printed by "
            "`scripts/services.sh up` (DATABASE_URL, REDIS_URL, ...) before running pytest."
        )
    if not settings.REDIS_URL:
        raise pytest.UsageError('REDIS_URL is not set: run `make test` or `eval "$(scripts/services.sh up)"`.')


def require_service(name: str, configured: bool) -> None:
    """Skip a test whose external service is not configured; in CI, fail instead."""
    if configured:
        return
    message = f"{name} is not configured (run scripts/services.sh up)"
    if IN_CI:
        pytest.fail(f"CI: {message}")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _fast_passwords_and_clean_cache(settings: Any) -> Iterator[None]:
    # The production hasher is deliberately slow; tests hash thousands of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.core.cache import cache

    cache.clear()  # the test Redis DB belongs to the suite: lockout counters, cached pages
    from casino.ratelimit import distinct_window_backend, sliding_window_backend

    sliding_window_backend.cache_clear()
    distinct_window_backend.cache_clear()
    from accounts.activity import forget_marks

    forget_marks()  # the process memo of "seen" players goes with the cache
    return


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def password() -> str:
    return "Correct-Horse-9"


@pytest.fixture
def user(db: Any, password: str) -> Any:
    from accounts.tests.factories import UserFactory

    return UserFactory(password=password)


@pytest.fixture
def auth_client(user: Any) -> APIClient:
    from accounts.tokens import tokens_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def staff_user(db: Any, password: str) -> Any:
    from accounts.tests.factories import UserFactory

    return UserFactory(password=password, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff_user: Any) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)
    client.user = staff_user  # type: ignore[attr-defined]
    return client


def run_in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run ``target(i)`` in ``count`` threads released together; return results
    (or the exception each raised). Each thread closes its DB connection."""
    from django.db import connection

    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def parallel() -> Callable[[int, Callable[[int], Any]], list[Any]]:
    return run_in_threads


# --- Browser tests: Playwright driving Debian's Chromium ---------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (scripts/install-system-deps.sh installs it)."""
    require_service("Chromium (/usr/bin/chromium)", os.path.exists(CHROMIUM))
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which makes
    # Django refuse ORM calls ("async unsafe") in the tests and their teardown.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context on the live server (relative URLs work)."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def admin_log_in(page: Any, site_id: str, password: str) -> None:
    """Log into /admin/ through the real login form."""
    from playwright.sync_api import expect

    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", site_id)
    page.fill("#id_password", password)
    page.click("input[type=submit][value='Log in']")
    expect(page.locator("#logout-form")).to_be_visible()


def admin_result_rows(page: Any) -> list[str]:
    return [row.strip() for row in page.locator("#result_list tbody tr").all_inner_texts()]
