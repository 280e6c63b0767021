"""Shared fixtures. The suite runs against the real services that
``scripts/services.sh up`` starts (``make test`` exports their URLs)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse, urlunparse

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
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # the controller of `pytest -n N` runs no test: each worker isolates itself
    isolate_test_run()


def pytest_unconfigure(config: pytest.Config) -> None:
    release_test_run()


# A test marked ``long`` takes a minute or more on a fast machine; machines differ three times
# in speed, and a loaded one (the other xdist worker beside it) more: its hang detector
# (pytest-timeout) allows this many times pytest.ini's ``timeout`` unless it sets its own.
LONG_TEST_TIMEOUT_FACTOR = 3


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``long`` first (a stable sort keeps the rest in order): under `pytest -n N
    --dist loadfile` a worker starts on the longest file while the others share the rest,
    instead of one worker running it alone at the end (`make test` passes
    --no-loadscope-reorder: xdist would otherwise order the files by their number of tests).
    And a long test without a timeout of its own gets LONG_TEST_TIMEOUT_FACTOR times the
    default one: a time limit fitted to a fast idle machine fails it on a slow busy one."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    default_timeout = float(config.getini("timeout") or 0)
    for item in items:
        if default_timeout and item.get_closest_marker("long") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LONG_TEST_TIMEOUT_FACTOR * default_timeout))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [RUN.describe()] if RUN.run_id else []


# --- One test run's own database, Redis db, Kafka topic and ClickHouse database ---------
#
# Two runs on one host (two checkouts, two terminals) share PostgreSQL, Redis, the broker
# and ClickHouse. Each run takes names of its own from TEST_RUN_ID (random by default):
# the test database test_<NAME>_<id>, the Kafka topic casino.test.<id> (per-test topics
# casino.test.<id>.<random>), the ClickHouse database casino_test_<id>; and a Redis
# database it claims (TEST_REDIS_DB forces one), because the suite flushes its db.
# Under `pytest -n N` (pytest-xdist; `make test` runs one worker per core) each worker is
# such a run of its own, its id ending in the worker's name (_gw0, _gw1, ...).

RUN_ID_PATTERN = re.compile(r"^[a-z0-9_]{1,20}$")
REDIS_CLAIMS_KEY = "casino:test-runs:redis-dbs"  # a hash in db 0: db number -> "host pid run_id"


class TestRunNames:
    run_id = ""
    database = ""
    redis_url = ""
    redis_db: int | None = None
    redis_claim = ""
    kafka_topic = ""
    clickhouse_url = ""

    def describe(self) -> str:
        return (
            f"test run {self.run_id}: database {self.database}, redis db {self.redis_db}, "
            f"kafka topic {self.kafka_topic or '-'}, clickhouse {self.clickhouse_url.rsplit('/', 1)[-1] or '-'}"
        )


RUN = TestRunNames()


def current_run_id() -> str:
    return RUN.run_id


def new_run_id() -> str:
    run_id = os.environ.get("TEST_RUN_ID") or uuid.uuid4().hex[:8]
    if not RUN_ID_PATTERN.match(run_id):
        raise pytest.UsageError(f"TEST_RUN_ID must be 1-20 of [a-z0-9_], got {run_id!r}")
    worker = xdist_worker()
    return f"{run_id}_{worker}" if worker else run_id


def xdist_worker() -> str:
    """This process's name among the workers of `pytest -n N` (gw0, gw1, ...), or ""."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_is_stale(holder: str) -> bool:
    """A claim by a process of this host that no longer runs (a run that crashed)."""
    host, _, rest = holder.partition(" ")
    pid = rest.partition(" ")[0]
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


_STEAL = (
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
    "return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end return -1"
)


