"""Back office of games/ (paytables, gacha pools, rounds (read-only), achievements). save_model and
actions call services, one row per transaction, check their own permission and leave an audit
record. Empty until the games issue fills it."""
