from django.apps import AppConfig


class GamesConfig(AppConfig):
    name = "games"
    verbose_name = "Games"

    def ready(self) -> None:
        # The player's page (accounts.admin_story): rounds and inventory.
        from games import player_story

        player_story.register()
        # Rounds as activity in the players' RFM segments (economy.rfm).
        from games import rfm

        rfm.register()
        from realtime.registry import register_event_type

        register_event_type(
            "game_round",
            "A game round was settled (data: round_id, game, currency, bet_amount, payout, net, result, "
            "win_streak, "
            "is_big_win, created_at, settled_at). Missions, achievements and analytics count these.",
            # The player's screen learns of the round from game_event (the client contract's type).
            pushed=False,
        )
        # --- leaderboards and live feed: on commit of each settled round ---
        from games.subscribers import leaderboards_on_game_round, live_feed_on_game_event
        from realtime.registry import subscribe

        subscribe("game_round", leaderboards_on_game_round)
        subscribe("game_event", live_feed_on_game_event)

        # --- the games' configurations, daily limits and gacha banners, kept per process (casino.copies) ---
        from casino.copies import copies_watch
        from games.models import GachaBanner, GachaItem, GachaRarityWeight, GameConfig, GameDailyLimit

        copies_watch(GameConfig, GameDailyLimit, GachaBanner, GachaRarityWeight, GachaItem)

        # --- reward items (achievements, events, missions) into the inventory, in the reward's transaction ---
        from games.subscribers import inventory_on_reward_granted

        subscribe("reward_granted", inventory_on_reward_granted)

        # --- games_open_rounds / games_open_round_overdue_seconds, read at scrape time ---
        from games import metrics

        metrics.register_collectors()

        # --- the leaderboard rebuild as a back-office job (casino.jobs) ---
        from games.tasks import register_admin_jobs

        register_admin_jobs()

        # --- the staff dashboard's rounds card and chart (casino.dashboard) ---
        from casino.dashboard import register_dashboard_chart, register_dashboard_figure
        from games.staff_dashboard import dashboard_rounds_per_day, dashboard_rounds_today

        rounds = "games.view_gameround"
        register_dashboard_figure(
            "rounds_today", "Rounds today", dashboard_rounds_today, order=40, group="Players", permission=rounds
        )
        register_dashboard_chart(  # a past day's rounds never change: counted once a day
            "rounds", "Game rounds", dashboard_rounds_per_day, order=40, permission=rounds, past_days_final=True
        )
        # Per game: today's and the week's rounds, bets, payouts and RTP, and the week's biggest wins.
        from games.staff_dashboard import register_dashboard_tables

        register_dashboard_tables(permission=rounds)
