"""A player who cannot log in gets a one-time link to set a new password.

Nothing is sent: a support agent makes the link on the player's page
(:func:`password_link_create`, ``accounts.reset_password``, audited with the
reason) and reads it out through whatever channel the player contacted them
on. The link is shown once and never stored: the audit record says who made a
link for whom, when and why, and when it expires, but not the link.

The token is Django's ``PasswordResetTokenGenerator`` (an HMAC of the user's
state and a timestamp, nothing in the database) with our own salt and two more
inputs, so it is one-time and short-lived without a table:

- the password hash and last login are in the HMAC (Django's): setting the
  password through the link, or logging in, spends it;
- ``token_version`` and ``is_active`` are in it too (ours): a ban or an
  "end every session" made after the link kills it;
- it expires after ``PASSWORD_RESET_TIMEOUT`` seconds (Django's setting).

The player's page (:func:`password_set_with_link`, ``accounts.password_set``)
checks the token, applies the password rules and saves; saving a password
ends every session (``accounts.passwords``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.exceptions import PasswordLinkInvalid
from accounts.models import User
from accounts.services.staff import RESET_PASSWORD, staff_account_change_check
from casino.db import one_or_none
from casino.permissions import staff_permission_require
from casino.services import audit_record


class PasswordSetTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "accounts.services.password_links.PasswordSetTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{super()._make_hash_value(user, timestamp)}:{user.token_version}:{int(user.is_active)}"


password_set_tokens = PasswordSetTokenGenerator()


@dataclass(frozen=True)
class PasswordLink:
    path: str  # the page's path (the admin shows it absolute, on the host staff use)
    expires_at: datetime


def password_link_create(*, actor: User, user: User, reason: str) -> PasswordLink:
    """Make a one-time password-set link for ``user`` (``accounts.reset_password``;
    audited without the link). A staff member's account needs the right to change
    its privileges (taking it over is a way to them: ``staff_account_change_check``).
    An entry point."""
    staff_permission_require(actor=actor, permission=RESET_PASSWORD)
    staff_account_change_check(actor=actor, user=user)
    with transaction.atomic(durable=True):
        expires_at = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
        token = password_set_tokens.make_token(user)
        audit_record(
            actor=actor,
            action="password_link_create",
            target=user,
            reason=reason,
            data={"expires_at": expires_at.isoformat().replace("+00:00", "Z")},
        )
    path = reverse(
        "accounts:password_set", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": token}
    )
    return PasswordLink(path=path, expires_at=expires_at)


def password_link_user(*, uidb64: str, token: str) -> User:
    """The player a link is for, or :class:`PasswordLinkInvalid`."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        raise PasswordLinkInvalid() from None
    user = one_or_none(User.objects.filter(pk=user_id))
    if user is None or not user.is_active or not password_set_tokens.check_token(user, token):
        raise PasswordLinkInvalid()
    return user


def password_set_with_link(*, uidb64: str, token: str, password: str) -> User:
    """Set the player's password from a one-time link. The password rules
    (``AUTH_PASSWORD_VALIDATORS``) raise Django's ``ValidationError``; saving
    spends the link and ends every session of the player. The token is checked
    again under the row lock, so two tabs posting the same link set it once.
    An entry point."""
    user = password_link_user(uidb64=uidb64, token=token)
    validate_password(password, user)
    with transaction.atomic(durable=True):
        locked = User.objects.select_for_update(of=("self",), no_key=True).get(pk=user.pk)
        if not password_set_tokens.check_token(locked, token):
            raise PasswordLinkInvalid()
        locked.set_password(password)
        locked.save(update_fields=["password"])
        audit_record(
            actor=None,
            action="password_set_with_link",
            target=locked,
            reason="the player set a new password with a one-time link from support",
        )
    return locked
