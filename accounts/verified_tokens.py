"""Access tokens this process has already verified, by their encoded form.

A player's app sends the same access token with every request until it
expires (30 minutes by default), and each request used to verify it again:
PyJWT splits it, checks every character of each segment in Python, decodes
two JSON objects and computes the HMAC -- a third of a millisecond of CPU
under load, more than any statement of a balance read. The encoded token is
its own cache key: the signature is part of the string, so a token whose
header, claims or signature differ in one character is another key, is
verified from scratch, and is refused as before.

What a hit still checks on every request: the token's expiry (simplejwt's
``check_exp``, the same rule and leeway as a first verification; an expired
entry is dropped and the token verified again, so the refusal is the usual
one). What a hit skips: the signature and the claims' shape, which cannot have
changed. Revocation is not a property of the token: the user's version, the
token family and the account's state are checked by
``accounts.authentication`` on every request, hit or not.

The signing key is read once per process (simplejwt builds its token backend
at import), so a key is rotated by a restart, which starts with an empty cache.

Bounded (``SIZE`` tokens, about 1.5 KB each, 15 MB at most; the older half is dropped when
full) and thread-safe (the WebSocket server's thread pool shares it). Each
caller gets its own copy of the token and of its claims.
"""

from __future__ import annotations

import copy
import threading

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

SIZE = 10_000


class VerifiedTokens:
    """Verified tokens by their encoded bytes (module docstring)."""

    def __init__(self, *, size: int = SIZE) -> None:
        self.size = size
        self._tokens: dict[bytes, Token] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tokens)

    def get(self, raw: bytes) -> Token | None:
        """A copy of the token verified earlier as ``raw``, if it has not expired since."""
        kept = self._tokens.get(raw)
        if kept is None:
            return None
        token = copy.copy(kept)
        token.payload = dict(kept.payload)
        token.current_time = aware_utcnow()
        try:
            token.check_exp()
        except TokenError:
            with self._lock:
                self._tokens.pop(raw, None)
            return None
        return token

    def keep(self, raw: bytes, token: Token) -> None:
        """Remember ``token``, just verified from ``raw``."""
        kept = copy.copy(token)
        kept.payload = dict(token.payload)
        with self._lock:
            if len(self._tokens) >= self.size:
                oldest = list(self._tokens)[: max(1, self.size // 2)]
                for key in oldest:
                    del self._tokens[key]
            self._tokens[raw] = kept

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


verified_tokens = VerifiedTokens()
