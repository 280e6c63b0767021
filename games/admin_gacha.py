"""The games' back office for gacha: banners, edited with their rarity table and items on one
page, their published odds and pity; the players' inventories and pity counters (read-only).

A banner's save goes through the audited service games.services.gacha_banner_save (who, before,
after, why), which needs games.configure_game. The forms ask the service's own rules first, so
errors show on the page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet, URLField
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, player_link, request_holds
from games.gacha_selectors import GachaBannerSpec, gacha_banner_spec
from games.models import GachaBanner, GachaItem, GachaPity, GachaRarityWeight, InventoryItem
from games.services.gacha_banners import (
    BANNER_FIELDS,
    CONFIGURE_PERMISSION,
    gacha_banner_rows_validate,
    gacha_banner_save,
    gacha_banner_terms_validate,
)


def _gacha_may_configure(request: HttpRequest) -> bool:
    return request_holds(request, CONFIGURE_PERMISSION)


def _gacha_may_view(request: HttpRequest) -> bool:
    return request_holds(request, "games.view_gachabanner") or _gacha_may_configure(request)


def _gacha_rows(formset: BaseInlineFormSet | None) -> list:  # type: ignore[type-arg]
    """The rows a formset leaves: stored rows not deleted, plus filled-in new ones."""
    if formset is None:
        return []
    deleted = set(map(id, formset.deleted_forms))
    return [
        form.instance
        for form in formset.forms
        if id(form) not in deleted and (form.instance.pk is not None or form.has_changed())
    ]


class GachaBannerForm(forms.ModelForm):  # type: ignore[type-arg]
    change_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        strip=True,
        help_text="Why the banner changes (kept in the audit log with the before and after).",
    )

    class Meta:
        model = GachaBanner
        fields = list(BANNER_FIELDS)

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned: dict = super().clean() or {}  # type: ignore[type-arg]
        try:
            gacha_banner_terms_validate(
                currency=cleaned.get("currency"),
                cost_single=cleaned.get("cost_single"),
                cost_ten=cleaned.get("cost_ten"),
                starts_at=cleaned.get("starts_at"),
                ends_at=cleaned.get("ends_at"),
            )
        except forms.ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


class GachaItemsFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """The last inline validated: checks the banner's rarity table and items together."""

    rarity_formset: BaseInlineFormSet | None = None  # type: ignore[type-arg]

    def clean(self) -> None:
        super().clean()
        rarities = self.rarity_formset
        if any(self.errors) or rarities is None or not rarities.is_valid():
            return
        try:
            gacha_banner_rows_validate(banner=self.instance, rarities=_gacha_rows(rarities), items=_gacha_rows(self))
        except forms.ValidationError as exc:
            raise forms.ValidationError([m for messages in exc.message_dict.values() for m in messages]) from exc


class _GachaInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _gacha_may_view(request)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)


class GachaRarityInline(_GachaInline):
    model = GachaRarityWeight
    fields = ["rarity", "rank", "weight", "odds", "duplicate_value"]
    readonly_fields = ["odds"]
    ordering = ["rank"]
    verbose_name = "rarity (rank 0 = the top rarity, the one pity guarantees)"

    @admin.display(description="odds (as published, from the saved table)")
    def odds(self, rarity: GachaRarityWeight) -> str:
        if rarity.pk is None:
            return "-"
        spec = gacha_banner_spec(rarity.banner)
        probability = spec.odds().get(rarity.rarity)
        if probability is None:
            return "not drawn (no active item)"
        return f"{float(probability):.4%} ({probability})"


class GachaItemInline(_GachaInline):
    model = GachaItem
    formset = GachaItemsFormSet
    formfield_overrides = {URLField: {"assume_scheme": "https"}}
    fields = ["code", "name", "rarity", "sort_order", "is_active", "image_url"]
    ordering = ["rarity", "sort_order", "id"]


