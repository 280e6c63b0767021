"""The platform's own card on the staff dashboard (``casino.dashboard``): how many of
Prometheus's alert rules fire now. Registered by ``CasinoConfig.ready``; the apps register
theirs."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from django.conf import settings

from casino.dashboard import DashboardContext, Figure, register_dashboard_figure

logger = logging.getLogger(__name__)

# Prometheus answers in milliseconds or not at all; the page waits this long at most (once per build).
ALERTS_TIMEOUT_SECONDS = 2.0
ALERTS_MAX_BYTES = 2 * 1024 * 1024


def _prometheus_alerts(base_url: str) -> list[dict[str, Any]]:
    """Prometheus's active alerts (``GET /api/v1/alerts``: pending and firing)."""
    if not base_url.startswith(("http://", "https://")):
        raise ValueError("PROMETHEUS_URL must be an http(s) URL")
    response = httpx.get(
        f"{base_url.rstrip('/')}/api/v1/alerts",
        timeout=ALERTS_TIMEOUT_SECONDS,
        headers={"Accept": "application/json"},
    )
    response.raise_for_status()
    if len(response.content) > ALERTS_MAX_BYTES:
        raise ValueError("Prometheus's answer is too large")
    body = response.json()
    alerts = body.get("data", {}).get("alerts", []) if isinstance(body, dict) else None
    if not isinstance(alerts, list):
        raise ValueError("Prometheus's answer holds no alert list")
    return [alert for alert in alerts if isinstance(alert, dict)]


def alerts_firing(context: DashboardContext) -> Figure:
    """How many of Prometheus's alert rules fire now (``PROMETHEUS_URL``); not configured
    or not answering is said as such, never an error page."""
    base_url = settings.PROMETHEUS_URL
    if not base_url:
        return Figure(value=None, text="not configured", note="set PROMETHEUS_URL to count the alerts firing")
    try:
        alerts = _prometheus_alerts(base_url)
    except Exception as error:  # noqa: BLE001 - monitoring down must not take the dashboard down
        logger.warning("staff dashboard: Prometheus alerts unavailable: %s", error)
        return Figure(
            value=None, text="unavailable", note=f"Prometheus did not answer ({type(error).__name__})", tone="warn"
        )
    firing = [alert for alert in alerts if alert.get("state") == "firing"]
    names = sorted({str(alert.get("labels", {}).get("alertname", "?")) for alert in firing})
    note = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "") if names else "none"
    return Figure(
        value=len(firing),
        text=f"{len(firing):,}",
        note=note,
        url=f"{base_url.rstrip('/')}/alerts",
        tone="bad" if firing else "good",
    )


def register_platform_figures() -> None:
    """``casino``'s own card (``CasinoConfig.ready``)."""
    register_dashboard_figure(
        "alerts_firing", "Alerts firing", alerts_firing, order=900, permission=None, group="Operations"
    )
