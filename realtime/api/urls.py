from django.urls import path

from realtime.api import notifications, telemetry, views

urlpatterns = [
    path("metrics/global", views.GlobalMetricsView.as_view(), name="metrics-global"),
    path("metrics/stream", views.MetricsStreamView.as_view(), name="metrics-stream"),
    path("notification/list", notifications.NotificationListView.as_view(), name="notification-list"),
    path("notification/read-all", notifications.NotificationReadAllView.as_view(), name="notification-read-all"),
    path("notification/settings", notifications.NotificationSettingsView.as_view(), name="notification-settings"),
    path(
        "notification/<int:notification_id>/read",
        notifications.NotificationReadView.as_view(),
        name="notification-read",
    ),
    path(
        "notification/push/vapid-public",
        notifications.VapidPublicKeyView.as_view(),
        name="notification-push-vapid-public",
    ),
    path("notification/push/subscribe", notifications.PushSubscribeView.as_view(), name="notification-push-subscribe"),
    path("telemetry/events", telemetry.TelemetryEventsView.as_view(), name="telemetry-events"),
    # The old client's paths (GET actions/recent/<user_id> is economy's).
    path("actions", telemetry.ActionView.as_view(), name="actions"),
    path("actions/bulk", telemetry.ActionBulkView.as_view(), name="actions-bulk"),
]
