"""The accounts' row locks: each locks only the row it names
(``select_for_update(of=("self",))``: a join added later must not lock the
joined rows too), for a change of its columns (``FOR NO KEY UPDATE``, as
``casino.db.row_lock_clause`` explains: every hot write refers to the user row
by a foreign key, and a lock must not keep those checks waiting). Other apps
that serialise work per player (the shop's purchase lock) lock the user row
through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from accounts.models import InviteCode, User
from casino.db import row_get


def user_lock(*, user_id: int, fields: Sequence[str] | None = None) -> User:
    """Lock one user row and load it (every purchase with money takes it: written out);
    ``fields``: load only these (the others load on first access)."""
    user = row_get(User, lock=True, fields=fields, pk=user_id)
    if user is None:
        raise User.DoesNotExist(f"no user {user_id}")
    return user


def user_values_lock(*, user_id: int, fields: Iterable[str]) -> dict[str, Any]:
    """Lock one user row and read these fields as they are committed (the "before" of an audit)."""
    return dict(User.objects.select_for_update(of=("self",), no_key=True).filter(pk=user_id).values(*fields).get())


def invite_code_values_lock(*, invite_id: int, fields: Iterable[str]) -> dict[str, Any]:
    """Lock one invite code row and read these fields as they are committed."""
    return dict(InviteCode.objects.select_for_update(of=("self",)).filter(pk=invite_id).values(*fields).get())
