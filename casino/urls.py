from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from casino import errors, health

admin.site.site_header = "Casino Club back office"
admin.site.site_title = "Casino Club"
admin.site.index_title = "Back office"

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("accounts.api.urls")),
    path("", include("economy.api.urls")),
    path("", include("realtime.api.urls")),
    path("", include("shop.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("django_prometheus.urls")),
    # Unknown API paths answer in the API's error format, in every mode.
    re_path(r"^api/.*$", errors.not_found_view),
]

if settings.SHOP_PAYMENT_PROVIDER == "sandbox" or settings.DEBUG:
    # The sandbox provider's hosted checkout pages: not our API, not in the schema.
    urlpatterns.append(path("sandbox/", include("shop.sandbox_urls")))

handler400 = "casino.errors.bad_request_view"
handler403 = "casino.errors.permission_denied_view"
handler404 = "casino.errors.not_found_view"
handler500 = "casino.errors.server_error_view"
