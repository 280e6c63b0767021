"""The page behind a one-time password-set link (``accounts.services.password_links``).

A plain server-rendered page for a player (no login: the signed, one-time
token in the URL is what lets them in), mounted at ``/account/password/...`` by
``casino/urls.py`` through ``accounts/urls.py``. It is not part of the JSON
API (and so not in the OpenAPI schema); its form posts back to itself with
Django's CSRF protection. The response asks browsers to send no referrer, so
the token in the address never leaves in a ``Referer`` header.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.exceptions import PasswordLinkInvalid
from accounts.services.password_links import password_link_user, password_set_with_link

TEMPLATE = "accounts/password_set.html"


class PasswordSetForm(forms.Form):
    new_password1 = forms.CharField(
        label="New password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    new_password2 = forms.CharField(
        label="New password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        first, second = cleaned.get("new_password1"), cleaned.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", "The two passwords differ.")
        return cleaned


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, TEMPLATE, context, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def password_set(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    try:
        user = password_link_user(uidb64=uidb64, token=token)
    except PasswordLinkInvalid as exc:
        return _page(request, {"invalid": exc.message}, status=400)
    form = PasswordSetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            password_set_with_link(uidb64=uidb64, token=token, password=form.cleaned_data["new_password1"])
        except ValidationError as exc:  # the password rules
            form.add_error("new_password1", exc)
        except PasswordLinkInvalid as exc:  # spent meanwhile (another tab)
            return _page(request, {"invalid": exc.message}, status=400)
        else:
            return _page(request, {"done": True, "nickname": user.nickname})
    return _page(request, {"form": form, "nickname": user.nickname, "help_text": password_validators_help_text_html()})
