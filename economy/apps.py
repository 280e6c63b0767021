from django.apps import AppConfig


class EconomyConfig(AppConfig):
    name = "economy"
    verbose_name = "Economy"

    def ready(self) -> None:
        from accounts.selectors import register_profile_contributor
        from economy import selectors, subscribers
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
        register_initial_state("recent_rewards", selectors.recent_rewards_for_user)
        register_initial_state("stats", selectors.economy_stats_for_user)
