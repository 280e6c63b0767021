from django.apps import AppConfig


class EconomyConfig(AppConfig):
    name = "economy"
    verbose_name = "Economy"

    def ready(self) -> None:
        # The player's page (accounts.admin_story): balances, level, VIP, streak, the ledger.
        from economy import player_story

        player_story.register()
        # Player segments: logins as RFM recency (games and shop register their own sources),
        # "Recompute now" as a back-office job, and the staff dashboard's segment sizes chart.
        from economy import segment_charts
        from economy.rfm import register_login_source
        from economy.tasks import register_segment_jobs

        register_login_source()
        register_segment_jobs()
        segment_charts.register()
        from accounts.selectors import register_profile_contributor
        from economy import ledger_selectors, selectors, staff_dashboard, subscribers
        from realtime.registry import register_initial_state, subscribe

        subscribe("user_signed_up", subscribers.open_wallet_on_signup)
        for event_type in ("balance_update", "streak_update", "profile_update"):
            subscribe(event_type, subscribers.invalidate_dashboard)
        register_profile_contributor(selectors.profile_fields)
        register_initial_state("balances", selectors.balances_for_user)
        register_initial_state("streak", selectors.streak_for_user)
        # The client's names (docs/client-contract.md, "Live"); `profile` is accounts'
        # section, completed by the profile contributor above (gold, exp, tier, total_spent).
        register_initial_state("streaks", selectors.streaks_for_user)
        register_initial_state("recent_rewards", ledger_selectors.recent_rewards_for_user)
        register_initial_state("stats", selectors.economy_stats_for_user)
        # The staff dashboard's ledger-audit card (casino.dashboard).
        from casino.dashboard import register_dashboard_figure

        register_dashboard_figure(
            "ledger_audit",
            "Last ledger audit",
            staff_dashboard.dashboard_ledger_audit,
            order=800,
            permission="economy.view_ledgerauditrun",
            group="Operations",
        )
        # Back-office jobs (casino.jobs): campaigns, the ledger audit.
        from economy.tasks import register_admin_jobs

        register_admin_jobs()
