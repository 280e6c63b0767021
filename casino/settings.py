"""Settings for Casino Club, read from the environment (12-factor).

Two run modes (see README "Run modes"):

* embedded (default, no environment at all): SQLite, local-memory cache,
  in-memory channel layer, eager Celery, Kafka and ClickHouse off;
* full stack: ``DATABASE_URL``, ``REDIS_URL``, ``KAFKA_BOOTSTRAP_SERVERS`` and
  ``CLICKHOUSE_URL`` switch the real services on, one by one.

``APP_ENV=production`` refuses to start without ``SECRET_KEY``,
``ALLOWED_HOSTS``, ``SHOP_WEBHOOK_SECRETS``, a PostgreSQL ``DATABASE_URL`` and
``REDIS_URL``, with a weak ``SECRET_KEY`` or ``JWT_SIGNING_KEY``, or with
``DEBUG`` on; it turns on the HTTPS hardening ``check --deploy`` asks for and
hides the API docs and ``/metrics`` unless told otherwise.

Every value comes through :func:`casino.environment.get_from_env`, and importing
this module has no side effects: the SQLite file's directory is made at start-up
(``CasinoConfig.ready``), ``collectstatic`` makes ``STATIC_ROOT``, and the git
commit is looked up only when ``/health`` first asks (``casino.health``).
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from casino.beat import beat_schedule
from casino.environment import (
    app_env,
    as_bool,
    as_database,
    as_float,
    as_int,
    as_list,
    as_path,
    as_str,
    get_from_env,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

APP_ENV = app_env()
PRODUCTION = APP_ENV == "production"

# A development-only key: production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = get_from_env(
    "SECRET_KEY", DEVELOPMENT_SECRET_KEY, cast=as_str, required_in_production="50+ random characters"
)
if PRODUCTION and (SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("production needs SECRET_KEY: 50+ random characters, not the development key")
DEBUG = get_from_env("DEBUG", not PRODUCTION, cast=as_bool)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("production refuses to run with DEBUG on")
ALLOWED_HOSTS = get_from_env(
    "ALLOWED_HOSTS", ["*"], cast=as_list, required_in_production="the host names this site answers to"
)

APP_VERSION = get_from_env("APP_VERSION", "0.1.0", cast=as_str)
BUILD_ID = get_from_env("BUILD_ID", "local", cast=as_str)
# Empty: casino.health asks git once, when /health or /ready first needs it.
GIT_SHA = get_from_env("GIT_SHA", "", cast=as_str)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    # Swagger UI and Redoc served from our static files: /api/docs/ works offline, under a self-only CSP.
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # django-import-export: the player import's dry run and confirm pages (accounts/admin_import.py).
    "import_export",
    "django_prometheus",
    "channels",
    "casino",
    "realtime",
    "accounts",
    "economy",
    "games",
    "events",
    "shop",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "casino.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "casino.middleware.RequestIdMiddleware",
    "casino.middleware.CopiesVersionMiddleware",
    # Before anything reads the body, the session or the database: NUL bytes, body size, DB down.
    "casino.middleware.RequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "casino.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "casino.urls"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "casino.wsgi.application"
ASGI_APPLICATION = "casino.asgi.application"

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": get_from_env(
        "DATABASE_URL",
        as_database(f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        cast=as_database,
        required_in_production="postgres://user:password@host:5432/name (production never runs on SQLite)",
    ),
}
DATABASES["default"]["CONN_MAX_AGE"] = get_from_env("CONN_MAX_AGE", 60, cast=as_int)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded mode: wait for the write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if PRODUCTION and not USING_POSTGRES:
    raise ImproperlyConfigured("production needs DATABASE_URL to name a PostgreSQL database (postgres://...)")
# A database that does not answer (full, restarting, unreachable) fails the request
# in seconds with 503 + Retry-After (casino.errors), not after TCP's minutes. Off (0)
# outside production: psycopg times the connect with the clock that time-machine
# freezes and moves in tests, and a moved clock expires a connect in progress.
_db_connect_timeout = get_from_env("DB_CONNECT_TIMEOUT_SECONDS", 5 if PRODUCTION else 0, cast=as_int)
if USING_POSTGRES and _db_connect_timeout > 0:
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", _db_connect_timeout)
if USING_POSTGRES and get_from_env("DB_PREPARED_STATEMENTS", True, cast=as_bool):
    # Server-side parameters and prepared statements (psycopg prepares a query
    # the 5th time a connection runs it): PostgreSQL parses and plans each hot
    # query once per connection instead of on every execution. Turn off behind
    # a transaction-mode pooler (PgBouncer < 1.21) with DB_PREPARED_STATEMENTS=false.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options["server_side_binding"] = True
    _db_options["prepare_threshold"] = get_from_env("DB_PREPARE_THRESHOLD", 5, cast=as_int)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis: cache, channel layer, Celery broker --------------------------
REDIS_URL = get_from_env(
    "REDIS_URL",
    "",
    cast=as_str,
    required_in_production="redis://... (shared cache, lockout counters, channel layer and Celery broker)",
)
# The channel layer (realtime.channel_layer): Redis connections per process and event loop;
# how long a socket's group memberships and its player's presence last unless renewed (an
# open socket renews them every third of it); messages one process's queue in Redis holds.
REALTIME_REDIS_MAX_CONNECTIONS = get_from_env("REALTIME_REDIS_MAX_CONNECTIONS", 20, cast=as_int)
REALTIME_GROUP_EXPIRY_SECONDS = get_from_env("REALTIME_GROUP_EXPIRY_SECONDS", 300, cast=as_int)
REALTIME_CHANNEL_CAPACITY = get_from_env("REALTIME_CHANNEL_CAPACITY", 10_000, cast=as_int)
# A player's last events kept in Redis for a client that missed one (resync since a number).
REALTIME_REPLAY_EVENTS = get_from_env("REALTIME_REPLAY_EVENTS", 50, cast=as_int)
REALTIME_REPLAY_SECONDS = get_from_env("REALTIME_REPLAY_SECONDS", 300, cast=as_int)
if (
    REALTIME_REDIS_MAX_CONNECTIONS < 2
    or REALTIME_GROUP_EXPIRY_SECONDS < 30
    or REALTIME_CHANNEL_CAPACITY < 100
    or REALTIME_REPLAY_EVENTS < 0
    or REALTIME_REPLAY_SECONDS < 1
):
    raise ImproperlyConfigured(
        "REALTIME_REDIS_MAX_CONNECTIONS is at least 2, REALTIME_GROUP_EXPIRY_SECONDS at least 30, "
        "REALTIME_CHANNEL_CAPACITY at least 100, REALTIME_REPLAY_EVENTS at least 0 (0: no replay), "
        "REALTIME_REPLAY_SECONDS at least 1"
    )
if REDIS_URL:
    _redis_timeout = get_from_env("REDIS_SOCKET_TIMEOUT_SECONDS", 1.0, cast=as_float)
    CACHES = {
        "default": {
            "BACKEND": "casino.cache.RedisCache",  # Django's, reusing its Redis client
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": get_from_env("CACHE_KEY_PREFIX", "casino", cast=as_str),
            # A Redis that does not answer fails the cache call fast (callers fail open).
            "OPTIONS": {"socket_connect_timeout": _redis_timeout, "socket_timeout": _redis_timeout},
        }
    }
    # realtime.channel_layer: channels_redis with a bounded pool per event loop, pushes in batches
    # with per-player sequence numbers and presence, sized queues, shorter memberships.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.channel_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": get_from_env("CHANNEL_PREFIX", "casino-asgi", cast=as_str),
                "max_connections": REALTIME_REDIS_MAX_CONNECTIONS,
                "group_expiry": REALTIME_GROUP_EXPIRY_SECONDS,
                "replay_events": REALTIME_REPLAY_EVENTS,
                "replay_seconds": REALTIME_REPLAY_SECONDS,
                # One queue in Redis holds the messages waiting for all sockets of a process.
                "channel_capacity": {"specific.*": REALTIME_CHANNEL_CAPACITY},
                "capacity": 1000,  # a socket's own buffer in its process, and any other channel
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "casino"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Kafka and ClickHouse (off unless configured) ------------------------
KAFKA_BOOTSTRAP_SERVERS = get_from_env("KAFKA_BOOTSTRAP_SERVERS", "", cast=as_str)
KAFKA_TOPIC = get_from_env("KAFKA_TOPIC", "casino.events", cast=as_str)
CLICKHOUSE_URL = get_from_env("CLICKHOUSE_URL", "", cast=as_str)
OUTBOX_RELAY_BATCH_SIZE = get_from_env("OUTBOX_RELAY_BATCH_SIZE", 500, cast=as_int)
# After a pass that claimed less than a full batch, the relay waits this long before the next, so the
# rows committed meanwhile travel in one pass (realtime.relay.outbox_relay_forever); 0: back to back.
OUTBOX_RELAY_GATHER_SECONDS = get_from_env("OUTBOX_RELAY_GATHER_SECONDS", 0.1, cast=as_float)
OUTBOX_RELAY_DELIVERY_TIMEOUT_MS = get_from_env("OUTBOX_RELAY_DELIVERY_TIMEOUT_MS", 10_000, cast=as_int)
# Sent rows are kept this long (the PostgreSQL live-metrics path reads the last hour).
OUTBOX_SENT_RETENTION = timedelta(hours=get_from_env("OUTBOX_SENT_RETENTION_HOURS", 24, cast=as_int))
BIG_WIN_THRESHOLD_GOLD = get_from_env("BIG_WIN_THRESHOLD_GOLD", 5000, cast=as_int)
LIVE_METRICS_CACHE_SECONDS = get_from_env("LIVE_METRICS_CACHE_SECONDS", 5, cast=as_int)
# The relay and the sink serve their own /metrics on this port (0 = off).
METRICS_PORT = get_from_env("METRICS_PORT", 0, cast=as_int)
# The staff dashboard's links to the ops tools, and where it counts the alerts firing.
FLOWER_URL = get_from_env("FLOWER_URL", "", cast=as_str)
GRAFANA_URL = get_from_env("GRAFANA_URL", "", cast=as_str)
PROMETHEUS_URL = get_from_env("PROMETHEUS_URL", "", cast=as_str)
SINK_BATCH_ROWS = get_from_env("SINK_BATCH_ROWS", 5000, cast=as_int)
SINK_FLUSH_SECONDS = get_from_env("SINK_FLUSH_SECONDS", 1.0, cast=as_float)
SINK_CONSUMER_GROUP = get_from_env("SINK_CONSUMER_GROUP", "casino-clickhouse-sink", cast=as_str)
# The relay and the sink wait for a broker (or ClickHouse) that is down, retrying (doubling up to this many s).
DEPENDENCY_WAIT_MAX_SECONDS = get_from_env("DEPENDENCY_WAIT_MAX_SECONDS", 30.0, cast=as_float)

# --- WebSocket (/api/realtime/sync) and pushes -----------------------------
# Per connection: messages up to WS_MAX_MESSAGE_BYTES (bigger: close 4413), and a
# token bucket of WS_MESSAGE_BURST messages refilled at WS_MESSAGES_PER_SECOND
# (a flood closes the socket with 4429). The ASGI server's own frame limit
# (uvicorn --ws-max-size 65536 in production) stops bigger frames before they are read.
WS_MAX_MESSAGE_BYTES = get_from_env("WS_MAX_MESSAGE_BYTES", 4096, cast=as_int)
WS_MESSAGES_PER_SECOND = get_from_env("WS_MESSAGES_PER_SECOND", 5.0, cast=as_float)
WS_MESSAGE_BURST = get_from_env("WS_MESSAGE_BURST", 20, cast=as_int)
# A push to the channel layer gives up after this long; beyond this many waiting
# pushes per process, new ones are dropped (the outbox row stays the record).
REALTIME_PUSH_TIMEOUT_SECONDS = get_from_env("REALTIME_PUSH_TIMEOUT_SECONDS", 2.0, cast=as_float)
REALTIME_PUSH_MAX_PENDING = get_from_env("REALTIME_PUSH_MAX_PENDING", 10_000, cast=as_int)
# Threads per process for the sockets' blocking work (authentication, initial state), each
# with at most one database connection (realtime.socket_work).
REALTIME_SOCKET_THREADS = get_from_env("REALTIME_SOCKET_THREADS", 4, cast=as_int)
if REALTIME_SOCKET_THREADS < 1:
    raise ImproperlyConfigured("REALTIME_SOCKET_THREADS is at least 1")

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = get_from_env("CELERY_BROKER_URL", REDIS_URL or "memory://", cast=as_str)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = get_from_env("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL, cast=as_bool)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks (casino/beat.py); beat stores them in the database (django-celery-beat).
# A relay pass every second from beat unless production runs `manage.py relay_outbox` instead.
# The nightly RFM segments run at this UTC hour (economy.tasks.segments_compute).
SEGMENT_COMPUTE_HOUR = get_from_env("SEGMENT_COMPUTE_HOUR", 3, cast=as_int)
if not 0 <= SEGMENT_COMPUTE_HOUR <= 23:
    raise ImproperlyConfigured("SEGMENT_COMPUTE_HOUR is an hour of the day, 0 to 23 (UTC)")
CELERY_BEAT_SCHEDULE = beat_schedule(
    relay_via_beat=get_from_env("OUTBOX_RELAY_VIA_BEAT", True, cast=as_bool), segments_hour=SEGMENT_COMPUTE_HOUR
)

# --- Auth --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("site_id", "nickname", "phone_number")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Refuses nothing: Django's "a new password was saved" hook, which revokes every token.
    {"NAME": "accounts.passwords.SessionsEndOnPasswordChange"},
]
# Django's authenticate() goes through the login lockout too (accounts.services.lockout).
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]
if get_from_env("FAST_PASSWORD_HASHER", False, cast=as_bool):
    # Tests only: the real hashers are deliberately slow.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# HS256 key of access and refresh tokens; SECRET_KEY unless set. Production
# refuses the development key and keys shorter than 32 bytes (RFC 7518 3.2:
# at least the hash's size), exactly as it refuses a weak SECRET_KEY.
JWT_SIGNING_KEY = get_from_env("JWT_SIGNING_KEY", SECRET_KEY, cast=as_str)
if PRODUCTION and (JWT_SIGNING_KEY == DEVELOPMENT_SECRET_KEY or len(JWT_SIGNING_KEY.encode()) < 32):
    raise ImproperlyConfigured(
        "production needs JWT_SIGNING_KEY: 32+ random bytes, not the development key "
        "(or leave it unset to use SECRET_KEY)"
    )

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=get_from_env("JWT_ACCESS_MINUTES", 30, cast=as_int)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=get_from_env("JWT_REFRESH_DAYS", 14, cast=as_int)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "LEEWAY": 0,
}

LOGIN_LOCKOUT = {
    "ACCOUNT_MAX_FAILURES": get_from_env("LOGIN_ACCOUNT_MAX_FAILURES", 5, cast=as_int),
    "IP_MAX_FAILURES": get_from_env("LOGIN_IP_MAX_FAILURES", 30, cast=as_int),
    "WINDOW_MINUTES": get_from_env("LOGIN_LOCKOUT_MINUTES", 10, cast=as_int),
}

# --- DRF and OpenAPI ---------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Size, depth and NUL limits on every JSON body (casino.parsers).
    "DEFAULT_PARSER_CLASSES": ["casino.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "casino.schema.CasinoAutoSchema",
    "EXCEPTION_HANDLER": "casino.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "casino.pagination.StandardPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per client IP (casino.throttling, casino.http.client_ip): "<count>/<second|minute|hour|day>".
    "DEFAULT_THROTTLE_RATES": {
        "signup": get_from_env("SIGNUP_THROTTLE_RATE", "20/hour", cast=as_str),
        "invite_validate": get_from_env("INVITE_VALIDATE_THROTTLE_RATE", "30/minute", cast=as_str),
        # Per player, not per IP (realtime.api.telemetry): client telemetry requests, each up to 50 events.
        "telemetry": get_from_env("TELEMETRY_THROTTLE_RATE", "60/minute", cast=as_str),
    },
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Casino Club API",
    "DESCRIPTION": (
        "Player API of Casino Club, a free-to-play social casino. Every error has the body "
        '`{"error": "<code>", "message": "<text>", ...details}`. Money-moving and reward calls '
        "honour the `Idempotency-Key` (or `X-Idempotency-Key`) header. Any operation may also answer "
        "400 `invalid_characters` (a NUL byte in the query string, a header or a cookie), 400 `invalid_json` "
        "(a body nested deeper than `max_depth` levels or holding `\\u0000`), 413 `payload_too_large` (a body "
        "over `max_bytes`) and 503 `database_unavailable` with `Retry-After` (retry after that many seconds)."
    ),
    "VERSION": APP_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "casino.surface.schema_document_refusals",
    ],
}

# --- Economy ------------------------------------------------------------------
SIGNUP_BONUS_GOLD = get_from_env("SIGNUP_BONUS_GOLD", 1000, cast=as_int)
DASHBOARD_CACHE_SECONDS = get_from_env("DASHBOARD_CACHE_SECONDS", 10, cast=as_int)
# Player segments (economy.services.segments, docs/live-ops.md#segments): RFM over the last
# SEGMENT_WINDOW_DAYS days; money in minor units of SEGMENT_CURRENCY (orders in other currencies
# are not added up). Recency scores 5 within the HIGH days, 3 within MEDIUM, else 1; frequency
# and monetary score 5 from HIGH, 3 from MEDIUM, else 1.
SEGMENT_WINDOW_DAYS = get_from_env("SEGMENT_WINDOW_DAYS", 30, cast=as_int)
SEGMENT_CURRENCY = get_from_env("SEGMENT_CURRENCY", "USD", cast=as_str).upper()
SEGMENT_RECENCY_HIGH_DAYS = get_from_env("SEGMENT_RECENCY_HIGH_DAYS", 7, cast=as_int)
SEGMENT_RECENCY_MEDIUM_DAYS = get_from_env("SEGMENT_RECENCY_MEDIUM_DAYS", 30, cast=as_int)
SEGMENT_FREQUENCY_HIGH = get_from_env("SEGMENT_FREQUENCY_HIGH", 50, cast=as_int)
SEGMENT_FREQUENCY_MEDIUM = get_from_env("SEGMENT_FREQUENCY_MEDIUM", 10, cast=as_int)
SEGMENT_MONETARY_HIGH = get_from_env("SEGMENT_MONETARY_HIGH", 10_000, cast=as_int)
SEGMENT_MONETARY_MEDIUM = get_from_env("SEGMENT_MONETARY_MEDIUM", 1_000, cast=as_int)
# The country calling code of numbers stored without one (010...): a saved segment's "+82"
# then matches them too. Empty: such numbers match no calling code.
SEGMENT_NATIONAL_CALLING_CODE = get_from_env("SEGMENT_NATIONAL_CALLING_CODE", "", cast=as_str)
if not 1 <= SEGMENT_WINDOW_DAYS <= 365:
    raise ImproperlyConfigured("SEGMENT_WINDOW_DAYS is 1 to 365")

# --- Shop and payments ------------------------------------------------------------
SHOP_CURRENCY = get_from_env("SHOP_CURRENCY", "USD", cast=as_str)
SHOP_PENDING_ORDER_TTL = timedelta(minutes=get_from_env("SHOP_PENDING_ORDER_TTL_MINUTES", 30, cast=as_int))
# Orders held for fraud review give their stock back after this long without a decision (default: the pending TTL).
SHOP_REVIEW_ORDER_TTL = timedelta(
    minutes=get_from_env(
        "SHOP_REVIEW_ORDER_TTL_MINUTES", int(SHOP_PENDING_ORDER_TTL.total_seconds() // 60), cast=as_int
    )
)
SHOP_PAYMENT_PROVIDER = get_from_env("SHOP_PAYMENT_PROVIDER", "sandbox", cast=as_str)
# Secrets that may sign payment webhooks, newest first; two during a rotation.
DEVELOPMENT_WEBHOOK_SECRET = "whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA=="  # noqa: S105 - dev only, refused in production
SHOP_WEBHOOK_SECRETS = get_from_env(
    "SHOP_WEBHOOK_SECRETS",
    [DEVELOPMENT_WEBHOOK_SECRET],
    cast=as_list,
    required_in_production="whsec_... secrets that sign payment webhooks",
)
SHOP_WEBHOOK_TOLERANCE_SECONDS = get_from_env("SHOP_WEBHOOK_TOLERANCE_SECONDS", 300, cast=as_int)
# Of a refused webhook delivery only this many bytes of the body are kept; refused
# deliveries from one source IP beyond this many per minute get a 429 and are not stored.
SHOP_WEBHOOK_STORED_BODY_MAX_BYTES = get_from_env("SHOP_WEBHOOK_STORED_BODY_MAX_BYTES", 65536, cast=as_int)
SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE = get_from_env("SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE", 20, cast=as_int)
# Where the sandbox provider delivers its webhooks and sends players to pay.
PUBLIC_BASE_URL = get_from_env("PUBLIC_BASE_URL", "http://127.0.0.1:8000", cast=as_str)
SHOP_FRAUD_RULES_PATH = get_from_env("SHOP_FRAUD_RULES_PATH", BASE_DIR / "shop" / "fraud_rules.yaml", cast=as_path)
if PRODUCTION and DEVELOPMENT_WEBHOOK_SECRET in SHOP_WEBHOOK_SECRETS:
    raise ImproperlyConfigured("production needs SHOP_WEBHOOK_SECRETS (the development secret is refused)")
# Anyone holding a sandbox checkout link can "pay": production must opt in explicitly (demo/staging stacks).
SHOP_ALLOW_SANDBOX_IN_PRODUCTION = get_from_env("SHOP_ALLOW_SANDBOX_IN_PRODUCTION", False, cast=as_bool)
if PRODUCTION and SHOP_PAYMENT_PROVIDER == "sandbox" and not SHOP_ALLOW_SANDBOX_IN_PRODUCTION:
    raise ImproperlyConfigured("production refuses the sandbox payment provider (set SHOP_ALLOW_SANDBOX_IN_PRODUCTION)")

# --- Notifications and Web Push (realtime.notifications) ---------------------
# Origins (scheme://host[:port]) allowed to POST to the notification endpoints with the
# `auth_token` cookie instead of a Bearer header; default: the PUBLIC_BASE_URL origin.
CLIENT_ORIGINS = get_from_env("CLIENT_ORIGINS", ["/".join(PUBLIC_BASE_URL.split("/", 3)[:3]).lower()], cast=as_list)
# VAPID key pair (base64url; `manage.py vapid_keys` makes one). Without both, Web Push is off.
VAPID_PUBLIC_KEY = get_from_env("VAPID_PUBLIC_KEY", "", cast=as_str)
VAPID_PRIVATE_KEY = get_from_env("VAPID_PRIVATE_KEY", "", cast=as_str)
VAPID_SUBJECT = get_from_env("VAPID_SUBJECT", "mailto:webpush@localhost", cast=as_str)
# Hosts a browser's push endpoint may point at (a leading dot: any subdomain); https only,
# except for 127.0.0.1/localhost when listed. The server POSTs there: an open list would be SSRF.
WEB_PUSH_ENDPOINT_HOSTS = get_from_env(
    "WEB_PUSH_ENDPOINT_HOSTS",
    ["fcm.googleapis.com", ".push.services.mozilla.com", ".notify.windows.com", ".push.apple.com"],
    cast=as_list,
)

# --- Email (the welcome email, email campaigns): printed in development, SMTP in production ---
EMAIL_DELIVERY = get_from_env("EMAIL_DELIVERY", "smtp" if PRODUCTION else "console", cast=as_str)
if EMAIL_DELIVERY not in ("console", "smtp", "locmem"):
    raise ImproperlyConfigured("EMAIL_DELIVERY is console, smtp or locmem")
EMAIL_BACKEND = f"django.core.mail.backends.{EMAIL_DELIVERY}.EmailBackend"
EMAIL_HOST = get_from_env("EMAIL_HOST", "localhost", cast=as_str)
EMAIL_PORT = get_from_env("EMAIL_PORT", 25, cast=as_int)
EMAIL_HOST_USER = get_from_env("EMAIL_HOST_USER", "", cast=as_str)
EMAIL_HOST_PASSWORD = get_from_env("EMAIL_HOST_PASSWORD", "", cast=as_str)
EMAIL_USE_TLS = get_from_env("EMAIL_USE_TLS", False, cast=as_bool)
EMAIL_TIMEOUT = get_from_env("EMAIL_TIMEOUT_SECONDS", 10, cast=as_int)
DEFAULT_FROM_EMAIL = get_from_env("DEFAULT_FROM_EMAIL", "Casino Club <no-reply@localhost>", cast=as_str)

# --- Idempotency and audit ---------------------------------------------------
IDEMPOTENCY_KEY_TTL = timedelta(days=get_from_env("IDEMPOTENCY_KEY_TTL_DAYS", 7, cast=as_int))
# A request still "in progress" after this long is taken as abandoned (its
# process died) and a retry may run it again.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(seconds=get_from_env("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", 60, cast=as_int))

# --- I18N, static -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = get_from_env("STATIC_ROOT", VAR_DIR / "staticfiles", cast=as_path)  # collectstatic makes it
WHITENOISE_USE_FINDERS = DEBUG
# WhiteNoise's own default, fixed here: pytest-django turns DEBUG off after this
# module is read, and WhiteNoise would then expect a collected STATIC_ROOT.
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production) ----------------------------------------------------
# Behind the load balancer every request comes from the balancer's address;
# trust the client address it appends to X-Forwarded-For (lockout, fraud rules).
TRUST_X_FORWARDED_FOR = get_from_env("TRUST_X_FORWARDED_FOR", False, cast=as_bool)
# ...but only from peers in TRUSTED_PROXIES (addresses or CIDR networks: the balancer's),
# read from the right through at most TRUSTED_PROXY_COUNT proxies (casino.http.client_ip).
TRUSTED_PROXIES = get_from_env(
    "TRUSTED_PROXIES",
    ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
    cast=as_list,
)
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_exc}") from _exc
TRUSTED_PROXY_COUNT = get_from_env("TRUSTED_PROXY_COUNT", 1, cast=as_int)
if TRUSTED_PROXY_COUNT < 1:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT is the number of proxies in front of the app (1 or more)")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = get_from_env("SECURE_SSL_REDIRECT", True, cast=as_bool)
    # Probes and the metrics scraper talk plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
    SECURE_HSTS_SECONDS = get_from_env("SECURE_HSTS_SECONDS", 31536000, cast=as_int)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS: list[str] = get_from_env("CSRF_TRUSTED_ORIGINS", [], cast=as_list)


# --- Request limits and what is public (casino.middleware, casino.parsers, casino.surface) ---
# Bodies above this many bytes are refused with 413 payload_too_large: by their
# Content-Length before anything reads them, and while reading when a body runs
# past it (no Content-Length, or a wrong one). Django's own form limit is the same.
REQUEST_BODY_MAX_BYTES = get_from_env("REQUEST_BODY_MAX_BYTES", 1024 * 1024, cast=as_int)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
# JSON bodies nested deeper than this are refused with 400 invalid_json.
REQUEST_JSON_MAX_DEPTH = get_from_env("REQUEST_JSON_MAX_DEPTH", 32, cast=as_int)
# The OpenAPI schema and Swagger UI (/api/schema/, /api/docs/): public in development only unless set.
API_DOCS_PUBLIC = get_from_env("API_DOCS_PUBLIC", not PRODUCTION, cast=as_bool)
# /metrics: public in development only unless set; otherwise only to direct (not
# proxied: no X-Forwarded-For) connections from these networks, e.g. the scraper's.
METRICS_PUBLIC = get_from_env("METRICS_PUBLIC", not PRODUCTION, cast=as_bool)


def _as_networks(value: str) -> list[str]:
    return [str(ipaddress.ip_network(item.strip(), strict=False)) for item in as_list(value)]


METRICS_ALLOWED_NETWORKS: list[str] = get_from_env("METRICS_ALLOWED_NETWORKS", [], cast=_as_networks)

# Content-Security-Policy (django-csp) on every response; casino.csp loosens it for
# the sandbox checkout page (its inline <style>) only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Logging (structlog, JSON in production) -------------------------------
LOG_LEVEL = get_from_env("LOG_LEVEL", "INFO", cast=as_str)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "casino.logconfig.make_formatter", "json": PRODUCTION},
    },
    "handlers": {"console": {"class": "casino.logconfig.StderrHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
