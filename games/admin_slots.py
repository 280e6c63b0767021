"""The games' back office for the slot machine. The slot machine page (Slot table versions >
"Slot machine") shows the weights and the paytable in play with their exact RTP, hit frequency
and jackpot odds, and lets staff holding games.configure_game preview and publish new ones
through the audited service games.services.slot_tables.slot_tables_publish (who, before, after, why).
Symbols, weights, pay rules and versions are read-only here: nothing edits them around that
service.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, request_holds, staff_view
from casino.errors import ApplicationError
from games.exceptions import InvalidSlotTable
from games.models import SlotSymbol, SlotTableVersion
from games.services import slot_tables as table_services
from games.services import slots as slot_services

SLOT_VIEW_PERMISSION = "games.view_slottableversion"
SLOT_CONFIGURE_PERMISSION = table_services.CONFIGURE_GAME


class SlotTablesForm(forms.Form):
    """One weight per reel and symbol, and one multiplier (blank: no such rule) and jackpot flag
    per symbol and count; the field names are ``weight_{reel}_{symbol}``, ``multiplier_{symbol}_{count}``
    and ``jackpot_{symbol}_{count}``."""

    reason = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the tables before and after. Needed to publish.",
    )

    def __init__(self, *args: Any, table: slot_services.SlotTable, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        rules = {(rule.symbol, rule.count): rule for rule in table.paytable}
        for symbol in table.symbols:
            for reel in range(slot_services.REELS):
                self.fields[f"weight_{reel}_{symbol.code}"] = forms.IntegerField(
                    min_value=0,
                    max_value=table_services.MAX_STOPS_PER_REEL,
                    initial=table.weights[reel].get(symbol.code, 0),
                    widget=forms.NumberInput(attrs={"style": "width: 5em"}),
                )
            for count in range(1, slot_services.REELS + 1):
                rule = rules.get((symbol.code, count))
                self.fields[f"multiplier_{symbol.code}_{count}"] = forms.DecimalField(
                    required=False,
                    min_value=Decimal("0.01"),
                    max_value=table_services.MAX_MULTIPLIER,
                    decimal_places=2,
                    initial=slot_services.multiplier_text(rule.multiplier) if rule else None,
                    widget=forms.TextInput(attrs={"style": "width: 6em"}),
                )
                self.fields[f"jackpot_{symbol.code}_{count}"] = forms.BooleanField(
                    required=False, initial=bool(rule and rule.is_jackpot)
                )

    def tables(self) -> tuple[dict[int, dict[str, int]], list[dict[str, Any]]]:
        """The weights and the paytable of the (valid) form, as the service takes them."""
        data = self.cleaned_data
        weights = {
            reel: {symbol.code: data[f"weight_{reel}_{symbol.code}"] for symbol in self.table.symbols}
            for reel in range(slot_services.REELS)
        }
        paytable = [
            {
                "symbol": symbol.code,
                "count": count,
                "multiplier": str(data[f"multiplier_{symbol.code}_{count}"]),
                "is_jackpot": bool(data[f"jackpot_{symbol.code}_{count}"]),
            }
            for symbol in self.table.symbols
            for count in range(1, slot_services.REELS + 1)
            if data.get(f"multiplier_{symbol.code}_{count}") is not None
        ]
        return weights, paytable

    def grid(self) -> dict[str, Any]:
        """Rows for the template: per symbol, its weight fields per reel and its rule fields per count."""
        return {
            "weights": [
                (symbol, [self[f"weight_{reel}_{symbol.code}"] for reel in range(slot_services.REELS)])
                for symbol in self.table.symbols
            ],
            "rules": [
                (
                    symbol,
                    [
                        (count, self[f"multiplier_{symbol.code}_{count}"], self[f"jackpot_{symbol.code}_{count}"])
                        for count in range(1, slot_services.REELS + 1)
                    ],
                )
                for symbol in self.table.symbols
            ],
        }


def _slot_figures(math: Any, weights: dict[int, dict[str, int]] | None = None) -> dict[str, Any]:
    jackpot = math.jackpot_probability
    return {
        "rtp": slot_services.percent_text(math.rtp),
        "rtp_exact": str(math.rtp),
        "hit_frequency": slot_services.percent_text(math.hit_frequency),
        "jackpot_odds": f"1 in {float(1 / jackpot):,.2f}" if jackpot else "never",
        "combinations": math.combinations,
        "rules": [
            {
                "label": f"{stats.rule.count} x {stats.rule.symbol}",
                "multiplier": slot_services.multiplier_text(stats.rule.multiplier),
                "is_jackpot": stats.rule.is_jackpot,
                "probability": f"{float(stats.probability):.6%}",
                "rtp_share": slot_services.percent_text(stats.rtp_contribution),
            }
            for stats in math.rules
        ],
    }


@admin.register(SlotTableVersion)
class SlotTableVersionAdmin(ReadOnlyAdmin):
    readonly_fields = ["id", "created_at", "rtp", "hit_frequency", "digest", "reel_strips", "paytable"]
    change_list_template = "admin/games/slottableversion/change_list.html"

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        try:
            live_id: int | None = slot_services.slot_table_current().pk
        except ApplicationError:
            live_id = None

        @admin.display(description="in play", boolean=True)
        def in_play(version: SlotTableVersion) -> bool:
            return version.pk == live_id

        return ["id", "created_at", "rtp_percent", "hit_frequency_percent", in_play, "digest_short"]

    @admin.display(description="RTP", ordering="rtp")
    def rtp_percent(self, version: SlotTableVersion) -> str:
        return f"{version.rtp * 100:.4f}%"

    @admin.display(description="hit frequency", ordering="hit_frequency")
    def hit_frequency_percent(self, version: SlotTableVersion) -> str:
        return f"{version.hit_frequency * 100:.4f}%"

    @admin.display(description="digest")
    def digest_short(self, version: SlotTableVersion) -> str:
        return f"{version.digest[:12]}…"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"slot_machine_url": reverse("admin:games_slottableversion_machine"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[Any]:
        return [
            path("machine/", self.admin_site.admin_view(self.machine_view), name="games_slottableversion_machine"),
            *super().get_urls(),
        ]

    @staff_view(permission=SLOT_VIEW_PERMISSION)
    def machine_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the table in play and its figures. POST (games.configure_game): "_preview" computes
        the figures of the submitted tables, "_publish" publishes them through the service."""
        may_publish = request_holds(request, SLOT_CONFIGURE_PERMISSION)
        table = slot_services.slot_table_live()
        preview: dict[str, Any] | None = None
        if request.method == "POST":
            if not may_publish:
                raise PermissionDenied
            form = SlotTablesForm(request.POST, table=table)
            if form.is_valid():
                weights, paytable = form.tables()
                try:
                    if "_publish" in request.POST:
                        reason = form.cleaned_data["reason"]
                        if not reason:
                            form.add_error("reason", "Say why: it is kept in the audit log.")
                        else:
                            version = table_services.slot_tables_publish(
                                actor=request_staff(request), reason=reason, weights=weights, paytable=paytable
                            )
                            self.message_user(
                                request,
                                f"Published slot table v{version.pk}: RTP {version.rtp * 100:.4f}%, hit frequency "
                                f"{version.hit_frequency * 100:.4f}%. Spins use it from now on.",
                                messages.SUCCESS,
                            )
                            return HttpResponseRedirect(reverse("admin:games_slottableversion_machine"))
                    else:
                        draft = table_services.slot_tables_check(weights=weights, paytable=paytable)
                        preview = _slot_figures(draft.math)
                        preview["changed"] = draft.changed
                except InvalidSlotTable as exc:
                    for problem in exc.details.get("problems", []):
                        form.add_error(None, problem)
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
        else:
            form = SlotTablesForm(table=table)
        context = {
            **self.admin_site.each_context(request),
            "title": "Slot machine",
            "opts": self.opts,
            "table": table,
            "version": table.version,
            "current": _slot_figures(table.math),
            "reel_numbers": list(range(slot_services.REELS)),
            "strip_lengths": [sum(table.weights[reel].values()) for reel in range(slot_services.REELS)],
            "form": form,
            "grid": form.grid(),
            "preview": preview,
            "may_publish": may_publish,
            "versions_url": reverse("admin:games_slottableversion_changelist"),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/games/slottableversion/machine.html", context)


@admin.register(SlotSymbol)
class SlotSymbolAdmin(ReadOnlyAdmin):
    list_display = ["sort_order", "code", "name", "emoji", "edit_tables"]
    ordering = ["sort_order", "id"]

    @admin.display(description="weights and paytable")
    def edit_tables(self, symbol: SlotSymbol) -> str:
        return format_html('<a href="{}">Slot machine page</a>', reverse("admin:games_slottableversion_machine"))
