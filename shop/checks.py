"""A bad fraud rules file should fail the deploy, not the first real-money order."""

from __future__ import annotations

from typing import Any

from django.core import checks


@checks.register()
def check_fraud_rules(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from shop.fraud import FraudRulesError, fraud_rules_current

    try:
        fraud_rules_current()
    except (FraudRulesError, OSError) as exc:
        return [checks.Error(f"Fraud rules cannot be loaded: {exc}", hint="Fix SHOP_FRAUD_RULES_PATH.", id="shop.E001")]
    return []
