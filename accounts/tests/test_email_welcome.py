"""The welcome email: sent over real SMTP (a loopback aiosmtpd server) after a
sign-up with an address commits, once however often its task runs, retried
when the mail server is down, and never a reason for the sign-up to fail."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.models import InviteCode, User
from accounts.services.signup import (
    WELCOME_SUBJECT,
    WelcomeEmailOutcome,
    _queue_welcome_email,
    welcome_email_send,
)
from accounts.tasks import welcome_email_task
from accounts.tests.factories import InviteCodeFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/api/auth/signup"
ADDRESS = "new.player@example.com"


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "site_id": "welcomed",
        "nickname": "Welcomed",
        "phone_number": "+15550003333",
        "invite_code": "HELLO1",
        "password": "Correct-Horse-9",
        "email": ADDRESS,
    }
    body.update(overrides)
    return body


@pytest.fixture
def invite() -> InviteCode:
    return InviteCodeFactory(code="HELLO1", max_uses=10)


def failures(dependency: str, use: str) -> float:
    return REGISTRY.get_sample_value("dependency_failures_total", {"dependency": dependency, "use": use}) or 0.0


def free_port() -> int:
    """A loopback port nothing listens on: a mail server (or broker) that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def _quiet_mail_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mail.log")  # aiosmtpd's line per connection event


@pytest.fixture
def quiet_failures(caplog: pytest.LogCaptureFixture) -> None:
    """Failures are still counted; their logged traceback (rendered richly on the console, seconds
    for a deep one) is left out, so the suite stays fast."""
    caplog.set_level(logging.ERROR, logger="casino.degraded")


@pytest.fixture
def smtp_down(settings: Any, quiet_failures: None) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2


