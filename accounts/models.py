"""Players and staff (one custom user model) and invite codes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.expressions import Col
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, In
from django.db.models.sql.where import AND
from django.utils import timezone

from accounts.nicknames import nickname_skeleton, validate_nickname

SITE_ID_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9_.-]{3,50}$", "3-50 letters, digits, '.', '_' or '-'.", code="invalid_site_id"
)
PHONE_VALIDATOR = RegexValidator(
    r"^\+?[0-9]{10,15}$", "10-15 digits, optionally starting with '+'.", code="invalid_phone"
)


# Bookkeeping no request reads from ``request.user`` (activity, the welcome email's claim):
# written without telling access-token authentication (accounts.auth_cache).
ACTIVITY_FIELDS = frozenset({"last_seen_at", "welcome_email_sent_at"})


class UserQuerySet(models.QuerySet["User"]):
    def update(self, **kwargs: Any) -> int:
        """An ``UPDATE`` sends no signal, so it bumps the users' generations
        itself (``accounts.auth_cache``): a ban or a self-exclusion written
        with ``.update()`` takes effect on the next request. A filter on
        primary keys names them; any other filter first reads the keys of
        the rows it matches and updates only those (one more round trip, for
        rare writes), so no row changes unannounced."""
        if kwargs.keys() <= ACTIVITY_FIELDS or self.query.is_sliced:
            return super().update(**kwargs)
        from accounts.auth_cache import user_generations_bump

        ids = self._filtered_pks()
        if ids is not None:
            rows = super().update(**kwargs)
        else:
            ids = list(self.values_list("pk", flat=True))
            rows = super(UserQuerySet, self.filter(pk__in=ids)).update(**kwargs)
        user_generations_bump(user_ids=ids, using=self.db)
        return rows

    def _filtered_pks(self) -> list[Any] | None:
        """The primary keys the filter allows at most, when one of its ANDed
        conditions is ``pk=<literal>`` or ``pk__in=[<literals>]``; else None."""
        where = self.query.where
        if where.negated or where.connector != AND:
            return None
        for lookup in where.children:
            if not isinstance(lookup, Exact | In) or not isinstance(lookup.lhs, Col):
                continue
            if lookup.lhs.target is not self.model._meta.pk or lookup.lhs.alias != self.query.base_table:
                continue
            values = [lookup.rhs] if isinstance(lookup, Exact) else lookup.rhs
            if isinstance(values, list | tuple | set | frozenset) and all(
                isinstance(value, int | str) and not isinstance(value, bool) for value in values
            ):
                return list(values)
        return None


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    def get_by_natural_key(self, username: str | None) -> User:
        # Logins are case-insensitive everywhere, the admin included.
        return self.get(site_id__iexact=username)

    def create_user(
        self, site_id: str, nickname: str, phone_number: str, password: str | None = None, **extra: Any
    ) -> User:
        user = self.model(site_id=site_id, nickname=nickname, phone_number=phone_number, **extra)
        user.nickname_skeleton = nickname_skeleton(nickname)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(
        self, site_id: str, nickname: str, phone_number: str, password: str | None = None, **extra: Any
    ) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(site_id, nickname, phone_number, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    site_id = models.CharField("login id", max_length=50, unique=True, validators=[SITE_ID_VALIDATOR])
    nickname = models.CharField(max_length=50, validators=[validate_nickname])
    # Look-alike nicknames share it (accounts.nicknames); the unique index refuses the second one.
    # Null only for a player whose nickname already looked like an older one's when the column came.
    nickname_skeleton = models.TextField(null=True, blank=True, editable=False)
    phone_number = models.CharField(max_length=16, unique=True, validators=[PHONE_VALIDATOR])
    # Optional: where the welcome email and email campaigns go (the player may opt out of the latter).
    email = models.EmailField(max_length=254, blank=True, default="")
    # Claimed (set) before the welcome email is sent, so a redelivered task never sends it twice.
    welcome_email_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_staff = models.BooleanField(default=False, help_text="May log into the back office (/admin/).")
    is_active = models.BooleanField(default=True, help_text="Unset to ban: refused at login and on every request.")
    date_joined = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Last authenticated activity (updated at most once a minute)."
    )
    # Bumped to revoke every token issued before (logout-all, ban, self-exclusion).
    token_version = models.PositiveIntegerField(default=0)
    # Responsible gaming.
    self_excluded_until = models.DateTimeField(null=True, blank=True)
    daily_spend_limit = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Most the player may spend on real-money purchases per UTC day, in minor units (cents).",
    )
    # A raised or removed limit waits out a cooling-off period; a lowered one applies at once.
    pending_daily_spend_limit = models.PositiveBigIntegerField(null=True, blank=True)
    pending_limit_clears = models.BooleanField(default=False, help_text="The pending change removes the limit.")
    pending_limit_effective_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "site_id"
    REQUIRED_FIELDS = ["nickname", "phone_number"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("site_id"), name="user_site_id_ci_unique"),
            models.UniqueConstraint(Lower("nickname"), name="user_nickname_ci_unique"),
            models.UniqueConstraint(fields=["nickname_skeleton"], name="user_nickname_skeleton_unique"),
        ]
        # Staff actions with their own permission (promise 7; roles: accounts.services.staff).
        permissions = [
            ("ban_user", "Can ban and reinstate players"),
            ("lift_self_exclusion", "Can lift a player's self-exclusion"),
            ("revoke_sessions", "Can end every session of a player"),
            ("grant_privileges", "Can grant staff status, groups and permissions"),
            ("reset_password", "Can make a one-time password-set link for a player"),
            ("import_players", "Can import players from a CSV or XLSX file"),
        ]

    def __str__(self) -> str:
        return self.site_id

    @property
    def is_self_excluded(self) -> bool:
        return self.self_excluded_until is not None and self.self_excluded_until > timezone.now()


class RevokedTokenFamily(models.Model):
    """A chain of rotated refresh tokens (one login: claim ``fam``) that no longer
    works, refresh and access tokens alike: one of its refresh tokens was used
    after it had been rotated (token-theft detection, OAuth 2.0 Security BCP)."""

    family = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="revoked_token_families")
    reason = models.CharField(max_length=40, default="refresh_token_reused")
    revoked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "revoked token families"

    def __str__(self) -> str:
        return str(self.family)


class InviteCode(models.Model):
    """A sign-up needs a valid code: active, not expired, not used up."""

    code = models.CharField(max_length=32, unique=True, help_text="Stored upper-case; matched case-insensitively.")
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty means unlimited.")
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="invite_codes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True) | models.Q(uses__lte=models.F("max_uses")),
                name="invite_uses_within_max",
            )
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def remaining_uses(self) -> int | None:
        return None if self.max_uses is None else max(0, self.max_uses - self.uses)


class PlayerDay(models.Model):
    """A UTC day on which a player was active: one row per player and day, written by
    ``accounts.activity`` with the player's first activity mark of the day. The staff
    dashboard's daily-active chart counts them per day (the ``(day, user)`` key is its index)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="player_day_once")]

    def __str__(self) -> str:
        return f"{self.user_id} active on {self.day}"
