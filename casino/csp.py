"""Content-Security-Policy on every response (django-csp).

The policy in ``settings.CONTENT_SECURITY_POLICY`` allows scripts, styles,
fonts and fetches from this origin only: no inline script anywhere, no plugin,
no ``<base>``, forms post only here, and no page may be framed. The Django
admin (the back office) runs under it unchanged: its templates load every
script from static files and carry no inline script or style.

One page gets a looser policy, chosen by the URL it resolved to: the sandbox
provider's checkout page (namespace ``sandbox``) keeps its inline ``<style>``:
``style-src`` adds ``'unsafe-inline'`` next to a nonce, so once the template puts
``nonce="{{ request.csp_nonce }}"`` on the tag, browsers ignore
``'unsafe-inline'`` (CSP level 2) and the page is strict too; scripts stay off.

Swagger UI (``/api/docs/``, when public) needs no exception: its bundle is
served from our static files (drf-spectacular-sidecar, ``SWAGGER_UI_DIST =
"SIDECAR"``), its start-up script from this origin
(``SpectacularSwaggerSplitView``), and ``templates/drf_spectacular/swagger_ui.html``
replaces the package template's inline ``<style>`` with a stylesheet.
"""

from __future__ import annotations

from typing import Any

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

SANDBOX_POLICY: dict[str, Any] = {
    "script-src": [NONE],
    "style-src": [SELF, NONCE, UNSAFE_INLINE],
}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with the per-page replacement above."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if parts.replace is None:
            match = request.resolver_match
            if match is not None and "sandbox" in match.namespaces:
                parts.replace = SANDBOX_POLICY
        return parts
