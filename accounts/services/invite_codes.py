"""Staff: invite codes (generated in batches, edited one by one, activated,
deactivated, deleted), every change audited."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.exceptions import (
    InvalidInviteCodeCount,
    InvalidInviteCodeExpiry,
    InvalidInviteCodeMaxUses,
    InvalidInviteCodeNote,
)
from accounts.locks import invite_code_values_lock
from accounts.models import InviteCode, User
from accounts.selectors import normalize_invite_code
from accounts.services._shared import jsonable, utc_iso
from casino.permissions import staff_permission_require
from casino.services import audit_record

# No 0/O or 1/I: codes are read aloud and typed from screenshots.
INVITE_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITE_CODE_LENGTH = 8
MAX_CODES_PER_BATCH = 1000
MAX_CODE_LIFETIME_DAYS = 3650
MAX_NOTE_LENGTH = InviteCode._meta.get_field("note").max_length or 200
STAFF_EDITABLE_FIELDS = ("code", "max_uses", "expires_at", "is_active", "note")


def _random_code() -> str:
    return "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))


def _validate_batch(*, count: int, max_uses: int | None, expires_in_days: int | None, note: str) -> None:
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise InvalidInviteCodeCount(f"Generate between 1 and {MAX_CODES_PER_BATCH} codes at a time.")
    if max_uses is not None and max_uses < 1:
        raise InvalidInviteCodeMaxUses()
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_CODE_LIFETIME_DAYS:
        raise InvalidInviteCodeExpiry(f"Codes expire after 1 to {MAX_CODE_LIFETIME_DAYS} days (or never).")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInviteCodeNote(f"The note is at most {MAX_NOTE_LENGTH} characters.")


@transaction.atomic(durable=True)
def invite_codes_generate(
    *,
    actor: User,
    count: int,
    max_uses: int | None,
    expires_in_days: int | None,
    note: str = "",
    reason: str = "",
) -> list[InviteCode]:
    """Create ``count`` random 8-character codes, each usable ``max_uses`` times
    (``None``: unlimited) until ``expires_in_days`` from now (``None``: never),
    audited as one action (the reason defaults to the note, which says what the
    codes are for).

    Refuses a count outside 1-1000, fewer than one use per code, an expiry
    outside 1-3650 days and a note over 200 characters. Needs ``accounts.add_invitecode``.
    """
    staff_permission_require(actor=actor, permission="accounts.add_invitecode")
    note = note.strip()
    _validate_batch(count=count, max_uses=max_uses, expires_in_days=expires_in_days, note=note)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
    values: set[str] = set()
    while len(values) < count:
        # 32^8 codes: a collision with an existing one is rare, so one query per round.
        candidates = {_random_code() for _ in range(count - len(values))} - values
        taken = set(InviteCode.objects.filter(code__in=candidates).values_list("code", flat=True))
        values |= candidates - taken
    codes = InviteCode.objects.bulk_create(
        [
            InviteCode(code=value, max_uses=max_uses, expires_at=expires_at, note=note, created_by=actor)
            for value in sorted(values)
        ]
    )
    audit_record(
        actor=actor,
        action="invite_codes_generate",
        target_type="accounts.invitecode",
        target_id=f"{count} codes",
        reason=reason or note or "generated from the back office",
        data={
            "codes": [code.code for code in codes],
            "max_uses": max_uses,
            "expires_at": utc_iso(expires_at) if expires_at else None,
        },
    )
    return codes


@transaction.atomic(durable=True)
def invite_code_set_active(*, actor: User, invite: InviteCode, active: bool, reason: str) -> InviteCode:
    staff_permission_require(actor=actor, permission="accounts.change_invitecode")
    InviteCode.objects.filter(pk=invite.pk).update(is_active=active)
    invite.is_active = active
    audit_record(
        actor=actor,
        action="invite_code_activate" if active else "invite_code_deactivate",
        target=invite,
        reason=reason,
    )
    return invite


# --- The back office's add, change and delete forms -------------------------------
# Django's admin runs these inside its own transaction (changeform_view,
# delete_view), so they are not durable entry points: their atomic block is a
# savepoint there, and still a transaction when called on their own.


def invite_code_create(*, actor: User, invite: InviteCode, reason: str) -> InviteCode:
    """Save a code the back office's add form built (stored upper-case)."""
    staff_permission_require(actor=actor, permission="accounts.add_invitecode")
    invite.code = normalize_invite_code(invite.code)
    invite.created_by = actor
    with transaction.atomic():
        invite.save(force_insert=True)
        audit_record(
            actor=actor,
            action="invite_code_create",
            target=invite,
            reason=reason,
            data={field: jsonable(getattr(invite, field)) for field in STAFF_EDITABLE_FIELDS},
        )
    return invite


def invite_code_update(*, actor: User, invite: InviteCode, changed_fields: Collection[str], reason: str) -> InviteCode:
    """Save the fields the back office's change form edited; the audit record
    keeps each one's value before and after."""
    staff_permission_require(actor=actor, permission="accounts.change_invitecode")
    fields = [field for field in STAFF_EDITABLE_FIELDS if field in changed_fields]
    if not fields:
        return invite
    invite.code = normalize_invite_code(invite.code)
    with transaction.atomic():
        before = invite_code_values_lock(invite_id=invite.pk, fields=fields)
        invite.save(update_fields=fields)
        changes = {field: [jsonable(before[field]), jsonable(getattr(invite, field))] for field in fields}
        audit_record(actor=actor, action="invite_code_update", target=invite, reason=reason, data={"changes": changes})
    return invite


def invite_code_delete(*, actor: User, invite: InviteCode, reason: str) -> None:
    staff_permission_require(actor=actor, permission="accounts.delete_invitecode")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="invite_code_delete",
            target=invite,
            reason=reason,
            data={"code": invite.code, "uses": invite.uses, "max_uses": invite.max_uses},
        )
        invite.delete()
