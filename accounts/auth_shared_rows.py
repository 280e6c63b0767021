"""The format of a user row one process shares with the others in Redis
(``accounts.auth_cache``, "Rows shared between processes"): what is written and how it
is read back. Every concrete field of the user but the password hash, which never leaves
the database (an instance built from a shared row defers it), with the generation the
row was read at, when it was read (wall clock: processes compare it) and the token
families seen at that generation. Whether a row read back may be used is the cache's
rule, not this module's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError

from accounts.models import User

SHARED_WITHHELD = frozenset({"password"})  # never written to Redis: deferred on a shared row's instance
_SHARED_FIELDS = {f.attname: f for f in User._meta.concrete_fields if f.attname not in SHARED_WITHHELD}
SHARED_FIELD_NAMES = tuple(_SHARED_FIELDS)  # in User._meta.concrete_fields order, as Model.from_db wants


@dataclass(frozen=True)
class SharedRow:
    generation: bytes
    read_at: float  # wall clock
    families: dict[uuid.UUID, bool]  # family -> revoked, at this generation
    values: tuple[Any, ...]  # in SHARED_FIELD_NAMES order


def shared_row_encode(
    *,
    generation: bytes,
    read_at: float,
    families: Mapping[Any, bool],
    names: Sequence[str],
    values: Sequence[Any],
) -> bytes:
    """A row read from the database (``values`` of the fields ``names``), as shared."""
    by_name = dict(zip(names, values, strict=True))
    payload = {
        "generation": generation.decode(),
        "read_at": read_at,
        "families": [[str(family), revoked] for family, revoked in families.items()],
        "values": [by_name[name] for name in SHARED_FIELD_NAMES],
    }
    return json.dumps(payload, default=_isoformat).encode()  # a field it cannot encode fails every test


def shared_row_decode(raw: bytes) -> SharedRow | None:
    """A shared row read back; None when it is not one this version writes (another
    release's, or damaged)."""
    try:
        payload = json.loads(raw)
        return SharedRow(
            generation=payload["generation"].encode(),
            read_at=float(payload["read_at"]),
            families={uuid.UUID(key): bool(revoked) for key, revoked in payload["families"]},
            values=tuple(
                _SHARED_FIELDS[name].to_python(value)
                for name, value in zip(SHARED_FIELD_NAMES, payload["values"], strict=True)
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
        return None


def _isoformat(value: Any) -> str:
    """Dates and times to the microsecond (the fields' ``to_python`` reads them back)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"a user field of type {type(value).__name__} cannot be shared")
