"""One exception class per error code: the economy's refusals share no code
with another class (the platform's included). That no raise overrides a code
is checked for every app by casino/tests/test_errors.py."""

from __future__ import annotations

from pathlib import Path

import casino.idempotency
import economy.exceptions
from casino.errors import ApplicationError

ECONOMY = Path(economy.exceptions.__file__).resolve().parent


# The economy and the packages it may depend on (the other domains may reuse
# the economy's classes, never the reverse).
ECONOMY_AND_BELOW = ("economy", "accounts", "casino", "realtime")


def _application_errors() -> list[type[ApplicationError]]:
    import accounts.exceptions  # noqa: F401 - defines its refusals

    found: list[type[ApplicationError]] = []
    pending: list[type[ApplicationError]] = [ApplicationError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.split(".")[0] in ECONOMY_AND_BELOW]


def test_each_economy_error_code_has_one_class() -> None:
    classes_by_code: dict[str, set[type[ApplicationError]]] = {}
    for cls in _application_errors():
        if "code" in vars(cls):
            classes_by_code.setdefault(cls.code, set()).add(cls)
    economy_codes = {
        cls.code for cls in _application_errors() if cls.__module__ == "economy.exceptions" and "code" in vars(cls)
    }
    shared = {code: classes for code, classes in classes_by_code.items() if code in economy_codes and len(classes) > 1}

    assert {"insufficient_funds", "invalid_amount", "invalid_vip_tier", "reason_required"} <= economy_codes
    assert shared == {}
    assert classes_by_code["idempotency_key_reused"] == {casino.idempotency.IdempotencyKeyReused}
    assert economy.exceptions.IdempotencyConflict is casino.idempotency.IdempotencyKeyReused
