"""Sign-up with an invite code."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError

import realtime
from accounts.exceptions import InvalidInviteCode
from accounts.models import User
from accounts.selectors import invite_code_check, invite_codes_usable, normalize_invite_code
from accounts.services._shared import AuthResult, ensure_available, taken_from_integrity_error
from accounts.tokens import tokens_issue


def user_signup(
    *, site_id: str, nickname: str, phone_number: str, password: str, invite_code: str, ip: str | None = None
) -> AuthResult:
    """Create a player with a valid invite code, atomically.

    The code's use is one conditional ``UPDATE ... SET uses = uses + 1 WHERE
    <usable>``: under concurrent sign-ups PostgreSQL re-checks the WHERE after
    each lock wait, so ``uses`` never exceeds ``max_uses`` (a CHECK constraint
    backs it). A refused code rolls back the user row created just before; a
    duplicate racing in fails on the case-insensitive unique indexes.
    """
    site_id, nickname, phone_number = site_id.strip(), nickname.strip(), phone_number.strip()
    candidate = User(site_id=site_id, nickname=nickname, phone_number=phone_number)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc
    code = normalize_invite_code(invite_code)
    with transaction.atomic(durable=True):
        ensure_available(site_id=site_id, nickname=nickname, phone_number=phone_number)
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    site_id=site_id, nickname=nickname, phone_number=phone_number, password=password
                )
        except IntegrityError as exc:
            raise taken_from_integrity_error(exc) from exc
        # Last, so the code's row lock is held as briefly as possible.
        used = invite_codes_usable().filter(code=code).update(uses=F("uses") + 1)
        if not used:
            check = invite_code_check(code=code)
            raise InvalidInviteCode(check.message or None, reason=check.reason or "used_up")
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
        realtime.emit("user_signed_up", user, {"site_id": user.site_id, "nickname": user.nickname, "invite_code": code})
        tokens = tokens_issue(user=user)
    return AuthResult(user=user, tokens=tokens)
