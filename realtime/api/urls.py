from django.urls import path

from realtime.api import notifications, views

urlpatterns = [
    path("metrics/global", views.GlobalMetricsView.as_view(), name="metrics-global"),
    path("metrics/stream", views.MetricsStreamView.as_view(), name="metrics-stream"),
    path("notification/list", notifications.NotificationListView.as_view(), name="notification-list"),
    path("notification/read-all", notifications.NotificationReadAllView.as_view(), name="notification-read-all"),
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
]
