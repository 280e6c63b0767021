"""Refusals of events/: one class per error code, none with an effect."""

from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError


class EventNotFound(ApplicationError):
    code = "event_not_found"
    message = "No such event."
    status = status.HTTP_404_NOT_FOUND


class EventNotOpen(ApplicationError):
    code = "event_not_open"
    message = "This event is not running now."
    status = status.HTTP_409_CONFLICT


class NotJoined(ApplicationError):
    code = "not_joined"
    message = "Join the event first."
    status = status.HTTP_409_CONFLICT


class NotCompleted(ApplicationError):
    code = "not_completed"
    message = "Not complete yet: finish every requirement first."
    status = status.HTTP_409_CONFLICT


class RewardAlreadyClaimed(ApplicationError):
    code = "reward_already_claimed"
    message = "This reward was already claimed."
    status = status.HTTP_409_CONFLICT


class MissionNotFound(ApplicationError):
    code = "mission_not_found"
    message = "No such mission."
    status = status.HTTP_404_NOT_FOUND


class ProgressIsServerSide(ApplicationError):
    """The earlier client still sends progress; progress comes only from what players do."""

    code = "progress_is_server_side"
    message = "Progress is counted by the server from what you play and buy; it cannot be sent."
    status = status.HTTP_405_METHOD_NOT_ALLOWED
