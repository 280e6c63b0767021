"""Sign-up with an invite code, and the welcome email that follows it."""

from __future__ import annotations

import enum
from functools import partial

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from rest_framework.exceptions import ValidationError

import realtime
from accounts.exceptions import InvalidInviteCode
from accounts.models import User
from accounts.selectors import invite_code_check, invite_codes_usable, normalize_invite_code
from accounts.services._shared import AuthResult, ensure_available, taken_from_integrity_error
from accounts.services.nicknames import nickname_checked, nickname_normal_form
from accounts.services.users import email_normal_form
from accounts.tokens import tokens_issue
from casino.degraded import dependency_failed

WELCOME_SUBJECT = "Welcome to Casino Club"


def user_signup(
    *,
    site_id: str,
    nickname: str,
    phone_number: str,
    password: str,
    invite_code: str,
    email: str = "",
    ip: str | None = None,
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

    The email address is optional and not unique: a sign-up is never refused
    because another account has the address (that would be an oracle for who
    plays here). With one, the welcome email is queued once the player exists
    (after commit; :func:`welcome_email_send`).
    """
    code = normalize_invite_code(invite_code)
    check = invite_code_check(code=code)
    if not check.is_valid:
        raise InvalidInviteCode(check.message or None, reason=check.reason)
    site_id, phone_number, email = site_id.strip(), phone_number.strip(), email_normal_form(email)
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
                    site_id=site_id, nickname=nickname, phone_number=phone_number, password=password, email=email
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
        if user.email:
            transaction.on_commit(partial(_queue_welcome_email, user.pk), robust=True)
    return AuthResult(user=user, tokens=tokens)


def _queue_welcome_email(user_id: int) -> None:
    """After commit: never raises (a broker outage loses the welcome email, not the account)."""
    from accounts.tasks import welcome_email_task

    try:
        welcome_email_task.delay(user_id)
    except Exception as error:  # noqa: BLE001 - after commit: fail quietly (promise 9)
        dependency_failed(dependency="celery_broker", use="welcome_email", error=error)


class WelcomeEmailOutcome(enum.Enum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"  # claimed by an earlier (or a parallel) run
    NO_ADDRESS = "no_address"  # no address, or no such player


def welcome_email_message(*, user: User) -> EmailMultiAlternatives:
    """The welcome email to ``user``: a text part and an HTML alternative."""
    context = {"user": user, "nickname": user.nickname, "site_id": user.site_id}
    message = EmailMultiAlternatives(
        subject=WELCOME_SUBJECT,
        body=render_to_string("email/welcome.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("email/welcome.html", context), "text/html")
    return message


def welcome_email_send(*, user_id: int) -> WelcomeEmailOutcome:
    """Send the player's welcome email, at most once.

    The send is claimed first, in its own transaction, by one conditional
    ``UPDATE ... SET welcome_email_sent_at = now WHERE it is null`` (with an
    address), so a task the broker delivers twice, or two workers running it
    at once, send one email. The SMTP conversation happens after that commit,
    holding no lock. If it fails, the claim is given back (only if it is still
    this run's) and the error raised for the task to retry; a worker that dies
    between claim and send loses that one email rather than risk a second."""
    claimed_at = timezone.now()
    with transaction.atomic(durable=True):
        claimed = (
            User.objects.filter(pk=user_id, welcome_email_sent_at__isnull=True)
            .exclude(email="")
            .update(welcome_email_sent_at=claimed_at)
        )
        user = User.objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return WelcomeEmailOutcome.NO_ADDRESS
    if not claimed:
        return WelcomeEmailOutcome.ALREADY_SENT
    try:
        welcome_email_message(user=user).send()
    except BaseException:
        with transaction.atomic(durable=True):
            User.objects.filter(pk=user_id, welcome_email_sent_at=claimed_at).update(welcome_email_sent_at=None)
        raise
    return WelcomeEmailOutcome.SENT