def claim_redis_db(url: str, run_id: str) -> tuple[int, str]:
    """A Redis database no other run uses: unclaimed and empty, or claimed by a dead run.
    Returns (db, claim); db 0 (the development server's) is never taken."""
    import redis

    url = _with_path(url, "")  # the db of the URL would win over db= below
    server = redis.Redis.from_url(url, db=0, decode_responses=True)
    try:
        count = int(server.config_get("databases").get("databases", 16))
    except redis.ResponseError:  # CONFIG disabled
        count = 16
    claim = f"{socket.gethostname()} {os.getpid()} {run_id}"
    start = zlib.crc32(run_id.encode()) % (count - 1)
    for offset in range(count - 1):
        db = 1 + (start + offset) % (count - 1)
        if server.hsetnx(REDIS_CLAIMS_KEY, str(db), claim):
            if redis.Redis.from_url(url, db=db).dbsize() == 0:
                return db, claim
            server.hdel(REDIS_CLAIMS_KEY, str(db))  # in use without a claim: not ours to flush
            continue
        holder = server.hget(REDIS_CLAIMS_KEY, str(db))
        if (
            holder
            and _claim_is_stale(holder)
            and server.eval(_STEAL, 1, REDIS_CLAIMS_KEY, str(db), holder, claim) != -1
        ):
            return db, claim
    raise pytest.UsageError(
        f"No free Redis database on {url} for this test run (all of 1-{count - 1} are claimed by other runs "
        f"or hold data); set TEST_REDIS_DB=<n> to choose one, or free one (claims: HGETALL {REDIS_CLAIMS_KEY} in db 0)."
    )


def release_redis_db(url: str, db: int, claim: str) -> None:
    import redis

    url = _with_path(url, "")
    server = redis.Redis.from_url(url, db=0, decode_responses=True)
    if server.hget(REDIS_CLAIMS_KEY, str(db)) == claim:
        redis.Redis.from_url(url, db=db).flushdb()
        server.hdel(REDIS_CLAIMS_KEY, str(db))


def _with_path(url: str, path: str) -> str:
    return urlunparse(urlparse(url)._replace(path=path))


def isolate_test_run() -> None:
    RUN.run_id = run_id = new_run_id()
    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if not test.get("NAME"):
        test["NAME"] = f"test_{database['NAME']}_{run_id}"
    RUN.database = test["NAME"]

    old_redis = settings.REDIS_URL
    forced = os.environ.get("TEST_REDIS_DB", "")
    if forced:  # under `-n N`, worker gwK takes the forced db + K
        RUN.redis_db = int(forced) + int(xdist_worker()[2:] or 0)
    else:
        RUN.redis_db, RUN.redis_claim = claim_redis_db(old_redis, run_id)
    RUN.redis_url = settings.REDIS_URL = _with_path(old_redis, f"/{RUN.redis_db}")
    settings.CACHES["default"]["LOCATION"] = RUN.redis_url
    settings.CHANNEL_LAYERS["default"].setdefault("CONFIG", {})["hosts"] = [RUN.redis_url]
    if old_redis == settings.CELERY_BROKER_URL:
        settings.CELERY_BROKER_URL = RUN.redis_url
    from django.core.cache import caches

    with contextlib.suppress(AttributeError):
        del caches["default"]  # built before the switch (if at all): rebuild on the new db

    if settings.KAFKA_BOOTSTRAP_SERVERS:
        RUN.kafka_topic = settings.KAFKA_TOPIC = f"casino.test.{run_id}"
    if settings.CLICKHOUSE_URL:
        RUN.clickhouse_url = settings.CLICKHOUSE_URL = _with_path(settings.CLICKHOUSE_URL, f"/casino_test_{run_id}")
        _clickhouse_execute(f"CREATE DATABASE IF NOT EXISTS casino_test_{run_id}")


def _clickhouse_execute(query: str) -> None:
    """Best effort: a ClickHouse that does not answer fails (or skips) the tests that need it."""
    try:
        from clickhouse_driver import Client

        client = Client.from_url(_with_path(RUN.clickhouse_url, "/default"))
        try:
            client.execute(query)
        finally:
            client.disconnect()
    except Exception:  # noqa: BLE001, S110 - reported by the tests that use ClickHouse
        pass


