"""ASGI entry point: HTTP (Django) and WebSocket (Channels).

The socket is authenticated by an access token the client must present, never
by a cookie, so another site's page cannot ride on a player's session and no
Origin check is needed (mobile clients send none)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": URLRouter(websocket_urlpatterns)})

# Start-up is over: full garbage collections skip what it created (casino.gc_tuning).
from casino.gc_tuning import gc_freeze_startup  # noqa: E402

gc_freeze_startup()
