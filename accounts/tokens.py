"""Issuing JWT pairs. Both tokens carry the user's ``token_version`` (claim
``ver``), which ``accounts.authentication`` compares on every request."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TOKEN_VERSION_CLAIM
from accounts.models import User


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def tokens_issue(*, user: User) -> TokenPair:
    refresh = RefreshToken.for_user(user)  # records an OutstandingToken (for the blacklist)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))
