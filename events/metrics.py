"""Prometheus metrics of events/: joins, claims, missions completed. Empty until the events issue
fills it."""
