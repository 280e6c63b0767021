"""Back office for the economy: wallets, the ledger, streaks and the audits.

Nobody edits a balance by hand: the wallet form is read-only and every change
goes through an audited service -- "Adjust balance" (``wallet_adjust``, a
ledger entry with reason ``admin_adjust``; permission ``economy.adjust_balance``)
and "Change VIP tier" (``vip_set_tier``; ``economy.set_vip_tier``). The ledger
and the audit/repair reports are read-only; running an audit now needs
``economy.run_ledger_audit`` and runs as a back-office job (``casino.jobs``).
Campaigns -- a message and/or a reward bundle to many players -- are in ``economy/admin_campaigns.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import (
    ReadOnlyAdmin,
    StaffActionsMixin,
    player_link,
    request_holds,
    staff_action,
    staff_view,
)
from casino.errors import ApplicationError
from casino.jobs import job_launch
from casino.models import AdminJob
from economy import (
    admin_campaigns,  # noqa: F401  (campaigns: their admin and the player list's action)
    admin_segments,  # noqa: F401  (saved segments, segment runs, every player's RFM group)
)
from economy.admin_player import reward_bundle_view
from economy.enums import Currency, VipTier
from economy.exceptions import IdempotencyConflict
from economy.ledger_selectors import ledger_for
from economy.levels import level_progress
from economy.models import DailyStreak, LedgerAuditRun, LedgerEntry, StreakDay, StreakRepairReport, Wallet
from economy.services.admin_ops import wallet_adjust
from economy.services.audit import audit_violation_line, audit_violation_total
from economy.services.ledger import MAX_AMOUNT
from economy.services.vip import vip_set_tier
from economy.tasks import LEDGER_AUDIT_JOB_KIND

RECENT_ENTRIES = 20
SHOWN_VIOLATIONS = 10
# Each staff action has its own permission (Meta.permissions of Wallet and
# LedgerAuditRun); the services check theirs again.
ADJUST_PERMISSION = "economy.adjust_balance"
VIP_TIER_PERMISSION = "economy.set_vip_tier"
AUDIT_PERMISSION = "economy.run_ledger_audit"


class AdjustBalanceForm(forms.Form):
    currency = forms.ChoiceField(choices=Currency.choices, initial=Currency.GOLD)
    amount = forms.IntegerField(
        min_value=-MAX_AMOUNT,
        max_value=MAX_AMOUNT,
        help_text="Positive adds to the balance, negative takes from it (never below zero).",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        strip=True,
        help_text="Why: kept on the ledger entry and in the audit log.",
    )
    # Made when the form is rendered: posting the same form twice is one adjustment.
    nonce = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount: int = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("The amount cannot be zero.")
        return amount


class VipTierForm(forms.Form):
    tier = forms.ChoiceField(choices=VipTier.choices, label="New VIP tier")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000, strip=True)


def _entries_table(entries: list[LedgerEntry]) -> SafeString:
    if not entries:
        return format_html("<p>{}</p>", "No ledger entries yet.")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                entry.get_reason_display(),
                entry.currency,
                f"{entry.delta:+d}",
                entry.balance_after,
                entry.reference,
                entry.idempotency_key,
            )
            for entry in entries
        ),
    )
    return format_html(
        '<table class="ledger-entries"><thead><tr><th>When (UTC)</th><th>Reason</th><th>Currency</th>'
        "<th>Delta</th><th>Balance after</th><th>Reference</th><th>Key</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(Wallet)
class WalletAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    change_list_template = "admin/economy/wallet/change_list.html"
    change_form_template = "admin/economy/wallet/change_form.html"
    list_display = ["site_id", "nickname", "gold", "gems", "xp", "level", "vip_points", "vip_tier", "updated_at"]
    list_select_related = ["user"]
    list_filter = ["vip_tier"]
    search_fields = ["user__site_id", "user__nickname", "user__phone_number"]
    ordering = ["-updated_at"]
    fields = (
        "user",
        "gold",
        "gems",
        "xp",
        "level",
        "vip_points",
        "vip_tier",
        "created_at",
        "updated_at",
        "recent_entries",
    )
    readonly_fields = fields  # a tuple: shown, never edited
    actions = ["change_vip_tier"]

    # --- permissions: read-only rows, money moves only through the views below ---

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a wallet is opened by sign-up

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Saving the form would write every balance column from a snapshot taken
        # at page load and lose any grant committed meanwhile: never offered.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request_holds(request, ADJUST_PERMISSION)

    def has_audit_permission(self, request: HttpRequest) -> bool:
        return request_holds(request, AUDIT_PERMISSION)

    # --- columns ---

    @admin.display(description="player", ordering="user__site_id")
    def site_id(self, wallet: Wallet) -> str:
        return str(wallet.user.site_id)  # type: ignore[attr-defined]

    @admin.display(description="nickname", ordering="user__nickname")
    def nickname(self, wallet: Wallet) -> SafeString | str:
        return player_link(wallet.user_id, wallet.user.nickname)  # type: ignore[attr-defined]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Wallet]:
        # The change page's title names the player ("wallet of <nickname>", Wallet.__str__).
        return super().get_queryset(request).select_related("user")

    @admin.display(description="level", ordering="xp")
    def level(self, wallet: Wallet) -> int:
        return level_progress(wallet.xp).level

    @admin.display(description=f"latest {RECENT_ENTRIES} ledger entries")
    def recent_entries(self, wallet: Wallet) -> SafeString:
        return _entries_table(list(ledger_for(wallet.pk)[:RECENT_ENTRIES]))

    # --- pages ---

    # From the player's page (economy.admin_player): economy.adjust_balance, like the adjustment.
    grant_view = reward_bundle_view

    def get_urls(self) -> list[Any]:
        return [
            path("audit/", self.admin_site.admin_view(self.run_audit_view), name="economy_wallet_audit"),
            path(
                "<path:object_id>/adjust/", self.admin_site.admin_view(self.adjust_view), name="economy_wallet_adjust"
            ),
            path("<path:object_id>/grant/", self.admin_site.admin_view(self.grant_view), name="economy_wallet_grant"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        last = LedgerAuditRun.objects.order_by("-started_at", "-id").first()
        context = {
            "last_audit": last,
            "last_audit_violations": audit_violation_total(last) if last else 0,
            "last_audit_lines": [audit_violation_line(v) for v in last.violations[:SHOWN_VIOLATIONS]] if last else [],
            "last_audit_url": reverse("admin:economy_ledgerauditrun_change", args=[last.pk]) if last else "",
            "can_run_audit": self.has_audit_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"can_adjust": self.has_adjust_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    @staff_view(permission=AUDIT_PERMISSION)
    def run_audit_view(self, request: HttpRequest) -> HttpResponse:
        """POST only: runs the same service as ``manage.py audit_ledger``, as a back-office job.
        Done already (embedded mode runs it inline): the outcome on the wallet list, as before;
        still running on a worker: its job page, which shows it finish."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = job_launch(
            actor=request_staff(request), kind=LEDGER_AUDIT_JOB_KIND, reason="started from the wallet list"
        )
        job.refresh_from_db()
        run = LedgerAuditRun.objects.filter(pk=int((job.result or {}).get("run_id") or 0)).first()
        if job.status != AdminJob.Status.DONE or run is None:
            self.message_user(request, f"Ledger audit started as job #{job.pk}.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:casino_adminjob_change", args=[job.pk]))
        total = audit_violation_total(run)
        if total:
            self.message_user(
                request,
                f"Ledger audit #{run.pk}: {total} violation(s) in {run.wallets_checked} wallets / "
                f"{run.entries_checked} entries. See the audit run for details.",
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                f"Ledger audit #{run.pk}: OK, {run.wallets_checked} wallets and {run.entries_checked} entries agree.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:economy_wallet_changelist"))

    @staff_view(permission=ADJUST_PERMISSION)
    def adjust_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        wallet = self.get_object(request, unquote(object_id))
        if wallet is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]  # Django's own 404 redirect
                request, self.opts, object_id
            )
        change_url = reverse("admin:economy_wallet_change", args=[wallet.pk])
        if request.method == "POST":
            form = AdjustBalanceForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    result = wallet_adjust(
                        actor=request_staff(request),
                        user=wallet.pk,
                        currency=data["currency"],
                        amount=data["amount"],
                        reason=data["reason"],
                        nonce=data["nonce"],
                    )
                except IdempotencyConflict:
                    # This form was already used for another amount: start a new one.
                    fresh = request.POST.copy()
                    fresh["nonce"] = str(uuid.uuid4())
                    form = AdjustBalanceForm(fresh)
                    form.is_valid()
                    form.add_error(
                        None,
                        "This form was already submitted with other values. Check the balance and "
                        "the latest entries below, then submit again if the change is still needed.",
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    self._report_adjustment(request, wallet, data["currency"], data["amount"], result)
                    return HttpResponseRedirect(change_url)
        else:
            form = AdjustBalanceForm(initial={"nonce": uuid.uuid4()})
        wallet.refresh_from_db()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust balance of {wallet.user}",
            "opts": self.opts,
            "original": wallet,
            "wallet": wallet,
            "balances": [(value, label, wallet.balance(value)) for value, label in Currency.choices],
            "form": form,
            "change_url": change_url,
            "recent_entries": _entries_table(list(ledger_for(wallet.pk)[:RECENT_ENTRIES])),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/economy/wallet/adjust.html", context)

    def _report_adjustment(self, request: HttpRequest, wallet: Wallet, currency: str, amount: int, result: Any) -> None:
        balance = result.balances[currency]
        if not result.applied:
            self.message_user(
                request,
                f"This adjustment was already applied (the form was submitted twice): nothing changed. "
                f"{currency} balance: {balance}.",
                messages.WARNING,
            )
            return
        verb = f"Granted {amount} {currency} to" if amount > 0 else f"Took {-amount} {currency} from"
        self.message_user(request, f"{verb} {wallet.user}: {currency} balance is now {balance}.", messages.SUCCESS)

    # --- actions ---

    @staff_action(permission=VIP_TIER_PERMISSION, description="Change VIP tier of selected wallets")
    def change_vip_tier(self, request: HttpRequest, queryset: QuerySet[Wallet]) -> HttpResponse | None:
        form = VipTierForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            tier, reason = form.cleaned_data["tier"], form.cleaned_data["reason"]
            changed = unchanged = 0
            for wallet in queryset.select_related("user").order_by("pk"):
                if wallet.vip_tier == tier:
                    unchanged += 1
                    continue
                try:  # one transaction per wallet, owned by the service
                    vip_set_tier(actor=request_staff(request), user=wallet.pk, tier=tier, reason=reason)
                    changed += 1
                except ApplicationError as exc:
                    self.message_user(request, f"{wallet.user}: {exc.message}", messages.ERROR)
            if changed:
                self.message_user(request, f"Changed the VIP tier of {changed} wallet(s) to {tier}.", messages.SUCCESS)
            if unchanged:
                self.message_user(request, f"{unchanged} wallet(s) were already {tier}.", messages.INFO)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Change VIP tier",
            "opts": self.opts,
            "wallets": list(queryset.select_related("user").order_by("pk")[:50]),
            "count": queryset.count(),
            "form": form,
            "action": request.POST.get("action", "change_vip_tier"),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/economy/wallet/change_vip_tier.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "player",
        "currency",
        "delta",
        "balance_after",
        "reason",
        "reference",
        "idempotency_key",
    ]
    list_filter = ["reason", "currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["wallet__user__site_id", "idempotency_key", "reference"]
    list_select_related = ["wallet__user"]
    # The ledger grows without bound: no COUNT(*) of the whole table per page.
    show_full_result_count = False
    fields = (
        "id",
        "wallet",
        "currency",
        "delta",
        "balance_after",
        "reason",
        "reference",
        "idempotency_key",
        "metadata",
        "created_at",
    )
    readonly_fields = fields  # a tuple: shown, never edited

    @admin.display(description="player", ordering="wallet__user__nickname")
    def player(self, entry: LedgerEntry) -> SafeString | str:
        return player_link(entry.wallet.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
        # The change page's "wallet" names the player too (Wallet.__str__, no extra query).
        return super().get_queryset(request).select_related("wallet__user")


@admin.register(DailyStreak)
class DailyStreakAdmin(ReadOnlyAdmin):
    list_display = ["player", "current_count", "longest_count", "last_checkin_date", "protection_tokens", "updated_at"]
    list_display_links = ["updated_at"]  # the player column links to the player's page
    list_filter = ["protection_tokens", ("last_checkin_date", admin.DateFieldListFilter)]
    search_fields = ["user__site_id", "user__nickname"]
    list_select_related = ["user"]
    ordering = ["-updated_at"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, streak: DailyStreak) -> SafeString | str:
        return player_link(streak.user)


@admin.register(StreakDay)
class StreakDayAdmin(ReadOnlyAdmin):
    list_display = ["date", "player", "kind", "streak_count", "claimed_at", "created_at"]
    list_filter = ["kind", ("date", admin.DateFieldListFilter)]
    search_fields = ["user__site_id", "user__nickname"]
    list_select_related = ["user"]
    show_full_result_count = False

    @admin.display(description="player", ordering="user__nickname")
    def player(self, day: StreakDay) -> SafeString | str:
        return player_link(day.user)


@admin.register(StreakRepairReport)
class StreakRepairReportAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "claims_checked", "days_repaired", "streaks_recounted"]
    fields = ("started_at", "finished_at", "claims_checked", "days_repaired", "streaks_recounted", "details_table")
    readonly_fields = fields

    @admin.display(description="details")
    def details_table(self, report: StreakRepairReport) -> SafeString:
        if not report.details:
            return format_html("<p>{}</p>", "Nothing to repair.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>user {} {}: {}</li>",
                ((d.get("user_id"), d.get("date"), d.get("problem")) for d in report.details),
            ),
        )


@admin.register(LedgerAuditRun)
class LedgerAuditRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "ok", "wallets_checked", "entries_checked", "violation_count"]
    list_filter = ["ok", ("started_at", admin.DateFieldListFilter)]
    fields = (
        "started_at",
        "finished_at",
        "ok",
        "wallets_checked",
        "entries_checked",
        "violation_count",
        "violations_list",
    )
    readonly_fields = fields  # a tuple: shown, never edited

    @admin.display(description="violations")
    def violation_count(self, run: LedgerAuditRun) -> int:
        return audit_violation_total(run)

    @admin.display(description="violation details")
    def violations_list(self, run: LedgerAuditRun) -> SafeString:
        if not run.violations:
            return format_html("<p>{}</p>", "None: every balance equals the sum of its entries.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}</li>", ((audit_violation_line(v),) for v in run.violations)),
        )