def text_and_html(message: Any) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_a_sign_up_with_an_address_gets_the_welcome_email_over_smtp(
    api_client: Any, invite: Any, smtp_server: Any, eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(SIGNUP, signup_body(), format="json")

    assert response.status_code == 201, response.json()
    (message,) = smtp_server.messages
    assert message.envelope_to == [ADDRESS]
    assert message["To"] == ADDRESS
    assert message["Subject"] == WELCOME_SUBJECT
    assert message["From"] == django_settings.DEFAULT_FROM_EMAIL
    text, html = text_and_html(message)
    assert "Welcome, Welcomed!" in text
    assert "welcomed" in text  # the login id
    assert "<html" not in text
    assert "Welcome, Welcomed!" in html
    assert "<table" in html and "Casino Club" in html
    assert " style=" not in html
    assert User.objects.get(site_id="welcomed").welcome_email_sent_at is not None


def test_the_nickname_is_escaped_in_the_html_part(smtp_server: Any) -> None:
    player = UserFactory(nickname="<b>Bold</b>", email="bold@example.com")

    assert welcome_email_send(user_id=player.pk) is WelcomeEmailOutcome.SENT

    text, html = text_and_html(smtp_server.to("bold@example.com")[0])
    assert "<b>Bold</b>" not in html
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "Welcome, <b>Bold</b>!" in text  # plain text is not HTML: nothing to escape


def test_the_task_run_twice_sends_one_email(smtp_server: Any) -> None:
    player = UserFactory(email="twice@example.com")

    first = welcome_email_task(player.pk)
    again = welcome_email_task(player.pk)

    assert (first, again) == ("sent", "already_sent")
    assert len(smtp_server.to("twice@example.com")) == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_runs_of_the_task_send_exactly_one_email(smtp_server: Any, parallel: Any) -> None:
    player = UserFactory(email="race@example.com")

    results = parallel(6, lambda _: welcome_email_send(user_id=player.pk))

    assert sorted(result.value for result in results) == ["already_sent"] * 5 + ["sent"]
    assert len(smtp_server.to("race@example.com")) == 1


def test_a_player_without_an_address_gets_nothing_and_no_task(
    api_client: Any, invite: Any, smtp_server: Any, eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = api_client.post(SIGNUP, signup_body(email=""), format="json")

    assert response.status_code == 201
    assert not [hook for hook in queued if getattr(hook, "func", None) is _queue_welcome_email]
    player = User.objects.get(site_id="welcomed")
    assert welcome_email_task(player.pk) == "no_address"
    assert welcome_email_task(player.pk + 1000) == "no_address"  # no such player
    assert smtp_server.messages == []
    player.refresh_from_db()
    assert player.welcome_email_sent_at is None


def test_sign_up_succeeds_while_the_mail_server_is_down_and_the_email_follows_later(
    api_client: Any,
    invite: Any,
    smtp_down: None,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    before = failures("smtp", "welcome_email")

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(SIGNUP, signup_body(), format="json")

    # The account exists and the answer is a success; every attempt failed (eager mode runs the
    # retries at once) and each was counted; the claim was given back each time.
    assert response.status_code == 201, response.json()
    player = User.objects.get(site_id="welcomed")
    assert player.welcome_email_sent_at is None
    assert failures("smtp", "welcome_email") >= before + 1

    # When the mail server is back, the next run sends it.
    inbox = _start_smtp(settings)
    try:
        assert welcome_email_task(player.pk) == "sent"
    finally:
        inbox.controller.stop()
    assert len(inbox.to(ADDRESS)) == 1


def test_a_failed_send_is_retried_later_with_a_growing_delay(smtp_down: None) -> None:
    """Not eager: the retry waits in the real broker with a countdown that doubles."""
    player = UserFactory(email="later@example.com")
    queue = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    queue.delete("celery")
    try:
        started = timezone.now()
        first = welcome_email_task(player.pk)
        fourth = welcome_email_task(player.pk, attempt=3)
        queued = [json.loads(raw) for raw in queue.lrange("celery", 0, -1)]
    finally:
        queue.delete("celery")

    assert (first, fourth) == ("retrying", "retrying")
    retries = sorted(
        (message["headers"]["argsrepr"], datetime.fromisoformat(message["headers"]["eta"])) for message in queued
    )
    assert [argsrepr for argsrepr, _ in retries] == [f"({player.pk}, 1)", f"({player.pk}, 4)"]
    first_delay, fourth_delay = (eta - started for _, eta in retries)
    assert timedelta(seconds=55) < first_delay < timedelta(seconds=70)
    assert timedelta(seconds=475) < fourth_delay < timedelta(seconds=490)
    player.refresh_from_db()
    assert player.welcome_email_sent_at is None  # the claim went back with the failure


def test_the_last_attempt_gives_up(smtp_down: None) -> None:
    player = UserFactory(email="never@example.com")

    assert welcome_email_task(player.pk, attempt=8) == "gave_up"


class _RefusingHandler:
    """A mail server that refuses every recipient for good (550)."""

    def __init__(self) -> None:
        self.data_received = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802 - aiosmtpd's name
        return "550 5.1.1 No such mailbox"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.data_received += 1
        return "250 OK"


def test_a_permanent_refusal_is_given_up_without_retrying(settings: Any, quiet_failures: None) -> None:
    handler = _RefusingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    player = UserFactory(email="gone@example.com")
    try:
        outcome = welcome_email_task(player.pk)
    finally:
        controller.stop()

    assert outcome == "refused"
    assert handler.data_received == 0


def test_a_broker_outage_after_commit_never_fails_the_sign_up(
    api_client: Any,
    invite: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    quiet_failures: None,
) -> None:
    from casino.celery import app as celery_app

    # The broker's address with nothing listening, and a producer pool that has not connected yet
    # (no publish retries: the outage is the same, only sooner).
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(celery_app.conf, "broker_url", dead_broker)
    monkeypatch.setattr(celery_app.conf, "broker_write_url", dead_broker)
    monkeypatch.setattr(celery_app.conf, "broker_connection_timeout", 0.5)
    monkeypatch.setattr(celery_app.conf, "broker_transport_options", {"max_retries": 0})
    monkeypatch.setattr(celery_app.conf, "task_publish_retry", False)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    monkeypatch.setattr(celery_app, "_pool", None)
    before = failures("celery_broker", "welcome_email")

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(SIGNUP, signup_body(), format="json")

    assert response.status_code == 201, response.json()
    assert User.objects.get(site_id="welcomed").welcome_email_sent_at is None
    assert failures("celery_broker", "welcome_email") == before + 1


# --- helpers -----------------------------------------------------------------------------


class _Inbox:
    def __init__(self, controller: Controller, handler: Any) -> None:
        self.controller, self.handler = controller, handler

    def to(self, address: str) -> list[Any]:
        return list(self.handler.to(address))


def _start_smtp(settings: Any) -> _Inbox:
    """The conftest's inbox, started by hand on a new port mid-test (the mail server coming back)."""
    from conftest import SmtpInbox

    handler = SmtpInbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_PORT = port
    return _Inbox(controller, handler)
