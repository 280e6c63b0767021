"""Nicknames: NFKC-normalised, nothing invisible, no look-alike of another
player's (TR39 skeleton, unique in the database), wherever a nickname is
written: sign-up, the player's profile, the back office."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from rest_framework.exceptions import ValidationError

from accounts import exceptions, services
from accounts.models import InviteCode, User
from accounts.nicknames import nickname_normalize, nickname_problem, nickname_skeleton
from accounts.tests.factories import InviteCodeFactory, UserFactory
from casino.models import AuditLog

SIGNUP = "/api/auth/signup"
ME = "/api/auth/me"
CYRILLIC_A = "\u0430"
CYRILLIC_O = "\u043e"
GREEK_CAPITAL_ALPHA = "\u0391"

INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner": "\u200d",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "arabic letter mark": "\u061c",
    "mongolian vowel separator": "\u180e",
    "variation selector": "\ufe0f",
    "combining grapheme joiner": "\u034f",
    "hangul filler": "\u3164",
    "braille blank": "\u2800",
    "tag letter": "\U000e0041",
    "private use": "\ue000",
    "unassigned": "\U000e0080",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "tab": "\t",
    "escape": "\x1b",
    "null": "\x00",
}


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "site_id": "newplayer",
        "nickname": "NewPlayer",
        "phone_number": "+15550001111",
        "invite_code": "WELCOME1",
        "password": "Correct-Horse-9",
    }
    body.update(overrides)
    return body


@pytest.fixture
def invite(db: Any) -> InviteCode:
    return InviteCodeFactory(code="WELCOME1", max_uses=100)


# --- The rule itself (no database) ----------------------------------------------------


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_nickname_with_an_invisible_or_control_character_is_refused(char: str) -> None:
    problem = nickname_problem(f"Ali{char}ce")

    assert problem is not None
    assert "invisible, formatting or control characters" in problem
    assert f"U+{ord(char):04X}" in problem


@pytest.mark.parametrize("nickname", ["Zoë", "日本語の名前", "Ωmega", "O'Brien", "Jean-Luc 2", "Đorđe", "नमस्ते"])
def test_ordinary_nicknames_in_any_script_are_accepted(nickname: str) -> None:
    assert nickname_problem(nickname) is None


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("\uff22\uff4f\uff42", "Bob"),  # full-width letters
        ("\ufb01nn", "finn"),  # the fi ligature
        ("  Lucky \u3000  Star ", "Lucky Star"),  # ideographic space, runs of spaces
        ("Zoe\u0308", "Zoë"),  # decomposed -> composed
    ],
)
def test_nicknames_are_nfkc_normalised_with_single_spaces(sent: str, stored: str) -> None:
    assert nickname_normalize(sent) == stored


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", f"{CYRILLIC_A}lice"),  # Cyrillic a
        ("Alice", f"{CYRILLIC_A}lice"),  # ... of a case variant
        ("Alice", f"{GREEK_CAPITAL_ALPHA}lice"),  # Greek capital alpha
        ("Ian", "lan"),  # capital I and small l
        ("bob", "b0b"),  # zero and o
        ("tim", "tirn"),  # m and rn
        ("PayPal", f"P{CYRILLIC_A}yP{CYRILLIC_A}l"),
        ("Bob", "\uff22\uff4f\uff42"),  # full-width
        ("Cool Cat", f"C{CYRILLIC_O}{CYRILLIC_O}l  Cat"),
    ],
)
def test_look_alike_nicknames_share_a_skeleton(one: str, other: str) -> None:
    assert nickname_skeleton(one) == nickname_skeleton(other)


@pytest.mark.parametrize(("one", "other"), [("alice", "alicia"), ("ian", "lan"), ("Bob", "Rob"), ("Nick1", "Nick2")])
def test_different_nicknames_keep_different_skeletons(one: str, other: str) -> None:
    assert nickname_skeleton(one) != nickname_skeleton(other)


# --- Sign-up ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("char", ["\u200b", "\u202e", "\u2066", "\u00ad", "\u3164"])
def test_signup_refuses_an_invisible_character_with_a_field_message(
    api_client: Any, invite: InviteCode, char: str
) -> None:
    response = api_client.post(SIGNUP, signup_body(nickname=f"Ali{char}ce"), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert list(body["fields"]) == ["nickname"]
    assert "invisible" in body["fields"]["nickname"][0]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_signup_stores_the_normal_form_and_its_skeleton(api_client: Any, invite: InviteCode) -> None:
    response = api_client.post(SIGNUP, signup_body(nickname="\uff22\uff4f\uff42  the \ufb01sh"), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["user"]["nickname"] == "Bob the fish"
    user = User.objects.get()
    assert (user.nickname, user.nickname_skeleton) == ("Bob the fish", nickname_skeleton("Bob the fish"))


@pytest.mark.django_db
@pytest.mark.parametrize("look_alike", [f"{CYRILLIC_A}lice", "A1ice", "AIice", f"{GREEK_CAPITAL_ALPHA}lice"])
def test_signup_refuses_a_look_alike_of_an_existing_nickname(
    api_client: Any, invite: InviteCode, look_alike: str
) -> None:
    # Given a player called Alice
    UserFactory(nickname="Alice")

    # When someone signs up as a look-alike
    response = api_client.post(SIGNUP, signup_body(nickname=look_alike), format="json")

    # Then it is nickname_taken, with a message that says why, and nothing was used
    assert response.status_code == 409
    assert response.json() == {
        "error": "nickname_taken",
        "message": "That nickname looks the same as one already in use; choose another.",
        "field": "nickname",
    }
    assert User.objects.count() == 1
    invite.refresh_from_db()
    assert invite.uses == 0


@pytest.mark.django_db
def test_signup_compares_the_normal_form_so_a_full_width_copy_is_the_same_nickname(
    api_client: Any, invite: InviteCode
) -> None:
    UserFactory(nickname="Alice")

    response = api_client.post(SIGNUP, signup_body(nickname="\uff21lice"), format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "nickname_taken"


# --- The player's profile (PATCH /api/auth/me) -------------------------------------------------


@pytest.mark.django_db
def test_a_profile_update_to_a_look_alike_of_another_nickname_is_refused(auth_client: Any) -> None:
    UserFactory(nickname="Champion")

    response = auth_client.patch(ME, {"nickname": f"Ch{CYRILLIC_A}mpion"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "nickname_taken"
    mine = User.objects.get(pk=auth_client.user.pk)
    assert mine.nickname == auth_client.user.nickname


@pytest.mark.django_db
def test_a_profile_update_with_an_invisible_character_is_a_field_error(auth_client: Any) -> None:
    response = auth_client.patch(ME, {"nickname": "Sneaky\u200bName"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "nickname" in response.json()["fields"]


@pytest.mark.django_db
def test_a_new_nickname_moves_the_skeleton_with_it(auth_client: Any, api_client: Any, invite: InviteCode) -> None:
    # Given a player renames themself from their factory nickname to a full-width "Phoenix"
    old = auth_client.user.nickname
    response = auth_client.patch(ME, {"nickname": "\uff30hoenix"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["nickname"] == "Phoenix"

    # Then a newcomer cannot take a look-alike of the new nickname, but may take the old one
    look_alike = api_client.post(SIGNUP, signup_body(nickname=f"Ph{CYRILLIC_O}enix"), format="json")
    old_name = api_client.post(
        SIGNUP, signup_body(site_id="other", nickname=old, phone_number="+15550002222"), format="json"
    )
    assert look_alike.status_code == 409
    assert old_name.status_code == 201, old_name.json()


@pytest.mark.django_db
def test_a_player_may_restyle_their_own_nickname_into_a_look_alike(auth_client: Any) -> None:
    User.objects.filter(pk=auth_client.user.pk).update(nickname="Alice", nickname_skeleton=nickname_skeleton("Alice"))

    response = auth_client.patch(ME, {"nickname": "ALICE".title().replace("A", "\uff21")}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["nickname"] == "Alice"


# --- The back office -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_staff_edit_to_a_look_alike_nickname_is_refused_and_changes_nothing(staff_user: User) -> None:
    UserFactory(nickname="Alice")
    player = UserFactory(nickname="Bob")
    player.nickname = f"{CYRILLIC_A}lice"

    with pytest.raises(exceptions.NicknameTaken):
        services.user_update_by_staff(actor=staff_user, user=player, changed_fields=["nickname"], reason="rename")

    player.refresh_from_db()
    assert player.nickname == "Bob"
    assert not AuditLog.objects.filter(action="user_update").exists()


@pytest.mark.django_db
def test_a_staff_edit_with_an_invisible_character_is_refused(staff_user: User) -> None:
    player = UserFactory(nickname="Bob")
    player.nickname = "Bo\u202eb"

    with pytest.raises(ValidationError) as refused:
        services.user_update_by_staff(actor=staff_user, user=player, changed_fields=["nickname"], reason="rename")

    assert "nickname" in refused.value.detail  # type: ignore[operator]
    player.refresh_from_db()
    assert player.nickname == "Bob"


@pytest.mark.django_db
def test_a_staff_edit_normalises_and_moves_the_skeleton(staff_user: User) -> None:
    player = UserFactory(nickname="Bob")
    player.nickname = "\uff2eed"

    services.user_update_by_staff(actor=staff_user, user=player, changed_fields=["nickname"], reason="rename")

    player.refresh_from_db()
    assert (player.nickname, player.nickname_skeleton) == ("Ned", nickname_skeleton("Ned"))
    assert AuditLog.objects.get(action="user_update").data["changes"] == {"nickname": ["Bob", "Ned"]}


@pytest.mark.django_db
def test_a_user_staff_create_gets_a_skeleton_and_no_look_alike(staff_user: User) -> None:
    UserFactory(nickname="Alice")
    look_alike = User(site_id="clone", nickname=f"{CYRILLIC_A}lice", phone_number="+15550009999")
    fresh = User(site_id="fresh", nickname="Fresh", phone_number="+15550008888")

    with pytest.raises(exceptions.NicknameTaken):
        services.user_create_by_staff(actor=staff_user, user=look_alike, reason="added")
    services.user_create_by_staff(actor=staff_user, user=fresh, reason="added")

    assert not User.objects.filter(site_id="clone").exists()
    assert User.objects.get(site_id="fresh").nickname_skeleton == nickname_skeleton("Fresh")


@pytest.mark.django_db
def test_the_back_office_change_form_shows_an_invisible_character_as_a_field_error(staff_client: Any) -> None:
    player = UserFactory(nickname="Bob")

    response = staff_client.post(
        f"/admin/accounts/user/{player.pk}/change/",
        {"site_id": player.site_id, "nickname": "Bo\u200bb", "phone_number": player.phone_number},
    )

    assert response.status_code == 200
    assert "nickname" in response.context["adminform"].form.errors
    player.refresh_from_db()
    assert player.nickname == "Bob"


@pytest.mark.django_db
def test_the_back_office_change_form_shows_a_look_alike_nickname_as_a_field_error(staff_client: Any) -> None:
    # Given two players, and staff renaming one into a look-alike (a Cyrillic o, U+043E) of the other
    UserFactory(nickname="Bob")
    player = UserFactory(nickname="Carol")

    # When the change form is posted
    response = staff_client.post(
        f"/admin/accounts/user/{player.pk}/change/",
        {"site_id": player.site_id, "nickname": "B\u043eb", "phone_number": player.phone_number},
    )

    # Then the page shows the refusal on the nickname field and nothing changed
    assert response.status_code == 200
    assert "nickname" in response.context["adminform"].form.errors
    player.refresh_from_db()
    assert player.nickname == "Carol"


@pytest.mark.django_db
def test_create_user_sets_the_skeleton() -> None:
    user = User.objects.create_user("made", "\uff2dade", "+15550007777", "Correct-Horse-9")

    assert user.nickname_skeleton == nickname_skeleton("Made")


# --- The migration that brought the column ------------------------------------------------------------


@pytest.mark.django_db
def test_the_migration_fills_skeletons_oldest_first_and_leaves_later_look_alikes_without_one() -> None:
    # Given players from before the column, two of whom already look alike
    from importlib import import_module

    fill_skeletons = import_module("accounts.migrations.0004_nickname_skeleton").fill_skeletons
    older = UserFactory(nickname="Alice", nickname_skeleton=None)
    younger = UserFactory(nickname=f"{CYRILLIC_A}lice", nickname_skeleton=None)
    other = UserFactory(nickname="Bob", nickname_skeleton=None)

    # When the migration's data step runs
    fill_skeletons(apps, None)

    # Then the older keeps the skeleton (blocking newcomers), the younger keeps its nickname without one
    older.refresh_from_db()
    younger.refresh_from_db()
    other.refresh_from_db()
    assert older.nickname_skeleton == nickname_skeleton("Alice")
    assert younger.nickname_skeleton is None
    assert younger.nickname == f"{CYRILLIC_A}lice"
    assert other.nickname_skeleton == nickname_skeleton("Bob")
