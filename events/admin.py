"""Back office of events/ (events and missions (live-ops), progress (read-only), audited staff
corrections). save_model and actions call services, one row per transaction, check their own
permission and leave an audit record. Empty until the events issue fills it."""
