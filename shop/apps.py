from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop and payments"

    def ready(self) -> None:
        from economy.selectors import register_dashboard_section
        from shop import checks, metrics, selectors  # noqa: F401  (checks registers a system check)
        from shop.providers import sandbox_tasks  # noqa: F401  (registers the webhook delivery task)

        register_dashboard_section("shop_highlights", selectors.shop_highlights)
        metrics.register_collectors()
