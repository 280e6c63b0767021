"""Content-Security-Policy on every response (django-csp).

The policy in ``settings.CONTENT_SECURITY_POLICY`` allows scripts, styles,
fonts and fetches from this origin only: no inline script anywhere, no plugin,
no ``<base>``, forms post only here, and no page may be framed. The Django
admin (the back office) runs under it unchanged: its templates load every
script from static files and carry no inline script or style.

Two pages get a looser policy, chosen by the URL they resolved to:

* the sandbox provider's checkout page (namespace ``sandbox``) keeps its inline
  ``<style>``: ``style-src`` adds ``'unsafe-inline'`` next to a nonce, so once the
  template puts ``nonce="{{ request.csp_nonce }}"`` on the tag, browsers ignore
  ``'unsafe-inline'`` (CSP level 2) and the page is strict too; scripts stay off;
* Swagger UI (``/api/docs/``, when public) loads its bundle from
  ``SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"]``'s origin and has a small inline
  ``<style>``; its start-up script is served from this origin
  (``SpectacularSwaggerSplitView``), so no inline script is allowed there either.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

SANDBOX_POLICY: dict[str, Any] = {
    "script-src": [NONE],
    "style-src": [SELF, NONCE, UNSAFE_INLINE],
}


def _swagger_ui_origin() -> str | None:
    from drf_spectacular.settings import spectacular_settings

    dist = str(spectacular_settings.SWAGGER_UI_DIST)
    parts = urlsplit(dist)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def docs_policy() -> dict[str, Any]:
    origin = [_swagger_ui_origin()] if _swagger_ui_origin() else []
    return {
        "script-src": [SELF, *origin],
        "style-src": [SELF, *origin, UNSAFE_INLINE],
        "img-src": [SELF, "data:", *origin],
    }


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with the per-page replacements above."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if parts.replace is None:
            match = request.resolver_match
            if match is not None and "sandbox" in match.namespaces:
                parts.replace = SANDBOX_POLICY
            elif match is not None and match.url_name == "docs":
                parts.replace = docs_policy()
        return parts
