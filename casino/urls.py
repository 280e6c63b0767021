from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django_prometheus import exports as prometheus_exports
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from casino import errors, health
from casino.surface import docs_allowed, metrics_allowed, only_if

admin.site.site_header = "Casino Club back office"
admin.site.site_title = "Casino Club"
admin.site.index_title = "Back office"

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("accounts.api.urls")),
    path("", include("economy.api.urls")),
    path("", include("realtime.api.urls")),
    path("", include("shop.api.urls")),
    # Public in development; in production only with API_DOCS_PUBLIC (casino.surface).
    path("schema/", only_if(docs_allowed, SpectacularAPIView.as_view()), name="schema"),
    # The split view serves Swagger UI's start-up script from here: no inline script (casino.csp).
    path("docs/", only_if(docs_allowed, SpectacularSwaggerSplitView.as_view(url_name="schema")), name="docs"),
]

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # Public in development; in production only with METRICS_PUBLIC or from METRICS_ALLOWED_NETWORKS.
    path("metrics", only_if(metrics_allowed, prometheus_exports.ExportToDjangoView), name="prometheus-django-metrics"),
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
