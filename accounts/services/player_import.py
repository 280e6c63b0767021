"""Importing players from a file (the back office's import, ``accounts/admin_import.py``): the
rules each row is held to, saving it, and the import's audit record.

A row is held to the rules of sign-up and of the back office's user forms:

* ``site_id``: the login id's characters and length (``SITE_ID_VALIDATOR``), not another
  account's (letter case ignored);
* ``nickname``: its normal form (``accounts.nicknames``: NFKC, no invisible, control or
  text-direction characters, 2-50 characters), not another player's nor a look-alike of one;
* ``phone_number``: normalised as the API stores it (separators removed,
  ``010-1234-5678`` -> ``01012345678``), 10-15 digits, not another account's.

Uniqueness is checked against the database *and* the rows imported before it: the dry run
saves each row inside the import's transaction (rolled back at the end), so two rows of one
file asking for the same nickname are caught before anything is kept.

Passwords are never imported. A new player gets an unusable password (they set one through a
password-set link or the reset flow before they can log in) and no wallet yet (the economy
opens it on first use). An existing account is updated only in its nickname and phone number;
a staff account is never changed by an import (its privileges make it a staff decision,
through the user form).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError

import realtime
from accounts.api.serializers import phone_number_normal_form
from accounts.exceptions import AlreadyTaken, NicknameTaken
from accounts.models import PHONE_VALIDATOR, SITE_ID_VALIDATOR, User
from accounts.nicknames import nickname_clean, nickname_skeleton
from accounts.services._shared import ensure_available
from accounts.services.nicknames import nickname_assign, nickname_checked
from accounts.services.staff import IMPORT_PLAYERS
from casino.permissions import staff_permission_require
from casino.services import audit_record

# Rows per file: the import runs in the request, one transaction (see accounts/admin_import.py).
PLAYER_IMPORT_MAX_ROWS = 2000
IMPORTED_FIELDS = ("site_id", "nickname", "phone_number")
NOT_STAFF_MESSAGE = "A staff account is not changed by an import: use its page."


def player_import_check(*, user: User, original: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Normalise the row's values on ``user`` as sign-up would store them, and return what
    is wrong with them, per field (empty: the row may be saved). ``original`` holds the
    account's values before the row (None: a new player). Reads only."""
    errors: dict[str, list[str]] = {}
    user.site_id = str(user.site_id or "").strip()
    user.phone_number = phone_number_normal_form(str(user.phone_number or ""))
    try:
        user.nickname = nickname_clean(str(user.nickname or ""))
    except DjangoValidationError as exc:
        errors["nickname"] = list(exc.messages)
    for field, validator in (("site_id", SITE_ID_VALIDATOR), ("phone_number", PHONE_VALIDATOR)):
        try:
            validator(getattr(user, field))
        except DjangoValidationError as exc:
            errors[field] = list(exc.messages)
    changed = [field for field in IMPORTED_FIELDS if original is None or original.get(field) != getattr(user, field)]
    if original is not None and changed and (user.is_staff or user.is_superuser):
        return {"site_id": [NOT_STAFF_MESSAGE]}
    exclude_pk = user.pk if original is not None else None
    for field in changed:
        if field in errors:
            continue
        try:
            value = str(getattr(user, field))
            ensure_available(
                site_id=value if field == "site_id" else "",
                nickname=value if field == "nickname" else "",
                phone_number=value if field == "phone_number" else "",
                exclude_pk=exclude_pk,
            )
            if field == "nickname":
                nickname_checked(nickname=user.nickname, exclude_pk=exclude_pk)  # look-alikes
        except (AlreadyTaken, NicknameTaken) as exc:
            errors[field] = [exc.message]
    return errors


def player_import_save(*, user: User, original: Mapping[str, Any] | None) -> None:
    """Save one checked row, in the import's transaction (a helper: it opens none). A new
    player gets an unusable password; an existing one's profile change is announced
    (``profile_update``), as the back office's user form does."""
    if original is None:
        user.set_unusable_password()
        user.nickname_skeleton = nickname_skeleton(user.nickname)
        user.save(force_insert=True)
        return
    changed = [field for field in IMPORTED_FIELDS if original.get(field) != getattr(user, field)]
    if not changed:
        return
    user.save(update_fields=nickname_assign(user=user, fields=changed))
    profile = {field: getattr(user, field) for field in changed if field in ("nickname", "phone_number")}
    if profile:
        realtime.emit("profile_update", user, profile)


def player_import_allowed(*, actor: User | None) -> None:
    """Refuse (403 ``staff_permission_required``) an import by anyone without
    ``accounts.import_players``; first thing an import does, dry run included."""
    staff_permission_require(actor=actor, permission=IMPORT_PLAYERS)


def players_import_record(*, actor: User, file_name: str, totals: Mapping[str, int], rows: int) -> None:
    """The import's one audit record (who, which file, how many rows new, updated, skipped,
    invalid), in the import's transaction: an import rolled back leaves none."""
    player_import_allowed(actor=actor)
    audit_record(
        actor=actor,
        action="players_import",
        target_type="accounts.user",
        target_id=f"{rows} row(s)",
        reason=f"import of {file_name or 'a file'} from the back office",
        data={"file": file_name, "rows": rows, **{str(key): int(value) for key, value in totals.items()}},
    )
