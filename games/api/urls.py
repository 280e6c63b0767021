"""URL patterns of games/'s API. Not mounted in casino/urls.py yet, so the OpenAPI snapshot does
not change while it is empty. Empty until the games issue fills it."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
