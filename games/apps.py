from django.apps import AppConfig


class GamesConfig(AppConfig):
    name = "games"
    verbose_name = "Games"

    def ready(self) -> None:
        from realtime.registry import register_event_type

        register_event_type(
            "game_round",
            "A game round was settled (data: round_id, game, currency, bet_amount, payout, net, result, "
            "win_streak, "
            "is_big_win, settled_at). Missions, achievements and analytics count these.",
        )
        # --- leaderboards and live feed: on commit of each settled round ---
        from games.subscribers import leaderboards_on_game_round, live_feed_on_game_event
        from realtime.registry import subscribe

        subscribe("game_round", leaderboards_on_game_round)
        subscribe("game_event", live_feed_on_game_event)

        # --- reward items (achievements, events, missions) into the inventory, in the reward's transaction ---
        from games.subscribers import inventory_on_reward_granted

        subscribe("reward_granted", inventory_on_reward_granted)
