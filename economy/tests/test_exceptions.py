"""One exception class per error code: the economy's refusals neither share a
code with another class (the platform's included) nor override it at a raise."""

from __future__ import annotations

import ast
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


def test_no_economy_raise_overrides_the_code_or_status_of_its_class() -> None:
    error_names = {cls.__name__ for cls in _application_errors()} | {"IdempotencyConflict"}
    overrides: list[str] = []
    for path in ECONOMY.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in error_names and any(keyword.arg in {"code", "status"} for keyword in node.keywords):
                overrides.append(f"{path.relative_to(ECONOMY)}:{node.lineno} {name}")

    assert overrides == []
