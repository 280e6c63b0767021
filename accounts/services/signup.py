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
from accounts.services.nicknames import nickname_checked, nickname_normal_form
from accounts.tokens import tokens_issue


def user_signup(
    *, site_id: str, nickname: str, phone_number: str, password: str, invite_code: str, ip: str | None = None
) -> AuthResult:
    """Create a player with a valid invite code, atomically.

    **The invite code comes first.** Nothing about the site id, nickname, phone
    number or password is looked at until the code is known to be usable, so a
    caller without one gets the same ``invalid_invite_code`` answer (body and
    work done) whatever else they send: sign-up is no oracle for which phone
    numbers, site ids or nicknames exist. (Input *shapes* are checked by the
    view's serializer before this; they depend only on what was sent.)

    With a usable code, ``site_id_taken`` / ``nickname_taken`` /
    ``phone_number_taken`` do tell the caller that someone has that value: the
    client needs it to say what to change. That residual oracle is gated by the
    invite code (codes are handed out, counted and can be deactivated), throttled
    per client IP (``SignupThrottle``) and costs no use of the code, so a code
    holder cannot enumerate at scale; a code seen probing can be deactivated.

    The nickname is normalised and checked (``accounts.nicknames``: NFKC, no
    invisible or bidi characters, not a look-alike of another player's).

    The code's use is one conditional ``UPDATE ... SET uses = uses + 1 WHERE
    <usable>``, last, so its row lock is held briefly: under concurrent sign-ups
    PostgreSQL re-checks the WHERE after each lock wait, so ``uses`` never
    exceeds ``max_uses`` (a CHECK constraint backs it). A code used up by a
    racing sign-up after the first check is refused there and rolls back the
    user row; a duplicate racing in fails on the unique indexes (case-insensitive
    site id and nickname, phone number, nickname skeleton).
    """
    code = normalize_invite_code(invite_code)
    check = invite_code_check(code=code)
    if not check.is_valid:
        raise InvalidInviteCode(check.message or None, reason=check.reason)
    site_id, phone_number = site_id.strip(), phone_number.strip()
    nickname = nickname_normal_form(nickname=nickname)
    candidate = User(site_id=site_id, nickname=nickname, phone_number=phone_number)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc
    with transaction.atomic(durable=True):
        ensure_available(site_id=site_id, nickname=nickname, phone_number=phone_number)
        nickname_checked(nickname=nickname)  # a look-alike of another player's: nickname_taken
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    site_id=site_id, nickname=nickname, phone_number=phone_number, password=password
                )
        except IntegrityError as exc:
            raise taken_from_integrity_error(exc) from exc
        used = invite_codes_usable().filter(code=code).update(uses=F("uses") + 1)
        if not used:
            check = invite_code_check(code=code)
            raise InvalidInviteCode(check.message or None, reason=check.reason or "used_up")
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
        realtime.emit("user_signed_up", user, {"site_id": user.site_id, "nickname": user.nickname, "invite_code": code})
        tokens = tokens_issue(user=user)
    return AuthResult(user=user, tokens=tokens)
