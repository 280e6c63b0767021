"""The apps built on the house layout keep every room docs/architecture.md lists
for a domain app, so the feature that fills one finds a place for each kind of
code (and the doc and the tree cannot drift apart silently). games/ and events/
were created with every room; the older apps grew theirs before the list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
ROOM_BLOCK = re.compile(r"```text\n<app>/\n(?P<rooms>.*?)```", re.DOTALL)


def documented_rooms() -> list[str]:
    match = ROOM_BLOCK.search(ARCHITECTURE.read_text(encoding="utf-8"))
    assert match, f"{ARCHITECTURE} has no ```text block starting with '<app>/'"
    return [line.split()[0] for line in match.group("rooms").splitlines() if line.strip()]


def room_exists(app: str, room: str) -> bool:
    # A room ending in "/" is a package: a folder alone would not be importable.
    if room.endswith("/"):
        return (ROOT / app / room / "__init__.py").is_file()
    return (ROOT / app / room).is_file()


def test_architecture_doc_lists_the_rooms_of_an_app() -> None:
    # Given the architecture doc
    # When its room list is read
    rooms = documented_rooms()
    # Then it names the rooms every domain app has (guards against a parse that finds nothing)
    assert {"models.py", "services/", "selectors.py", "api/urls.py", "tests/factories.py"} <= set(rooms)


@pytest.mark.parametrize("app", ["games", "events"])
def test_the_app_has_every_room_of_a_domain_app(app: str) -> None:
    # Given the rooms the architecture doc lists
    rooms = documented_rooms()
    # When the app is checked for each of them
    missing = [room for room in rooms if not room_exists(app, room)]
    # Then none is missing
    assert missing == []
