from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop and payments"

    def ready(self) -> None:
        # The player's page (accounts.admin_story): their orders.
        from shop import player_story

        player_story.register()
        # Fulfilled money orders as activity and spending in the players' RFM segments (economy.rfm).
        from shop import rfm

        rfm.register()
        from economy.selectors import register_dashboard_section
        from shop import (  # noqa: F401  (checks registers a system check)
            catalog_selectors,
            checks,
            metrics,
            staff_dashboard,
        )
        from shop.providers import sandbox_tasks  # noqa: F401  (registers the webhook delivery task)

        register_dashboard_section("shop_highlights", catalog_selectors.shop_highlights)
        # The dashboard's highlights are kept per process (casino.copies): reloaded when the catalog changes.
        from casino.copies import copies_watch
        from shop.models import LimitedPackage, Product

        copies_watch(Product, LimitedPackage)
        metrics.register_collectors()

        # The staff dashboard's revenue and orders cards and the revenue chart (casino.dashboard).
        from casino.dashboard import register_dashboard_chart, register_dashboard_figure

        revenue, orders = "shop.view_revenue", "shop.view_order"
        for key, title, provider, order, permission, group in (
            ("revenue_today", "Revenue today", staff_dashboard.dashboard_revenue_today, 100, revenue, "Revenue"),
            ("revenue_week", "Revenue this week", staff_dashboard.dashboard_revenue_week, 110, revenue, "Revenue"),
            ("revenue_total", "Revenue, all time", staff_dashboard.dashboard_revenue_total, 120, revenue, "Revenue"),
            ("conversion", "Conversion today", staff_dashboard.dashboard_conversion, 130, revenue, "Revenue"),
            ("arppu", "ARPPU, 30 days", staff_dashboard.dashboard_arppu, 140, revenue, "Revenue"),
            ("orders_pending", "Orders pending", staff_dashboard.dashboard_orders_pending, 200, orders, "Orders"),
            ("orders_in_review", "Orders in review", staff_dashboard.dashboard_orders_in_review, 210, orders, "Orders"),
        ):
            register_dashboard_figure(key, title, provider, order=order, permission=permission, group=group)
        register_dashboard_chart(
            "revenue",
            "Revenue",
            staff_dashboard.dashboard_revenue_per_day,
            order=30,
            permission=revenue,
            value_text=staff_dashboard.revenue_value_text,
        )
