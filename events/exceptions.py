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


class InvalidMissionTemplate(ApplicationError):
    """A mission template the progress engine could not count (``fields``: what is wrong where)."""

    code = "invalid_mission_template"
    message = "This mission template is not valid."
    status = status.HTTP_400_BAD_REQUEST


# --- events (back office) ---


class InvalidEventRequirement(ApplicationError):
    """A requirement that names no registered metric, a game on a metric that is not per game,
    a target below 1, or the same (metric, game) twice."""

    code = "invalid_event_requirement"
    message = "This requirement cannot be counted."
    status = status.HTTP_400_BAD_REQUEST


class EventRequirementsLocked(ApplicationError):
    """Players joined: their progress is counted against these requirements, which stay as they
    are (make a new event instead)."""

    code = "event_requirements_locked"
    message = "Players have joined this event: its requirements can no longer change."
    status = status.HTTP_409_CONFLICT


# --- achievements ---


class AchievementNotFound(ApplicationError):
    code = "achievement_not_found"
    message = "No such achievement."
    status = status.HTTP_404_NOT_FOUND


class InvalidAchievement(ApplicationError):
    """An achievement the progress engine could not count (``fields``: what is wrong where)."""

    code = "invalid_achievement"
    message = "This achievement is not valid."
    status = status.HTTP_400_BAD_REQUEST
