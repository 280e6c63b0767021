"""Reset password from the player's page: nothing is sent; staff holding
``accounts.reset_password`` get a one-time link, shown once and never written
to the audit log; the player sets a new password with it (the password rules
apply, every session ends) and the link is spent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from accounts.tokens import tokens_issue
from casino.models import AuditLog

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Brand-New-Horse-42"


def link_page(player: User) -> str:
    return reverse("admin:accounts_user_password_link", args=[player.pk])


def make_link(client: Client, player: User, reason: str = "player lost access to their phone") -> str:
    response = client.post(link_page(player), {"reason": reason})
    assert response.status_code == 200, response.content[:300]
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    found = re.search(r'<code id="password-link">([^<]+)</code>', response.content.decode())
    assert found, "the link is shown"
    return found.group(1)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def set_password(link: str, password: str = NEW_PASSWORD, again: str | None = None) -> object:
    return Client().post(path_of(link), {"new_password1": password, "new_password2": again or password})


@pytest.fixture
def agent() -> tuple[Client, User]:
    return staff_with("accounts.view_user", "accounts.reset_password")


def test_a_support_agent_makes_a_one_time_link_and_the_player_sets_a_new_password_with_it(
    agent: tuple[Client, User], password: str
) -> None:
    # Given a player logged in on their phone, and a support agent
    player = UserFactory(password=password)
    access = tokens_issue(user=player).access
    client, staff = agent

    # When the agent makes a link, and the player opens it and sets a new password
    link = make_link(client, player)
    assert link.startswith("http://testserver/account/password/")
    opened = Client().get(path_of(link))
    done = set_password(link)

    # Then the page greeted the player, the password is the new one, and every old session ended
    assert opened.status_code == 200 and player.nickname in opened.content.decode()
    assert opened["Referrer-Policy"] == "no-referrer"
    assert done.status_code == 200 and 'id="password-set-done"' in done.content.decode()
    player.refresh_from_db()
    assert player.check_password(NEW_PASSWORD) and not player.check_password(password)
    assert APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    # And the audit says who made a link for whom and why, but holds no link
    record = AuditLog.objects.get(action="password_link_create")
    assert (record.actor_id, record.target_id, record.reason) == (
        staff.pk,
        str(player.pk),
        "player lost access to their phone",
    )
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert all(token not in str(value) for value in AuditLog.objects.values_list("data", "reason", "target_label"))
    assert AuditLog.objects.filter(action="password_set_with_link", target_id=str(player.pk)).exists()


def test_a_link_works_once(agent: tuple[Client, User]) -> None:
    player = UserFactory()
    link = make_link(agent[0], player)

    set_password(link)
    second = set_password(link, "Another-Horse-43")

    assert second.status_code == 400 and 'id="password-link-invalid"' in second.content.decode()
    player.refresh_from_db()
    assert player.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(lambda player: User.objects.filter(pk=player.pk).update(is_active=False), id="banned"),
        pytest.param(lambda player: User.objects.filter(pk=player.pk).update(token_version=9), id="sessions-revoked"),
        pytest.param(
            lambda player: User.objects.filter(pk=player.pk).update(last_login=timezone.now()), id="logged-in"
        ),
    ],
)
def test_a_link_dies_when_the_player_is_banned_revoked_or_logs_in(agent: tuple[Client, User], later: object) -> None:
    player = UserFactory()
    link = make_link(agent[0], player)

    later(player)  # type: ignore[operator]
    response = Client().get(path_of(link))

    assert response.status_code == 400
    assert 'id="password-link-invalid"' in response.content.decode()


def test_a_link_expires(agent: tuple[Client, User]) -> None:
    player = UserFactory()
    link = make_link(agent[0], player)

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)):
        response = set_password(link)

    assert response.status_code == 400
    player.refresh_from_db()
    assert not player.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [("short", "short", "too short"), (NEW_PASSWORD, NEW_PASSWORD + "x", "differ")],
)
def test_the_password_rules_apply_and_a_refused_password_leaves_the_link_usable(
    agent: tuple[Client, User], first: str, second: str, error: str
) -> None:
    player = UserFactory()
    link = make_link(agent[0], player)

    refused = set_password(link, first, second)
    accepted = set_password(link)

    assert refused.status_code == 200 and error in refused.content.decode()
    assert accepted.status_code == 200 and 'id="password-set-done"' in accepted.content.decode()


def test_a_forged_link_is_refused() -> None:
    player = UserFactory()

    response = Client().get(f"/account/password/{player.pk}/not-a-token/")

    assert response.status_code == 400


def test_staff_without_the_permission_get_403_and_no_link() -> None:
    client, _ = staff_with("accounts.view_user", "accounts.ban_user")
    player = UserFactory()

    response = client.post(link_page(player), {"reason": "please"})

    assert response.status_code == 403
    assert "/account/password/" not in response.content.decode()
    assert not AuditLog.objects.exists()


def test_a_staff_members_password_link_needs_the_right_to_change_their_privileges(agent: tuple[Client, User]) -> None:
    # Given a support agent and a colleague (taking over a staff account is a way to its privileges)
    colleague = UserFactory(is_staff=True)

    # When the agent asks for a link for the colleague
    response = agent[0].post(link_page(colleague), {"reason": "locked out"})

    # Then it is refused on the page and nothing is audited
    assert response.status_code == 200
    assert "grant_privileges" in response.content.decode()
    assert "/account/password/" not in response.content.decode()
    assert not AuditLog.objects.filter(action="password_link_create").exists()


@pytest.mark.parametrize(("role", "may"), [("support", True), ("finance", False), ("live-ops", False), ("admin", True)])
def test_support_and_admin_may_make_password_links_and_only_admin_lifts_exclusions(role: str, may: bool) -> None:
    group = Group.objects.get(name=role)
    labels = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    assert ("accounts.reset_password" in labels) is may
    assert ("accounts.lift_self_exclusion" in labels) is (role == "admin")
