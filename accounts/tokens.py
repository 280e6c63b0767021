"""Issuing JWT pairs. Both tokens carry the user's ``token_version`` (claim
``ver``), which ``accounts.authentication`` compares on every request, and the
id of their *family* (claim ``fam``): the chain of refresh tokens one login
starts and every rotation continues. A refresh token used a second time
revokes its whole family (``accounts.services.auth.token_refresh``).

simplejwt's blacklist app keeps a row per refresh token issued
(``OutstandingToken``) and one per token spent (``BlacklistedToken``). Its
two statements on the refresh path are written out here
(``casino.db``): the blacklist look-up of a presented token
(:func:`refresh_token_verified`), and on issue one INSERT of the token as
issued (simplejwt's ``for_user`` inserts the row before the claims below are
added, which then took an UPDATE)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import connections, router
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import BlacklistMixin, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.authentication import TOKEN_FAMILY_CLAIM, TOKEN_VERSION_CLAIM
from accounts.models import User
from casino.db import column_name, rows_insert


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def tokens_issue(*, user: User, family: uuid.UUID | None = None) -> TokenPair:
    """A new pair: of a new family (a login), or of ``family`` (a rotation)."""
    # Token.for_user: the claims of a new refresh token, without the blacklist mixin's INSERT.
    refresh: RefreshToken = super(BlacklistMixin, RefreshToken).for_user(user)  # type: ignore[misc]
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    refresh[TOKEN_FAMILY_CLAIM] = (family or uuid.uuid4()).hex
    # Recorded for the blacklist as issued, so staff can see which session (family) a live
    # refresh token is (accounts.services.sessions) and end just that one.
    rows_insert(
        [
            OutstandingToken(
                user=user,
                jti=refresh[jwt_settings.JTI_CLAIM],
                token=str(refresh),
                created_at=refresh.current_time,
                expires_at=datetime_from_epoch(refresh["exp"]),
            )
        ]
    )
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def token_blacklisted(*, jti: str) -> bool:
    """Whether the refresh token ``jti`` was spent (rotated, logged out, revoked): simplejwt's
    blacklist look-up, a join, written out."""
    alias = router.db_for_read(BlacklistedToken)
    quote = connections[alias].ops.quote_name
    spent, issued = quote(BlacklistedToken._meta.db_table), quote(OutstandingToken._meta.db_table)
    sql = (
        f"SELECT 1 FROM {spent} JOIN {issued}"  # noqa: S608
        f" ON {issued}.{column_name(OutstandingToken, 'id')} = {spent}.{column_name(BlacklistedToken, 'token')}"
        f" WHERE {issued}.{column_name(OutstandingToken, 'jti')} = %s LIMIT 1"
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [jti])
        return cursor.fetchone() is not None


class _RefreshToken(RefreshToken):
    def check_blacklist(self) -> None:
        if token_blacklisted(jti=self.payload[jwt_settings.JTI_CLAIM]):
            raise TokenError("Token is blacklisted")


def refresh_token_verified(raw: str) -> RefreshToken:
    """The refresh token ``raw`` as simplejwt's ``RefreshToken(raw)`` verifies it --
    signature, expiry, type and the blacklist -- with the blacklist look-up written out.
    ``TokenError`` when it is refused."""
    return _RefreshToken(raw)  # type: ignore[arg-type]
