"""A player's sessions as staff see them on the player's page, and ending one.

A session is a refresh-token family (one login and its rotations, claim
``fam``; see ``accounts.tokens``). Rotation blacklists the token it replaces,
so a family that still works has exactly one refresh token that is neither
blacklisted nor expired: the player's active sessions are those tokens, minus
families revoked since (``RevokedTokenFamily``) and tokens older than the
player's ``token_version`` (every session ended at once).

Ending every session is :func:`accounts.services.user_sessions_revoke`; ending
one is :func:`session_revoke` here (the same revocation a reused refresh token
triggers, :func:`accounts.services.auth.token_family_revoke`, but for a staff
member: permission-checked and audited).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.authentication import TOKEN_VERSION_CLAIM, token_family
from accounts.exceptions import SessionNotFound
from accounts.models import RevokedTokenFamily, User
from accounts.services.staff import REVOKE_SESSIONS
from casino.permissions import staff_permission_require
from casino.services import audit_record
from realtime.services import CLOSE_SESSION_REVOKED, sockets_close

# More than this many live sessions is not something a staff member reads row by row.
SESSIONS_SHOWN = 20


@dataclass(frozen=True)
class ActiveSession:
    # None: a refresh token stored before tokens were stored with their claims (it expires
    # within REFRESH_TOKEN_LIFETIME); it can be ended only with every other session.
    family: uuid.UUID | None
    token_id: int  # the OutstandingToken row of the family's current refresh token
    refreshed_at: datetime | None  # when that token was issued (the login, or the last refresh)
    expires_at: datetime


def sessions_active(*, user: User, limit: int = SESSIONS_SHOWN) -> list[ActiveSession]:
    """The player's sessions that still work, newest first. Two queries (the
    live refresh tokens, the player's revoked families); the family is read
    from each token's claims (signed by us; expiry is the row's, already checked)."""
    tokens = list(
        OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("pk", "token", "created_at", "expires_at")[:limit]
    )
    if not tokens:
        return []
    revoked = set(RevokedTokenFamily.objects.filter(user=user).values_list("family", flat=True))
    sessions: list[ActiveSession] = []
    for pk, raw, created_at, expires_at in tokens:
        try:
            claims = token_backend.decode(raw, verify=False)  # type: ignore[arg-type]  # the stubs say Token
        except TokenBackendError:
            continue
        family = token_family(claims)
        legacy = TOKEN_VERSION_CLAIM not in claims and family is None
        if not legacy and (
            family is None or family in revoked or claims.get(TOKEN_VERSION_CLAIM) != user.token_version
        ):
            continue
        sessions.append(ActiveSession(family=family, token_id=pk, refreshed_at=created_at, expires_at=expires_at))
    return sessions


def session_revoke(*, actor: User, user: User, family: uuid.UUID, reason: str) -> RevokedTokenFamily:
    """Staff end one session of a player (``accounts.revoke_sessions``; audited):
    the family's refresh token is blacklisted and its access tokens stop
    working (authentication checks revoked families), and the player's sockets
    close on commit (4401: a socket does not know its family, so the player's
    other sessions reconnect with their own tokens). An entry point."""
    staff_permission_require(actor=actor, permission=REVOKE_SESSIONS)
    session = next(
        (s for s in sessions_active(user=user, limit=1000) if s.family is not None and s.family == family), None
    )
    if session is None:
        raise SessionNotFound(family=str(family))
    with transaction.atomic(durable=True):
        revoked, _ = RevokedTokenFamily.objects.get_or_create(
            family=family, defaults={"user": user, "reason": "revoked_by_staff"}
        )
        BlacklistedToken.objects.get_or_create(token_id=session.token_id)
        audit_record(
            actor=actor,
            action="session_revoke",
            target=user,
            reason=reason,
            data={"family": family.hex, "token_version": user.token_version},
        )
        sockets_close(user_id=user.pk, code=CLOSE_SESSION_REVOKED)
    return revoked
