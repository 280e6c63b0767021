"""Issuing JWT pairs. Both tokens carry the user's ``token_version`` (claim
``ver``), which ``accounts.authentication`` compares on every request, and the
id of their *family* (claim ``fam``): the chain of refresh tokens one login
starts and every rotation continues. A refresh token used a second time
revokes its whole family (``accounts.services.auth.token_refresh``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TOKEN_FAMILY_CLAIM, TOKEN_VERSION_CLAIM
from accounts.models import User


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def tokens_issue(*, user: User, family: uuid.UUID | None = None) -> TokenPair:
    """A new pair: of a new family (a login), or of ``family`` (a rotation)."""
    refresh = RefreshToken.for_user(user)  # records an OutstandingToken (for the blacklist)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    refresh[TOKEN_FAMILY_CLAIM] = (family or uuid.uuid4()).hex
    # The row for_user recorded holds the token as it was before the claims above; store the
    # token as issued, so staff can see which session (family) a live refresh token is
    # (accounts.services.sessions) and end just that one.
    OutstandingToken.objects.filter(jti=refresh[jwt_settings.JTI_CLAIM]).update(token=str(refresh))
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))
