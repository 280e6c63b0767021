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

Most responses (every API answer) carry the settings' policy as it is: no
nonce asked for, no per-view change. django-csp builds that header from the
settings on each response (~60 us, a few percent of a balance read); here it
is built once per settings object and reused. Anything else -- a nonce, a
decorator's change, the sandbox page -- is built by django-csp as before.
"""

from __future__ import annotations

from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE, NONE, SELF, UNSAFE_INLINE
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

SANDBOX_POLICY: dict[str, Any] = {
    "script-src": [NONE],
    "style-src": [SELF, NONCE, UNSAFE_INLINE],
}


_PLAIN = PolicyParts()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with the per-page replacement above, and the
    settings' own policy built once (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # report_only -> (the settings value it was built from, the header)
        self._built: dict[bool, tuple[Any, str]] = {}

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        plain = self.get_policy_parts(request, response) == _PLAIN
        if not plain or self.get_policy_parts(request, response, report_only=True) != _PLAIN:
            return super().process_response(request, response)  # a nonce or a per-view policy
        # django-csp's process_response for the settings' policy, its header built once.
        if response.status_code in (500, 404) and settings.DEBUG:
            return response
        for report_only, header, exempt in (
            (False, HEADER, "_csp_exempt"),
            (True, HEADER_REPORT_ONLY, "_csp_exempt_ro"),
        ):
            value = self._settings_policy(report_only)
            if not value or header in response or getattr(response, exempt, False) is not False:
                continue
            name = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
            prefixes = (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = value
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

    def _settings_policy(self, report_only: bool) -> str:
        source = getattr(
            settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY", None
        )
        built = self._built.get(report_only)
        if built is None or built[0] is not source:
            built = (source, build_policy(report_only=report_only))
            self._built[report_only] = built
        return built[1]

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if parts.replace is None:
            match = request.resolver_match
            if match is not None and "sandbox" in match.namespaces:
                parts.replace = SANDBOX_POLICY
        return parts