def release_test_run() -> None:
    if RUN.redis_claim and RUN.redis_db is not None:
        with contextlib.suppress(Exception):  # a stale claim is taken over by the next run
            release_redis_db(RUN.redis_url, RUN.redis_db, RUN.redis_claim)
    if RUN.clickhouse_url:
        _clickhouse_execute(f"DROP DATABASE IF EXISTS casino_test_{RUN.run_id}")


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
    from casino.copies import copies_forget

    copies_forget()  # the process's copies of the last test's missions, events and products
    return


@pytest.fixture(autouse=True)
def _channel_layer_receives_forgotten() -> Iterator[None]:
    """After each test, the channel layer forgets its receives. channels_redis keeps the state of
    a process's receives on the layer (a count, a lock, per-channel clean-up locks, the buffers),
    bound to the event loop that received; a test ends by closing its loop, sometimes with a
    socket's receive still holding a clean-up lock, and the next socket test in the same process
    then failed on it ("... is bound to a different event loop"). The layer itself, and its
    bounded Redis connections, stay (a new layer per test would leave the old one's connections
    open until collected)."""
    yield
    import collections
    import functools

    from channels.layers import channel_layers
    from channels_redis.core import BoundedQueue, ChannelLock

    for layer in channel_layers.backends.values():
        if not hasattr(layer, "receive_clean_locks"):
            continue  # not a channels_redis layer
        layer.receive_count = 0
        layer.receive_lock = None
        layer.receive_event_loop = None
        layer.receive_buffer = collections.defaultdict(functools.partial(BoundedQueue, layer.capacity))
        layer.receive_cleaners = []
        layer.receive_clean_locks = ChannelLock()


def _empties_tables(item: pytest.Item) -> bool:
    """A ``transaction=True`` test (or one on the live server) ends by emptying every table."""
    names = getattr(item, "fixturenames", ())
    marker = item.get_closest_marker("django_db")
    return (
        "transactional_db" in names
        or "live_server" in names
        or bool(marker is not None and marker.kwargs.get("transaction"))
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Put back what the migrations install once a test has emptied the tables: the games'
    shipped configuration (games 0002, ``games/defaults.py``) and the staff roles (accounts
    0006 and later, ``staff_roles_sync``). pytest-django empties every table after a
    transactional test, so without this a later test would find no slot table, banner, daily
    limit or role group, depending on the order tests run in (with ``-n``, on which worker).
    Runs after every fixture's teardown (the emptying included), committed, as after ``migrate``."""
    result = yield
    from django.db import connection

    # Only once the test database is in use (a test skipped before it was set up emptied nothing).
    if _empties_tables(item) and RUN.database and connection.settings_dict["NAME"].startswith(RUN.database):
        from django.apps import apps
        from pytest_django.plugin import blocking_manager_key

        from accounts.services.staff import staff_roles_sync
        from games import defaults

        with item.config.stash[blocking_manager_key].unblock():
            defaults.install(apps)
            staff_roles_sync()
    return result


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


@pytest.fixture
def eager_tasks(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery runs queued tasks inline, as in embedded mode (a back-office job has run by the
    time the request that queued it on commit answers). The Celery app read its settings
    already, so its own config is patched as well."""
    from casino.celery import app as celery_app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    monkeypatch.setattr(celery_app.conf, "task_eager_propagates", True)


# --- Email: a real SMTP server on loopback ---------------------------------------


class SmtpInbox:
    """What the loopback SMTP server received: each message parsed, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[Any] = []  # email.message.EmailMessage, plus .envelope_to
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        import email
        from email import policy

        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Any]:
        with self._lock:
            return [message for message in self.messages if address in message.envelope_to]


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpInbox]:
    """An aiosmtpd server on 127.0.0.1 (a free port) that Django's SMTP backend sends to, so a
    test reads back what really went over SMTP: ``smtp_server.messages``."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


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
