from django.urls import path

from realtime.consumers import SyncConsumer

websocket_urlpatterns = [path("api/realtime/sync", SyncConsumer.as_asgi())]