@admin.register(GachaBanner)
class GachaBannerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = GachaBannerForm
    inlines = [GachaRarityInline, GachaItemInline]
    list_display = ["code", "name", "is_active", "costs", "pity_threshold", "top_odds", "expected_pulls", "window"]
    list_filter = ["is_active", "currency"]
    search_fields = ["code", "name"]
    ordering = ["sort_order", "id"]
    readonly_fields = ["odds_table", "updated_at"]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "is_active", "sort_order")}),
        ("Price", {"fields": ("currency", "cost_single", "cost_ten")}),
        ("Pity and duplicates", {"fields": ("pity_threshold", "duplicate_currency")}),
        ("Window (empty: always)", {"fields": ("starts_at", "ends_at")}),
        ("Published odds (of the saved table)", {"fields": ("odds_table",)}),
        ("Why", {"fields": ("change_reason",)}),
        ("History", {"fields": ("updated_at",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[GachaBanner]:
        return super().get_queryset(request).prefetch_related("rarities", "items")

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _gacha_may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _gacha_may_configure(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a banner is switched off (is_active), never deleted: rounds and inventories name it

    def _spec(self, banner: GachaBanner) -> GachaBannerSpec | None:
        spec = gacha_banner_spec(banner)
        return spec if spec.rarities else None

    @admin.display(description="cost 1 / 10")
    def costs(self, banner: GachaBanner) -> str:
        return f"{banner.cost_single} / {banner.cost_ten} {banner.currency}"

    @admin.display(description="top rarity odds")
    def top_odds(self, banner: GachaBanner) -> str:
        spec = self._spec(banner)
        if spec is None:
            return "nothing to draw"
        top = spec.rarities[0]
        return f"{top.code} {float(spec.odds()[top.code]):.3%}"

    @admin.display(description="expected pulls to top (with pity)")
    def expected_pulls(self, banner: GachaBanner) -> str:
        spec = self._spec(banner)
        return "-" if spec is None else f"{float(spec.expected_pulls_to_top()):.1f}"

    @admin.display(description="window")
    def window(self, banner: GachaBanner) -> str:
        if not banner.starts_at and not banner.ends_at:
            return "always"
        return f"{banner.starts_at or '...'} to {banner.ends_at or '...'}"

    @admin.display(description="odds")
    def odds_table(self, banner: GachaBanner) -> str:
        spec = self._spec(banner) if banner.pk else None
        if spec is None:
            return "Nothing to draw yet: add rarities and active items, then save."
        odds = spec.odds()
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    rarity.code,
                    rarity.weight,
                    f"{float(odds[rarity.code]):.4%} ({odds[rarity.code]})",
                    len(rarity.items),
                    f"{rarity.duplicate_value} {spec.duplicate_currency}",
                )
                for rarity in spec.rarities
            ),
        )
        summary = (
            f"The top rarity ({spec.rarities[0].code}) is guaranteed by pull {spec.pity_threshold}; with pity, "
            f"E[pulls to it] = {float(spec.expected_pulls_to_top()):.2f}."
        )
        return format_html(
            "<table><tr><th>rarity</th><th>weight</th><th>P(one pull)</th><th>items</th>"
            "<th>a duplicate converts to</th></tr>{}</table><p>{}</p>",
            rows,
            summary,
        )

    def _create_formsets(self, request: HttpRequest, obj: GachaBanner, change: bool) -> tuple:  # type: ignore[type-arg]
        formsets, inline_instances = super()._create_formsets(request, obj, change)  # type: ignore[misc]
        rarity_formsets = [formset for formset in formsets if formset.model is GachaRarityWeight]
        for formset in formsets:
            if isinstance(formset, GachaItemsFormSet):
                formset.rarity_formset = rarity_formsets[0] if rarity_formsets else None
        return formsets, inline_instances

    def save_model(self, request: HttpRequest, obj: GachaBanner, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        """Nothing here: the banner is saved with its rows, in save_related, by the audited service."""

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:  # type: ignore[type-arg]
        by_model = {formset.model: formset for formset in formsets}
        for formset in formsets:
            # Writes nothing; fills new/changed/deleted_objects, which the admin's history entry reads.
            formset.save(commit=False)
        gacha_banner_save(
            actor=request_staff(request),
            banner=form.instance,
            rarities=_gacha_rows(by_model.get(GachaRarityWeight)),
            items=_gacha_rows(by_model.get(GachaItem)),
            reason=form.cleaned_data["change_reason"],
        )


@admin.register(InventoryItem)
class InventoryItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "player", "item_name", "rarity", "banner", "duplicates", "acquired_at", "round_id"]
    list_filter = ["item__banner", "item__rarity"]
    search_fields = ["user__nickname", "user__site_id", "item__code", "item__name"]
    list_select_related = ["user", "item__banner"]
    ordering = ["-acquired_at", "-id"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, inventory: InventoryItem) -> SafeString | str:
        return player_link(inventory.user)

    @admin.display(description="item", ordering="item__name")
    def item_name(self, inventory: InventoryItem) -> str:
        return inventory.item.name

    @admin.display(description="rarity", ordering="item__rarity")
    def rarity(self, inventory: InventoryItem) -> str:
        return inventory.item.rarity

    @admin.display(description="banner", ordering="item__banner__code")
    def banner(self, inventory: InventoryItem) -> str:
        return inventory.item.banner.code


@admin.register(GachaPity)
class GachaPityAdmin(ReadOnlyAdmin):
    list_display = ["banner", "player", "pulls_since_top", "total_pulls", "updated_at"]
    list_filter = ["banner"]
    search_fields = ["user__nickname", "user__site_id"]
    list_select_related = ["user", "banner"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, pity: GachaPity) -> SafeString | str:
        return player_link(pity.user)
