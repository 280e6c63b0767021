"""The nickname rule, applied by every service that writes a nickname (sign-up,
the player's profile, the back office's user forms): see ``accounts.nicknames``."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError

from accounts.exceptions import NicknameTaken
from accounts.models import User
from accounts.nicknames import MESSAGE_LOOKS_TAKEN, nickname_clean, nickname_skeleton
from accounts.selectors import nickname_looks_taken


def nickname_normal_form(*, nickname: str) -> str:
    """The normal form of a nickname (no database read); ``validation_error`` on
    the ``nickname`` field when it has invisible, formatting or control
    characters or the wrong length."""
    try:
        return nickname_clean(nickname)
    except DjangoValidationError as exc:
        raise ValidationError({"nickname": list(exc.messages)}) from exc


def nickname_checked(*, nickname: str, exclude_pk: int | None = None) -> tuple[str, str]:
    """``(normal form, skeleton)`` of a nickname a player may take.

    Refuses what :func:`nickname_normal_form` refuses, and, as
    ``nickname_taken``, a nickname that looks the same as another player's. The second
    check is a courtesy: the unique index on the skeleton is what decides when
    two requests race (the loser's insert fails and is reported as
    ``nickname_taken`` too).
    """
    normal = nickname_normal_form(nickname=nickname)
    skeleton = nickname_skeleton(normal)
    if nickname_looks_taken(skeleton=skeleton, exclude_pk=exclude_pk):
        raise NicknameTaken(MESSAGE_LOOKS_TAKEN)
    return normal, skeleton


def nickname_assign(*, user: User, fields: Iterable[str]) -> list[str]:
    """The fields to save on ``user``, given the ``fields`` a service is about to save.

    When the nickname is among them it is checked (:func:`nickname_checked`),
    stored in its normal form, and its skeleton is set and added to the fields
    returned; otherwise ``fields`` come back unchanged. Opens no transaction.
    """
    fields = list(fields)
    if "nickname" not in fields:
        return fields
    user.nickname, user.nickname_skeleton = nickname_checked(nickname=user.nickname, exclude_pk=user.pk)
    return [*fields, "nickname_skeleton"]
