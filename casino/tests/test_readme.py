"""The README is what a newcomer follows: its variable table names every
setting casino/settings.py reads from the environment (and nothing else), its
links stay inside the repository, and the commands it shows run as written
(the project's programs live in `.venv/bin/`)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SETTINGS_FILE = ROOT / "casino" / "settings.py"
MAKEFILE = ROOT / "Makefile"
TABLE_HEADER = "| variable | default | meaning |"
# Programs installed into the virtualenv: written bare they are not on a newcomer's PATH.
VENV_PROGRAMS = ("celery", "pytest", "python manage.py", "python -m pytest")


def settings_environment_names() -> Counter[str]:
    """Every NAME settings.py reads: `get_from_env("NAME", ...)`, and APP_ENV through `app_env()`."""
    names: Counter[str] = Counter()
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "app_env":
            names["APP_ENV"] += 1
        elif node.func.id == "get_from_env":
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), ast.unparse(node)
            names[first.value] += 1
    return names


def makefile_variables() -> set[str]:
    """`make` variables a user may set (`PORT ?= 8000`): the table may document these too."""
    return set(re.findall(r"^([A-Z][A-Z0-9_]*) \?=", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE))


def readme_table_names() -> list[str]:
    """The variables of the README's table, in order (a row may name several: `A` / `B`)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER)
    names = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first_cell = line.split("|")[1]
        row = re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell)
        assert row, f"a table row names no variable: {line[:80]}"
        names.extend(row)
    return names


def test_the_variable_table_names_every_setting_read_from_the_environment() -> None:
    table = set(readme_table_names())
    read = set(settings_environment_names())

    assert len(read) > 40, "settings.py parsed"
    missing = sorted(read - table)
    stale = sorted(table - read - makefile_variables())
    assert not missing, f"casino/settings.py reads these, add a row to the README's table: {missing}"
    assert not stale, f"the README's table names these, casino/settings.py never reads them: {stale}"


def test_the_variable_table_names_each_variable_once() -> None:
    duplicates = [name for name, count in Counter(readme_table_names()).items() if count > 1]

    assert not duplicates, f"two rows for {duplicates}"


def test_links_stay_inside_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}

    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        path, _, fragment = target.partition("#")
        assert "://" not in target and not target.startswith("//"), f"link outside the repository: {target}"
        if path:
            resolved = (ROOT / path).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"broken link: {target}"
        else:
            assert fragment in anchors, f"no heading for #{fragment}"
    for url in re.findall(r"\b\w+://[^\s`)|>]+", text):
        host = re.match(r"\w+://(?:[^@/\s]*@)?([\w.-]*)", url)
        assert host and host.group(1) in {"127.0.0.1", "localhost", "host"}, f"an address outside this machine: {url}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _commands() -> list[str]:
    """Command lines the README shows: lines of ```bash blocks and inline `code` spans."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return [line for line in lines + spans if line]


def test_commands_run_the_virtualenv_programs() -> None:
    bare = []
    for line in _commands():
        # Each command of a line (`a && b`, `a | b`, `env_lines="$(...)"`), without leading VAR=value words
        for part in re.split(r"&&|\|\||\||;|\$\(", line):
            words = [word for word in part.strip().split() if not re.fullmatch(r"[A-Z_]+=\S*", word)]
            command = " ".join(words)
            for program in VENV_PROGRAMS:
                if command == program or command.startswith(program + " "):
                    bare.append(line)
    assert not bare, f"write these as .venv/bin/...: {bare}"
