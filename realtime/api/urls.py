from django.urls import path

from realtime.api import views

urlpatterns = [
    path("metrics/global", views.GlobalMetricsView.as_view(), name="metrics-global"),
    path("metrics/stream", views.MetricsStreamView.as_view(), name="metrics-stream"),
]
