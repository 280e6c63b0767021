"""The player's page: the user change page with the player's story, section by section
(``accounts.admin_story``: every app registers its own), and buttons for the actions the staff
member holds -- ban / reinstate, revoke every session or one, lift a self-exclusion, a one-time
password link (economy adds adjust balance and grant a reward bundle).

Each button opens a confirmation page that asks for a reason and calls one audited service
(:meth:`PlayerPageMixin._player_action`); the page needs its own permission and the service
checks it again. ``accounts.admin.UserAdmin`` takes the mixin.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers

from accounts import services
from accounts.admin_common import staff_actor
from accounts.admin_story import player_story
from accounts.models import User
from accounts.services import staff
from accounts.services.password_links import password_link_create
from accounts.services.sessions import session_revoke
from casino.admin_tools import ReasonForm, player_link, staff_view
from casino.errors import ApplicationError

# What a confirmation page calls: (actor, player, reason), one audited service. It may answer
# with a page of its own (an HttpResponse); anything else it returns is not shown.
PlayerCall = Callable[[User, User, str], object]


@dataclass(frozen=True)
class PlayerActionPage:
    """What a confirmation page says: its title, what the action does, the button, and what is
    reported on the player's page after it (``{player}``: the nickname)."""

    title: str
    explanation: str
    submit: str
    done: str
    danger: bool = False


BAN = PlayerActionPage(
    title="Ban player",
    explanation="The player is logged out everywhere (their open app closes its connection) and cannot "
    "log in again until someone reinstates them.",
    submit="Ban",
    done="Banned {player}.",
    danger=True,
)
UNBAN = PlayerActionPage(
    title="Reinstate player",
    explanation="The player may log in again.",
    submit="Reinstate",
    done="Reinstated {player}.",
)
REVOKE_SESSIONS = PlayerActionPage(
    title="Revoke every session",
    explanation="Every device of the player is logged out at once: their next request is refused "
    "and their open app closes its connection. They may log in again.",
    submit="Revoke every session",
    done="Ended every session of {player}.",
    danger=True,
)
LIFT_EXCLUSION = PlayerActionPage(
    title="Lift self-exclusion",
    explanation="The player excluded themselves from playing. Lifting it early lets them play again "
    "now; record why (who asked, what was checked).",
    submit="Lift self-exclusion",
    done="Lifted the self-exclusion of {player}.",
    danger=True,
)
PASSWORD_LINK = PlayerActionPage(
    title="Reset password",
    explanation="Nothing is sent to the player. The next page shows a link, once: give it to the player "
    "through the channel they contacted you on. It works once, until the player logs in, or until it "
    "expires; setting a password with it logs the player out everywhere. The link itself is not kept.",
    submit="Make the link",
    done="",
)


def revoke_session_page(family: uuid.UUID) -> PlayerActionPage:
    return PlayerActionPage(
        title="Revoke one session",
        explanation=f"The device logged in as session {family.hex[:12]} is logged out; the player's other "
        "devices reconnect and stay logged in.",
        submit="Revoke this session",
        done="Ended one session of {player}.",
        danger=True,
    )


class PlayerPageMixin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    """The user admin's player page: the story on the change form, and the action pages."""

    change_form_template = "admin/accounts/user/change_form.html"

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk:
            context["player_story"] = player_story(obj, request)
            context["subtitle"] = f"{obj.nickname} ({obj.site_id})"
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_urls(self) -> list[Any]:
        def page(route: str, view: Callable[..., HttpResponse], name: str) -> Any:
            return path(f"<path:object_id>/{route}/", self.admin_site.admin_view(view), name=f"accounts_user_{name}")

        return [
            page("ban", self.ban_view, "ban"),
            page("unban", self.unban_view, "unban"),
            page("revoke-sessions", self.revoke_sessions_view, "revoke_sessions"),
            page("revoke-session/<uuid:family>", self.revoke_session_view, "revoke_session"),
            page("lift-exclusion", self.lift_exclusion_view, "lift_exclusion"),
            page("password-link", self.password_link_view, "password_link"),
            *super().get_urls(),
        ]

    def _player_action(
        self, request: HttpRequest, object_id: str, page: PlayerActionPage, call: PlayerCall
    ) -> HttpResponse:
        """A confirmation page with a required reason; on POST, ``call(actor, player, reason)``
        (one service: it checks the permission again and audits), then back to the player's page
        with ``page.done`` reported -- or the page ``call`` answered with."""
        player = self.get_object(request, unquote(object_id))
        if player is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined, no-any-return]  # Django's
                request, self.opts, object_id
            )
        change_url = reverse("admin:accounts_user_change", args=[player.pk])
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                answer = call(staff_actor(request), player, form.cleaned_data["reason"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if isinstance(answer, HttpResponse):
                    return answer
                self.message_user(request, page.done.format(player=player.nickname), messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": page.title,
            "subtitle": f"{player.nickname} ({player.site_id})",
            "opts": self.opts,
            "original": player,
            "player": player,
            "player_link": player_link(player),
            "explanation": page.explanation,
            "form": form,
            "submit": page.submit,
            "danger": page.danger,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/accounts/user/player_action.html", context)

    @staff_view(permission=staff.BAN_USER)
    def ban_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            BAN,
            lambda actor, player, reason: services.user_set_active(
                actor=actor, user=player, active=False, reason=reason
            ),
        )

    @staff_view(permission=staff.BAN_USER)
    def unban_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            UNBAN,
            lambda actor, player, reason: services.user_set_active(
                actor=actor, user=player, active=True, reason=reason
            ),
        )

    @staff_view(permission=staff.REVOKE_SESSIONS)
    def revoke_sessions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            REVOKE_SESSIONS,
            lambda actor, player, reason: services.user_sessions_revoke(actor=actor, user=player, reason=reason),
        )

    @staff_view(permission=staff.REVOKE_SESSIONS)
    def revoke_session_view(self, request: HttpRequest, object_id: str, family: uuid.UUID) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            revoke_session_page(family),
            lambda actor, player, reason: session_revoke(actor=actor, user=player, family=family, reason=reason),
        )

    @staff_view(permission=staff.LIFT_SELF_EXCLUSION)
    def lift_exclusion_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            LIFT_EXCLUSION,
            lambda actor, player, reason: services.self_exclusion_lift(actor=actor, user=player, reason=reason),
        )

    @staff_view(permission=staff.RESET_PASSWORD)
    def password_link_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def make_link(actor: User, player: User, reason: str) -> HttpResponse:
            link = password_link_create(actor=actor, user=player, reason=reason)
            context = {
                **self.admin_site.each_context(request),
                "title": "One-time password link",
                "subtitle": f"{player.nickname} ({player.site_id})",
                "opts": self.opts,
                "original": player,
                "player": player,
                "link": request.build_absolute_uri(link.path),
                "expires_at": link.expires_at,
                "change_url": reverse("admin:accounts_user_change", args=[player.pk]),
            }
            response = TemplateResponse(request, "admin/accounts/user/password_link.html", context)
            add_never_cache_headers(response)  # shown once: not kept in the browser's cache
            return response

        return self._player_action(request, object_id, PASSWORD_LINK, make_link)
