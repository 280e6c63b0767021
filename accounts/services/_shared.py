"""What several account services share: the auth result, uniqueness checks of
the login fields, and the JSON form of values kept in audit records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError

from accounts.exceptions import AlreadyTaken
from accounts.models import User
from accounts.tokens import TokenPair


@dataclass(frozen=True)
class AuthResult:
    user: User
    tokens: TokenPair


def utc_iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """A field value as an audit record stores it (datetimes as ISO 8601 UTC)."""
    return utc_iso(value) if isinstance(value, datetime) else value


def ensure_available(*, site_id: str, nickname: str, phone_number: str, exclude_pk: int | None = None) -> None:
    """Refuse a login field another user has (letter case ignored for site_id and
    nickname). The unique indexes decide a race; see :func:`taken_from_integrity_error`."""
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if site_id and others.filter(site_id__iexact=site_id).exists():
        raise AlreadyTaken.for_field("site_id")
    if nickname and others.filter(nickname__iexact=nickname).exists():
        raise AlreadyTaken.for_field("nickname")
    if phone_number and others.filter(phone_number=phone_number).exists():
        raise AlreadyTaken.for_field("phone_number")


def taken_from_integrity_error(error: IntegrityError) -> AlreadyTaken:
    """The refusal for a unique index that lost a race (named in the error text)."""
    text = str(error).lower()
    for field, marker in (("site_id", "site_id"), ("nickname", "nickname"), ("phone_number", "phone")):
        if marker in text:
            return AlreadyTaken.for_field(field)
    return AlreadyTaken.for_field("site_id")
