"""Least privilege in the accounts back office (design promise 7): each user and
invite-code action needs its own permission, in the admin and in the service;
privileges (staff and superuser status, groups, permissions) are granted only
under ``accounts.services.staff``'s rules, through the user form, the group
form or a forged POST alike; another staff member's account is not a way in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts import exceptions, services
from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory, UserFactory
from accounts.tests.staff import offered_actions, permissions, staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
CODES = "/admin/accounts/invitecode/"
GENERATE = "/admin/accounts/invitecode/generate/"


def run_action(client: Client, url: str, action: str, objects: list[Any], reason: str = "case #42") -> Any:
    data = {"action": action, "_selected_action": [obj.pk for obj in objects], "apply": "1", "reason": reason}
    return client.post(url, data)


# --- the user actions ---------------------------------------------------------------------


def _active_player() -> User:
    return UserFactory()


def _banned_player() -> User:
    return UserFactory(is_active=False)


def _excluded_player() -> User:
    return UserFactory(self_excluded_until=timezone.now() + timedelta(days=30))


def _state(user: User) -> tuple[bool, bool, int]:
    user.refresh_from_db()
    return user.is_active, user.self_excluded_until is None, user.token_version


# action -> (permission, the player it acts on, the state after, the audit action, the service)
USER_ACTIONS: dict[str, tuple[str, Callable[[], User], tuple[bool, bool, int], str, Callable[..., Any]]] = {
    "ban_users": (
        "accounts.ban_user",
        _active_player,
        (False, True, 1),
        "user_ban",
        lambda actor, user: services.user_set_active(actor=actor, user=user, active=False, reason="x"),
    ),
    "unban_users": (
        "accounts.ban_user",
        _banned_player,
        (True, True, 0),
        "user_unban",
        lambda actor, user: services.user_set_active(actor=actor, user=user, active=True, reason="x"),
    ),
    "lift_self_exclusion": (
        "accounts.lift_self_exclusion",
        _excluded_player,
        (True, True, 0),
        "self_exclusion_lift",
        lambda actor, user: services.self_exclusion_lift(actor=actor, user=user, reason="x"),
    ),
    "revoke_sessions": (
        "accounts.revoke_sessions",
        _active_player,
        (True, True, 1),
        "user_sessions_revoke",
        lambda actor, user: services.user_sessions_revoke(actor=actor, user=user, reason="x"),
    ),
}


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_staff_who_may_view_and_change_users_cannot_run_a_user_action_without_its_permission(action: str) -> None:
    # Given staff with the model's view and change permissions but not the action's own
    _, make_player, _, audit_action, _ = USER_ACTIONS[action]
    clerk, _ = staff_with("accounts.view_user", "accounts.change_user")
    player = make_player()
    before = _state(player)

    # When they open the list, then post the action with a reason anyway
    offered = offered_actions(clerk, USERS)
    forged = run_action(clerk, USERS, action, [player])

    # Then it is not offered, the forged post runs nothing and the player is unchanged
    assert action not in offered
    assert forged.status_code in (200, 302)
    assert _state(player) == before
    assert not AuditLog.objects.filter(action=audit_action).exists()


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_staff_holding_a_user_actions_permission_run_it_and_it_is_audited(action: str) -> None:
    permission, make_player, after, audit_action, _ = USER_ACTIONS[action]
    support, staff = staff_with("accounts.view_user", permission)
    player = make_player()

    offered = offered_actions(support, USERS)
    done = run_action(support, USERS, action, [player], reason="chargeback fraud")

    assert action in offered
    assert done.status_code == 302
    assert _state(player) == after
    record = AuditLog.objects.get(action=audit_action)
    assert (record.actor, record.target_id, record.reason) == (staff, str(player.pk), "chargeback fraud")


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_a_user_actions_service_refuses_staff_without_its_permission_whoever_calls_it(action: str) -> None:
    _, make_player, _, audit_action, call = USER_ACTIONS[action]
    _, clerk = staff_with("accounts.view_user", "accounts.change_user")
    player = make_player()
    before = _state(player)

    with pytest.raises(StaffPermissionRequired) as refused:
        call(clerk, player)

    assert (refused.value.status, refused.value.code) == (403, "staff_permission_required")
    assert _state(player) == before
    assert not AuditLog.objects.filter(action=audit_action).exists()


def test_banning_does_not_bring_lifting_a_self_exclusion_with_it() -> None:
    support, _ = staff_with("accounts.view_user", "accounts.ban_user", "accounts.revoke_sessions")

    assert offered_actions(support, USERS) == {"ban_users", "unban_users", "revoke_sessions"}


# --- invite codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "start", "end"), [("deactivate_codes", True, False), ("activate_codes", False, True)]
)
def test_invite_code_actions_need_the_change_permission(action: str, start: bool, end: bool) -> None:
    viewer, _ = staff_with("accounts.view_invitecode")
    editor, editor_user = staff_with("accounts.view_invitecode", "accounts.change_invitecode")
    invite = InviteCodeFactory(is_active=start)

    forged = run_action(viewer, CODES, action, [invite])
    assert action not in offered_actions(viewer, CODES)
    assert forged.status_code in (200, 302)
    assert InviteCode.objects.get(pk=invite.pk).is_active is start
    assert not AuditLog.objects.exists()

    done = run_action(editor, CODES, action, [invite])
    assert done.status_code == 302
    assert InviteCode.objects.get(pk=invite.pk).is_active is end
    assert AuditLog.objects.get().actor == editor_user


def test_the_generate_page_answers_403_to_staff_who_may_not_add_codes() -> None:
    # Given staff who may view and change codes but not add them
    editor, _ = staff_with("accounts.view_invitecode", "accounts.change_invitecode")

    # When they open the generate page and post it
    page = editor.get(GENERATE)
    posted = editor.post(GENERATE, {"count": "5", "max_uses": "1", "expires_in_days": "30", "note": "x"})

    # Then both are refused, no code exists, and the list offers no "Generate" button
    assert (page.status_code, posted.status_code) == (403, 403)
    assert not InviteCode.objects.exists()
    assert GENERATE not in editor.get(CODES).content.decode()


def test_staff_who_may_add_codes_generate_them() -> None:
    marketer, staff = staff_with("accounts.view_invitecode", "accounts.add_invitecode")

    posted = marketer.post(GENERATE, {"count": "2", "max_uses": "1", "expires_in_days": "30", "note": "spring"})

    assert posted.status_code == 302
    assert InviteCode.objects.filter(created_by=staff).count() == 2
    assert GENERATE in marketer.get(CODES).content.decode()


@pytest.mark.parametrize(
    "call",
    [
        lambda actor: services.invite_codes_generate(actor=actor, count=1, max_uses=1, expires_in_days=None),
        lambda actor: services.invite_code_set_active(
            actor=actor, invite=InviteCodeFactory(), active=False, reason="x"
        ),
        lambda actor: services.invite_code_delete(actor=actor, invite=InviteCodeFactory(), reason="x"),
    ],
    ids=["generate", "set_active", "delete"],
)
def test_the_invite_code_services_refuse_staff_without_the_permission(call: Callable[[User], Any]) -> None:
    _, viewer = staff_with("accounts.view_invitecode")
    codes_before = InviteCode.objects.count()

    with pytest.raises(StaffPermissionRequired):
        call(viewer)

    assert InviteCode.objects.count() in (codes_before, codes_before + 1)  # +1: the factory's code, untouched
    assert InviteCode.objects.filter(is_active=False).count() == 0
    assert not AuditLog.objects.exists()


# --- privileges: the user form --------------------------------------------------------------


def change_form(user: User, **overrides: Any) -> dict[str, Any]:
    return {"site_id": user.site_id, "nickname": user.nickname, "phone_number": user.phone_number, **overrides}


@pytest.fixture
def clerk() -> tuple[Client, User]:
    """Staff who may change users, nothing more."""
    return staff_with("accounts.view_user", "accounts.change_user")


def test_staff_who_may_change_users_cannot_tick_superuser_on_their_own_account(clerk: tuple[Client, User]) -> None:
    client, me = clerk
    old_nickname = me.nickname

    response = client.post(
        f"{USERS}{me.pk}/change/", change_form(me, nickname="Boss", is_superuser="on", is_staff="on")
    )

    me.refresh_from_db()
    assert response.status_code == 302  # the profile edit is saved ...
    assert me.nickname == "Boss"
    assert (me.is_superuser, me.is_staff) == (False, True)  # ... the privilege is not
    assert AuditLog.objects.get(action="user_update").data["changes"] == {"nickname": [old_nickname, "Boss"]}
    assert not AuditLog.objects.filter(action="user_privileges_set").exists()


def test_staff_who_may_change_users_cannot_put_themselves_in_a_group(clerk: tuple[Client, User]) -> None:
    client, me = clerk
    admins, _ = Group.objects.get_or_create(name="admin")

    client.post(f"{USERS}{me.pk}/change/", change_form(me, groups=[admins.pk]))

    assert list(me.groups.all()) == []
    assert not AuditLog.objects.filter(action="user_privileges_set").exists()


def test_staff_who_may_change_users_cannot_give_themselves_permissions(clerk: tuple[Client, User]) -> None:
    client, me = clerk
    wanted = permissions("accounts.grant_privileges", "economy.adjust_balance")

    client.post(f"{USERS}{me.pk}/change/", change_form(me, user_permissions=[p.pk for p in wanted]))

    assert sorted(me.user_permissions.values_list("codename", flat=True)) == ["change_user", "view_user"]
    assert not AuditLog.objects.filter(action="user_privileges_set").exists()


def test_the_privilege_services_refuse_staff_without_grant_privileges(clerk: tuple[Client, User]) -> None:
    _, me = clerk
    admins, _ = Group.objects.get_or_create(name="admin")

    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.user_privileges_set(actor=me, user=me, groups=[admins], reason="x")
    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.user_privileges_set(actor=me, user=me, permissions=permissions("economy.adjust_balance"), reason="x")
    target = User.objects.get(pk=me.pk)
    target.is_staff = False
    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.user_update_by_staff(actor=me, user=target, changed_fields=["is_staff"], reason="x")

    me.refresh_from_db()
    assert (me.is_staff, list(me.groups.all()), me.user_permissions.count()) == (True, [], 2)


def test_staff_who_may_change_users_cannot_touch_a_colleagues_account_or_a_superusers_password(
    clerk: tuple[Client, User],
) -> None:
    client, _ = clerk
    colleague = UserFactory(is_staff=True, nickname="Colleague")
    superuser = UserFactory(is_staff=True, is_superuser=True)
    player = UserFactory()
    old_hash = superuser.password

    edit = client.post(f"{USERS}{colleague.pk}/change/", change_form(colleague, nickname="Hijacked"))
    takeover = client.post(
        f"{USERS}{superuser.pk}/password/", {"password1": "N3w-Passw0rd!x", "password2": "N3w-Passw0rd!x"}
    )

    assert (edit.status_code, takeover.status_code) == (403, 403)
    assert User.objects.get(pk=colleague.pk).nickname == "Colleague"
    assert User.objects.get(pk=superuser.pk).password == old_hash
    assert client.get(f"{USERS}{colleague.pk}/password/").status_code == 403
    assert client.get(f"{USERS}{player.pk}/password/").status_code == 200  # players' accounts stay theirs to manage


def test_a_granter_who_is_no_superuser_grants_only_what_they_hold_and_never_superuser() -> None:
    # Given a staff member holding grant_privileges and the ban permission, not the money one
    client, granter = staff_with(
        "accounts.view_user", "accounts.change_user", "accounts.grant_privileges", "accounts.ban_user"
    )
    player = UserFactory()
    ban, adjust = permissions("accounts.ban_user", "economy.adjust_balance")

    # When they give the player the ban permission, then the money one, then superuser status
    granted = client.post(f"{USERS}{player.pk}/change/", change_form(player, is_staff="on", user_permissions=[ban.pk]))
    beyond = client.post(
        f"{USERS}{player.pk}/change/", change_form(player, is_staff="on", user_permissions=[adjust.pk])
    )
    superuser = client.post(
        f"{USERS}{player.pk}/change/",
        change_form(player, is_staff="on", is_superuser="on", user_permissions=[ban.pk]),
    )

    # Then only the first is applied (and audited); the second is refused on the form
    player.refresh_from_db()
    assert granted.status_code == 302
    assert (player.is_staff, player.is_superuser) == (True, False)
    assert list(player.user_permissions.values_list("codename", flat=True)) == ["ban_user"]
    assert beyond.status_code == 200 and "only grant permissions you hold" in beyond.content.decode()
    assert superuser.status_code in (200, 302)  # is_superuser is read-only for them: ignored
    assert AuditLog.objects.get(action="user_privileges_set").actor == granter
    # And the service says the same when called directly
    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.user_privileges_set(actor=granter, user=player, permissions=[adjust], reason="x")
    player.is_superuser = True
    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.user_update_by_staff(actor=granter, user=player, changed_fields=["is_superuser"], reason="x")
    assert User.objects.get(pk=player.pk).is_superuser is False


# --- privileges: the group form -------------------------------------------------------------


def test_staff_who_may_change_groups_cannot_widen_a_group_they_belong_to() -> None:
    # Given a support agent who may also change groups (but holds no grant_privileges)
    client, agent = staff_with("auth.view_group", "auth.change_group")
    support, _ = Group.objects.get_or_create(name="support")
    support.user_set.add(agent)
    before = set(support.permissions.all())
    adjust = permissions("economy.adjust_balance")[0]

    # When they post the group form adding the money permission to their own group
    response = client.post(
        f"/admin/auth/group/{support.pk}/change/",
        {"name": "support", "permissions": [p.pk for p in before | {adjust}]},
    )

    # Then the permissions are read-only for them and stay as they were
    assert response.status_code == 302
    assert set(support.permissions.all()) == before
    assert not User.objects.get(pk=agent.pk).has_perm("economy.adjust_balance")
    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.group_permissions_set(actor=agent, group=support, permissions=[*before, adjust], reason="x")
    assert set(support.permissions.all()) == before
    assert not AuditLog.objects.filter(action="group_permissions_set").exists()


def test_a_superuser_changes_a_groups_permissions_and_it_is_audited(staff_client: Any, staff_user: User) -> None:
    group = Group.objects.create(name="night shift")
    view_user = permissions("accounts.view_user")[0]

    response = staff_client.post(
        f"/admin/auth/group/{group.pk}/change/", {"name": "night shift", "permissions": [view_user.pk]}
    )

    assert response.status_code == 302
    assert list(group.permissions.all()) == [view_user]
    record = AuditLog.objects.get(action="group_permissions_set")
    assert (record.actor, record.data) == (staff_user, {"permissions": [[], ["accounts.view_user"]]})
