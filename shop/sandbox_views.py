"""The sandbox provider's checkout pages, where a player "pays".

These pages belong to the (pretend) external provider, not to our API: plain
Django views with server-rendered HTML and CSRF-protected forms, mounted under
``/sandbox/`` only while the sandbox is the payment provider or DEBUG is on
(and so absent from the OpenAPI schema, which documents DRF views only). They
work without a login, as a provider's hosted checkout does: the unguessable
reference in the URL is what lets a payer in.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from shop.models import SandboxPayment, SandboxPaymentStatus
from shop.providers.sandbox import (
    SandboxPaymentAlreadyDecided,
    SandboxPaymentNotFound,
    sandbox_decide,
    sandbox_payment_get,
)

TEMPLATE = "shop/sandbox_checkout.html"

# ISO 4217 minor-unit exponents that are not 2.
_CURRENCY_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),  # noqa: SIM905
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),  # noqa: SIM905
}


def format_amount(amount: int, currency: str) -> str:
    """Minor units as the payer reads them: 1999 USD -> "19.99 USD", 1500 KRW -> "1,500 KRW"."""
    exponent = _CURRENCY_EXPONENTS.get(currency.upper(), 2)
    return f"{Decimal(amount).scaleb(-exponent):,.{exponent}f} {currency.upper()}"


def _page(request: HttpRequest, payment: SandboxPayment | None, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "payment": payment,
        "amount_display": format_amount(payment.amount, payment.currency) if payment else "",
        "is_open": payment is not None and payment.status == SandboxPaymentStatus.CREATED,
        "error": error,
    }
    return render(request, TEMPLATE, context, status=status)


@never_cache
@require_GET
def checkout(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        payment = sandbox_payment_get(reference=reference)
    except SandboxPaymentNotFound:
        return _page(request, None, error="No such payment.", status=404)
    return _page(request, payment)


def _decide(request: HttpRequest, reference: str, *, approve: bool) -> HttpResponse:
    try:
        sandbox_decide(reference=reference, approve=approve)
    except SandboxPaymentNotFound:
        return _page(request, None, error="No such payment.", status=404)
    except SandboxPaymentAlreadyDecided as exc:
        return _page(request, sandbox_payment_get(reference=reference), error=exc.message, status=409)
    # Post/redirect/get: reloading the result page does not post the decision again.
    return HttpResponseRedirect(reverse("sandbox:checkout", kwargs={"reference": reference}), status=303)


@require_POST
def approve(request: HttpRequest, reference: str) -> HttpResponse:
    return _decide(request, reference, approve=True)


@require_POST
def decline(request: HttpRequest, reference: str) -> HttpResponse:
    return _decide(request, reference, approve=False)
