"""Payment providers by name. The order flow asks :func:`get_provider` and
talks only to the :class:`~shop.providers.base.PaymentProvider` protocol."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from shop.providers.base import PaymentProvider
from shop.providers.sandbox import SandboxProvider

PROVIDERS: dict[str, Callable[[], PaymentProvider]] = {
    SandboxProvider.name: SandboxProvider,
}


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider called ``name``, by default ``settings.SHOP_PAYMENT_PROVIDER``."""
    name = name or settings.SHOP_PAYMENT_PROVIDER
    try:
        factory = PROVIDERS[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"unknown payment provider {name!r} (SHOP_PAYMENT_PROVIDER); known: {', '.join(sorted(PROVIDERS))}"
        ) from None
    return factory()
