"""Celery entry points of the accounts app."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from casino.degraded import dependency_failed

logger = logging.getLogger(__name__)

WELCOME_EMAIL_MAX_RETRIES = 8
WELCOME_EMAIL_BACKOFF_MAX_SECONDS = 3600


def _permanent(error: BaseException) -> bool:
    """The mail server refused this message for good (a 5xx for the recipient
    or the sender): sending it again would be refused again."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


@shared_task(name="accounts.tasks.welcome_email", ignore_result=True)
def welcome_email_task(user_id: int, attempt: int = 0) -> str:
    """Queued on commit of a sign-up with an address. The send is claimed in the
    database first, so a redelivered task sends nothing. A mail server that is
    down or answers a temporary error is tried again with a doubling delay
    (1 min, 2 min, ... up to an hour), at most ``WELCOME_EMAIL_MAX_RETRIES``
    times; a permanent refusal is logged and given up. The retry is a new task
    carrying ``attempt`` (Celery's eager mode, embedded, runs it at once)."""
    from accounts.services.signup import welcome_email_send

    try:
        return welcome_email_send(user_id=user_id).value
    except (smtplib.SMTPException, OSError) as error:
        dependency_failed(dependency="smtp", use="welcome_email", error=error)
        if _permanent(error):
            logger.warning("the mail server refused the welcome email of player %s: %s", user_id, error)
            return "refused"
    if attempt >= WELCOME_EMAIL_MAX_RETRIES:
        logger.warning("giving up the welcome email of player %s after %s attempts", user_id, attempt + 1)
        return "gave_up"
    welcome_email_task.apply_async(
        (user_id, attempt + 1), countdown=min(WELCOME_EMAIL_BACKOFF_MAX_SECONDS, 60 * 2**attempt)
    )
    return "retrying"
