#!/usr/bin/env python3
"""Fail when a service function takes ``user`` or ``actor`` typed as ``Any``.

mypy cannot express "this parameter must not be Any", and an ``Any`` there
switches type checking off for everything the service does with the player or
the staff member. Services take ``user: User`` / ``actor: User`` (from
``accounts.models``) instead; casino and realtime, which may not import
accounts, take Django's ``AbstractBaseUser``.

    check_service_signatures.py [ROOT]

Scans every ``<app>/services.py`` and ``<app>/services/**/*.py`` under ROOT
(default: the repository), skipping virtualenvs and tests. Standard library
only. Exit status 1 with one ``path:line`` per offending parameter, else 0.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

CHECKED_PARAMETERS = frozenset({"user", "actor"})
# casino and realtime may not import accounts (pyproject's import contracts), so they name
# Django's abstract user instead.
REPLACEMENT = "accounts.models.User (in casino/ and realtime/: django.contrib.auth.base_user.AbstractBaseUser)"
SKIPPED_DIRECTORIES = frozenset({".venv", "venv", "var", "node_modules", "tests", "migrations", "__pycache__"})


def service_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_DIRECTORIES.intersection(relative.parts) or any(p.startswith(".") for p in relative.parts):
            continue
        if path.name == "services.py" or "services" in relative.parts[:-1]:
            yield path


def mentions_any(annotation: ast.expr) -> bool:
    """True for ``Any``, ``typing.Any``, ``"Any"``, ``Any | None``, ``Optional[Any]``..."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Any":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Any":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                parsed = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                continue
            if mentions_any(parsed):
                return True
    return False


def violations(path: Path, source: str) -> Iterator[str]:
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = node.args
        for argument in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
            annotation = argument.annotation
            if argument.arg in CHECKED_PARAMETERS and annotation is not None and mentions_any(annotation):
                yield f"{path}:{argument.lineno}: {node.name}() takes {argument.arg!r} typed as Any; use {REPLACEMENT}"


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    found = [line for path in service_files(root) for line in violations(path.relative_to(root), path.read_text())]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} service parameter(s) typed as Any", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
