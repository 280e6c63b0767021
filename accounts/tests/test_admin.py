"""The back office's account pages: every write goes through an audited service.
(Browser tests of the same pages: casino/tests/test_admin_browser.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts import exceptions, services
from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory, UserFactory
from casino.models import AuditLog

pytestmark = pytest.mark.django_db

GENERATE = "/admin/accounts/invitecode/generate/"


def generate_form(**overrides: Any) -> dict[str, Any]:
    return {"count": "3", "max_uses": "2", "expires_in_days": "30", "note": "spring campaign", **overrides}


def test_the_generate_page_creates_codes_and_one_audit_record(staff_client: Any) -> None:
    # When staff post the generate form for 3 codes of 2 uses, 30 days
    response = staff_client.post(GENERATE, generate_form())

    # Then they are sent back to the list, and three codes made by them exist
    assert response.status_code == 302
    assert response["Location"] == "/admin/accounts/invitecode/"
    codes = list(InviteCode.objects.all())
    assert len(codes) == 3
    assert {(code.max_uses, code.uses, code.note, code.created_by) for code in codes} == {
        (2, 0, "spring campaign", staff_client.user)
    }
    assert all(code.expires_at is not None for code in codes)
    # And one audit record names the staff member, the codes and the terms
    audit = AuditLog.objects.get(action="invite_codes_generate")
    assert audit.actor == staff_client.user
    assert audit.reason == "spring campaign"
    assert sorted(audit.data["codes"]) == sorted(code.code for code in codes)
    assert audit.data["max_uses"] == 2
    assert audit.data["expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"count": "0"}, "count", "Generate between 1 and 1000 codes at a time."),
        ({"count": "1001"}, "count", "Generate between 1 and 1000 codes at a time."),
        ({"max_uses": "0"}, "max_uses", "at least 1"),
        ({"expires_in_days": "0"}, "expires_in_days", "1 to 3650 days"),
        ({"expires_in_days": "999999999"}, "expires_in_days", "1 to 3650 days"),
        ({"note": "x" * 201}, "note", "at most 200 characters"),
    ],
)
def test_the_generate_page_shows_the_services_refusal_on_its_field_and_creates_nothing(
    staff_client: Any, overrides: dict[str, str], field: str, message: str
) -> None:
    response = staff_client.post(GENERATE, generate_form(**overrides))

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert not InviteCode.objects.exists()
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize(
    ("terms", "refusal"),
    [
        ({"count": 0}, exceptions.InvalidInviteCodeCount),
        ({"count": -5}, exceptions.InvalidInviteCodeCount),
        ({"count": 1001}, exceptions.InvalidInviteCodeCount),
        ({"max_uses": 0}, exceptions.InvalidInviteCodeMaxUses),
        ({"expires_in_days": 3651}, exceptions.InvalidInviteCodeExpiry),
        ({"note": "n" * 201}, exceptions.InvalidInviteCodeNote),
    ],
)
def test_generating_codes_refuses_bad_terms_with_a_clear_error(
    staff_user: User, terms: dict[str, Any], refusal: type[Exception]
) -> None:
    given = {"count": 5, "max_uses": 1, "expires_in_days": None, "note": "", **terms}

    with pytest.raises(refusal) as refused:
        services.invite_codes_generate(actor=staff_user, **given)

    assert refused.value.status == 400  # type: ignore[attr-defined]
    assert refused.value.message  # type: ignore[attr-defined]
    assert not InviteCode.objects.exists()


def test_a_thousand_codes_at_once_are_distinct_and_use_the_readable_alphabet(staff_user: User) -> None:
    codes = services.invite_codes_generate(actor=staff_user, count=1000, max_uses=None, expires_in_days=None)

    values = [code.code for code in codes]
    assert len(set(values)) == 1000 == InviteCode.objects.count()
    assert all(len(value) == 8 and set(value) <= set(services.INVITE_CODE_ALPHABET) for value in values)
    assert AuditLog.objects.get().reason == "generated from the back office"


def test_adding_and_editing_a_code_in_its_form_is_audited_with_before_and_after(staff_client: Any) -> None:
    # When staff add a code through the add form (lower case)
    added = staff_client.post(
        "/admin/accounts/invitecode/add/",
        {"code": "summer24", "max_uses": "5", "is_active": "on", "note": "summer"},
    )

    # Then it is stored upper-case, made by them, and audited
    assert added.status_code == 302, added.content
    invite = InviteCode.objects.get()
    assert (invite.code, invite.created_by) == ("SUMMER24", staff_client.user)
    assert AuditLog.objects.get(action="invite_code_create").target_id == str(invite.pk)

    # When they raise its uses and deactivate it in the change form
    changed = staff_client.post(
        f"/admin/accounts/invitecode/{invite.pk}/change/", {"code": "SUMMER24", "max_uses": "9", "note": "summer"}
    )

    # Then the audit record keeps each changed value before and after
    assert changed.status_code == 302, changed.content
    audit = AuditLog.objects.get(action="invite_code_update")
    assert audit.actor == staff_client.user
    assert audit.data["changes"] == {"max_uses": [5, 9], "is_active": [True, False]}
    invite.refresh_from_db()
    assert (invite.max_uses, invite.is_active) == (9, False)


def test_a_code_differing_only_in_letter_case_is_refused_by_the_add_form(staff_client: Any) -> None:
    InviteCodeFactory(code="SUMMER24")

    response = staff_client.post("/admin/accounts/invitecode/add/", {"code": "summer24", "is_active": "on"})

    assert response.status_code == 200  # the form again, not a crash on the unique index
    assert "code" in response.context["adminform"].form.errors
    assert InviteCode.objects.count() == 1
    assert not AuditLog.objects.exists()


def test_deleting_a_code_is_audited(staff_client: Any) -> None:
    invite = InviteCodeFactory(code="GONE01", max_uses=3)

    response = staff_client.post(f"/admin/accounts/invitecode/{invite.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not InviteCode.objects.exists()
    audit = AuditLog.objects.get(action="invite_code_delete")
    assert audit.data == {"code": "GONE01", "uses": 0, "max_uses": 3}


def _change_form(user: User, **overrides: Any) -> dict[str, Any]:
    return {
        "site_id": user.site_id,
        "nickname": user.nickname,
        "phone_number": user.phone_number,
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        **overrides,
    }


def test_a_superuser_edits_a_player_and_the_audit_keeps_before_and_after(staff_client: Any) -> None:
    player = UserFactory(nickname="OldNick")
    support, _ = Group.objects.get_or_create(name="support")  # the role the migration creates

    response = staff_client.post(
        f"/admin/accounts/user/{player.pk}/change/",
        _change_form(player, nickname="NewNick", is_staff="on", groups=[support.pk]),
    )

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    player.refresh_from_db()
    assert (player.nickname, player.is_staff) == ("NewNick", True)
    assert list(player.groups.all()) == [support]
    update = AuditLog.objects.get(action="user_update")
    assert update.data["changes"] == {"nickname": ["OldNick", "NewNick"], "is_staff": [False, True]}
    privileges = AuditLog.objects.get(action="user_privileges_set")
    assert privileges.data == {"groups": [[], ["support"]]}


def test_staff_who_are_not_superusers_cannot_grant_privileges(password: str) -> None:
    # Given a staff member who may change users but is no superuser
    from django.contrib.auth.models import Permission

    clerk = UserFactory(password=password, is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename__in=["view_user", "change_user"]))
    player = UserFactory(nickname="Plain")
    client = Client()
    client.force_login(clerk)

    # When they post the change form with staff and superuser status ticked
    response = client.post(
        f"/admin/accounts/user/{player.pk}/change/",
        _change_form(player, nickname="Renamed", is_staff="on", is_superuser="on"),
    )

    # Then the profile edit goes through but the privileges stay as they were
    assert response.status_code == 302
    player.refresh_from_db()
    assert (player.nickname, player.is_staff, player.is_superuser) == ("Renamed", False, False)
    assert AuditLog.objects.get(action="user_update").data["changes"] == {"nickname": ["Plain", "Renamed"]}
    # And the service refuses them even when called directly
    player.is_superuser = True
    with pytest.raises(exceptions.PrivilegeChangeRefused):
        services.user_update_by_staff(actor=clerk, user=player, changed_fields=["is_superuser"], reason="x")
    player.refresh_from_db()
    assert player.is_superuser is False
