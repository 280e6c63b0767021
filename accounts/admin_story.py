"""The player's story on one page: the sections of the user change page.

``accounts`` may not import the apps above it (economy, shop, games, events),
yet the player's page shows their balances, orders, rounds and progress. So the
page is a registry: each app registers its sections from its
``AppConfig.ready()`` (``<app>/player_story.py``), and the page
(``accounts.admin.UserAdmin``, template ``admin/accounts/user/change_form.html``)
renders whatever is registered::

    register_player_section(
        "orders", "Orders", order=60, provider=orders_section, permission="shop.view_order"
    )

A provider is ``provider(user, request) -> PlayerSection | None`` (``None``:
nothing to show). Rules every provider keeps:

- at most two queries (the page must not grow with the player's history: read
  the latest rows with one sliced query, the totals with one aggregate);
- what it shows is what the staff member may see: the section's
  ``permission`` (a view permission) is checked before the provider runs, and
  each action carries the permission it needs (actions the staff member lacks
  are dropped here; the pages they lead to refuse them again);
- a "see all" link to the app's changelist filtered by the player.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.http import HttpRequest

from accounts.models import User
from casino.admin_tools import request_holds


@dataclass(frozen=True)
class Figure:
    """One labelled value (a balance, a limit, a count); ``url`` makes it a link,
    ``state`` ("warning", "danger", "ok") colours it."""

    label: str
    value: Any
    url: str = ""
    state: str = ""


@dataclass(frozen=True)
class StoryAction:
    """A button of the section: a page that asks for confirmation (and a reason)
    before it calls a service. Shown only to staff holding ``permission``."""

    label: str
    url: str
    permission: str
    danger: bool = False


@dataclass(frozen=True)
class PlayerSection:
    """What a provider returns: figures, then a small table (``columns`` and
    ``rows``; a cell may be a ``format_html`` link), a "see all" link and actions."""

    figures: Sequence[Figure] = ()
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = ()
    see_all_url: str = ""
    see_all_label: str = "See all"
    actions: Sequence[StoryAction] = ()
    empty: str = ""
    note: str = ""


SectionProvider = Callable[[User, HttpRequest], PlayerSection | None]


@dataclass(frozen=True)
class RegisteredSection:
    key: str
    title: str
    order: int
    provider: SectionProvider
    permission: str | None = None


@dataclass(frozen=True)
class ShownSection:
    """A section as the template renders it (actions already filtered)."""

    key: str
    title: str
    section: PlayerSection = field(default_factory=PlayerSection)


_SECTIONS: dict[str, RegisteredSection] = {}


def register_player_section(
    key: str, title: str, *, order: int, provider: SectionProvider, permission: str | None = None
) -> None:
    """Add a section to every player's page (re-registering a key replaces it,
    so a reloaded ``ready()`` does not duplicate it). ``permission``: the view
    permission ("app_label.codename") a staff member needs to see it at all."""
    _SECTIONS[key] = RegisteredSection(key=key, title=title, order=order, provider=provider, permission=permission)


def registered_sections() -> list[RegisteredSection]:
    return sorted(_SECTIONS.values(), key=lambda section: (section.order, section.key))


def player_story(user: User, request: HttpRequest) -> list[ShownSection]:
    """The sections ``request``'s staff member may see of ``user``, in order."""
    shown: list[ShownSection] = []
    for registered in registered_sections():
        if registered.permission and not request_holds(request, registered.permission):
            continue
        section = registered.provider(user, request)
        if section is None:
            continue
        allowed = tuple(action for action in section.actions if request_holds(request, action.permission))
        shown.append(
            ShownSection(key=registered.key, title=registered.title, section=replace(section, actions=allowed))
        )
    return shown
