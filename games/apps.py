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
