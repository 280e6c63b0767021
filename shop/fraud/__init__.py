"""Fraud rule engine for real-money orders.

Three steps, each its own function so the order service can log, store and
test them apart:

1. :func:`fraud_features` (``features``) measures the attempt: recent activity
   of the player, IP, device and payment instrument, and the usual amount;
2. :func:`fraud_evaluate` (``rules``) scores the features against the rules in
   ``settings.SHOP_FRAUD_RULES_PATH`` (YAML, hot reloaded, conditions in the
   small language of ``conditions``) and returns a :class:`FraudVerdict`;
3. the order service stores a ``FraudDecision``, acts on the verdict and calls
   :func:`fraud_record_attempt` so the next evaluation counts this attempt.

Import from here: ``from shop import fraud`` then ``fraud.fraud_evaluate(...)``
(tests replace the functions on this module).
"""

from shop.fraud.conditions import Condition, FraudRulesError, fraud_condition_parse
from shop.fraud.features import (
    FEATURE_TYPES,
    INSTRUMENT_WINDOW,
    NEW_PLAYER_AGE,
    ORDER_WINDOW,
    FeatureValue,
    fraud_features,
    fraud_record_attempt,
)
from shop.fraud.rules import (
    FraudRule,
    FraudRuleSet,
    FraudRulesStore,
    FraudVerdict,
    fraud_evaluate,
    fraud_rules_current,
    fraud_rules_parse,
)

__all__ = [
    "FEATURE_TYPES",
    "INSTRUMENT_WINDOW",
    "NEW_PLAYER_AGE",
    "ORDER_WINDOW",
    "Condition",
    "FeatureValue",
    "FraudRule",
    "FraudRuleSet",
    "FraudRulesError",
    "FraudRulesStore",
    "FraudVerdict",
    "fraud_condition_parse",
    "fraud_evaluate",
    "fraud_features",
    "fraud_record_attempt",
    "fraud_rules_current",
    "fraud_rules_parse",
]
