"""The provably-fair random source every game draws from.

    server_seed       = secrets.token_hex(32)                  (64 lowercase hex characters)
    server_seed_hash  = sha256(server_seed.encode("ascii")).hexdigest()
    outcome_bytes(c)  = HMAC-SHA256(key=server_seed.encode("ascii"),
                                    msg=f"{client_seed}:{nonce}:{c}".encode("utf-8"))   (32 bytes)
    fair_floats       = the 4-byte big-endian chunks of outcome_bytes(0), outcome_bytes(1), ...
                        (8 per cursor), each int.from_bytes(chunk, "big") / 2**32, in [0, 1)

The key is the seed's hex *string*, not the 32 bytes it spells, as the established
provably-fair casinos do, so a player can paste the revealed seed into any HMAC tool.

A float here is always k / 2**32 for an integer k, so it converts back to k exactly; the
helper ``scaled_floor`` draws an index from it with exact integer arithmetic.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

FLOAT_BYTES = 4
FLOATS_PER_CURSOR = hashlib.sha256().digest_size // FLOAT_BYTES  # 8
FLOAT_DENOMINATOR = 2**32


def new_server_seed() -> str:
    """A fresh secret server seed: 32 random bytes from `secrets`, as 64 hex characters."""
    return secrets.token_hex(32)


def seed_hash(server_seed: str) -> str:
    """The commitment published before play: sha256 of the seed's ASCII hex string."""
    return hashlib.sha256(server_seed.encode("ascii")).hexdigest()


def outcome_bytes(server_seed: str, client_seed: str, nonce: int, cursor: int) -> bytes:
    """HMAC-SHA256(key = server seed string, message = "{client_seed}:{nonce}:{cursor}")."""
    _check_non_negative_int("nonce", nonce)
    _check_non_negative_int("cursor", cursor)
    message = f"{client_seed}:{nonce}:{cursor}".encode()
    return hmac.new(server_seed.encode("ascii"), message, hashlib.sha256).digest()


def fair_floats(server_seed: str, client_seed: str, nonce: int, count: int) -> list[float]:
    """The round's first `count` floats in [0, 1): 4-byte big-endian chunks / 2**32, 8 per cursor."""
    _check_non_negative_int("count", count)
    floats: list[float] = []
    cursor = 0
    while len(floats) < count:
        block = outcome_bytes(server_seed, client_seed, nonce, cursor)
        for offset in range(0, len(block), FLOAT_BYTES):
            if len(floats) == count:
                break
            chunk = block[offset : offset + FLOAT_BYTES]
            floats.append(int.from_bytes(chunk, "big") / FLOAT_DENOMINATOR)
        cursor += 1
    return floats


def scaled_floor(fraction: float, size: int) -> int:
    """floor(fraction * size), computed exactly (no float rounding), for fraction in [0, 1).

    Every game turns a fair float into an index this way: a reel stop, the computer's move,
    a weighted pick, a gacha item. ``as_integer_ratio`` is exact for any float, so the result
    is the mathematical floor even when ``size`` is large.
    """
    check_unit_float(fraction)
    _check_non_negative_int("size", size)
    numerator, denominator = fraction.as_integer_ratio()
    return numerator * size // denominator


def check_unit_float(fraction: float) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, float | int) or not 0 <= fraction < 1:
        raise ValueError(f"a fair float is in [0, 1), got {fraction!r}")


def _check_non_negative_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def weighted_index(fraction: float, weights: Sequence[int]) -> int:
    """The index a fair float picks from integer weights.

    r = floor(fraction * sum(weights)); the answer is the first i with r < weights[0] + ... + weights[i].
    So index i is drawn with probability weights[i] / sum(weights) (up to the 2**-32 grain of the
    float); a zero weight is never drawn. Weights are non-negative integers with a positive sum.
    """
    total = weights_total(weights)
    target = scaled_floor(fraction, total)
    cumulative = 0
    for index, weight in enumerate(weights):
        cumulative += weight
        if target < cumulative:
            return index
    raise AssertionError("unreachable: target < total")  # pragma: no cover


def weights_total(weights: Sequence[int]) -> int:
    """sum(weights), after checking they are non-negative integers with a positive sum."""
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError(f"weights must be non-negative integers, got {weight!r}")
    total = sum(weights)
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    return total
