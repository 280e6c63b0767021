"""Refusals of the notification endpoints (each code has one class)."""

from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError, NotFoundError


class NotificationNotFound(NotFoundError):
    code = "notification_not_found"
    message = "No such notification."


class CrossSiteRequestRefused(ApplicationError):
    """A POST authenticated by the ``auth_token`` cookie whose ``Origin`` (or
    ``Referer``) is not one of ``CLIENT_ORIGINS``: a cross-site request forgery."""

    code = "cross_site_request"
    message = "This request must come from the web client's own origin."
    status = status.HTTP_403_FORBIDDEN


class WebPushNotConfigured(ApplicationError):
    code = "web_push_not_configured"
    message = "Web push is not configured on this server."
    status = status.HTTP_503_SERVICE_UNAVAILABLE
