"""Settings for Casino Club, read from the environment (12-factor).

Two run modes (see README "Run modes"):

* embedded (default, no environment at all): SQLite, local-memory cache,
  in-memory channel layer, eager Celery, Kafka and ClickHouse off;
* full stack: ``DATABASE_URL``, ``REDIS_URL``, ``KAFKA_BOOTSTRAP_SERVERS`` and
  ``CLICKHOUSE_URL`` switch the real services on, one by one.

``APP_ENV=production`` refuses to start with the development secret key or
``DEBUG`` on, and turns on the HTTPS hardening ``check --deploy`` asks for.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

APP_ENV = env.str("APP_ENV", default="development")
if APP_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"APP_ENV must be 'development' or 'production', not {APP_ENV!r}")
PRODUCTION = APP_ENV == "production"

# A development-only key: production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])

if PRODUCTION:
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("production needs SECRET_KEY: 50+ random characters, not the development key")
    if DEBUG:
        raise ImproperlyConfigured("production refuses to run with DEBUG on")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("production needs ALLOWED_HOSTS")


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


APP_VERSION = env.str("APP_VERSION", default="0.1.0")
BUILD_ID = env.str("BUILD_ID", default="local")
GIT_SHA = env.str("GIT_SHA", default="") or _git_sha()

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
    "django_celery_beat",
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
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "casino.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded mode: wait for the write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if USING_POSTGRES and env.bool("DB_PREPARED_STATEMENTS", default=True):
    # Server-side parameters and prepared statements (psycopg prepares a query
    # the 5th time a connection runs it): PostgreSQL parses and plans each hot
    # query once per connection instead of on every execution. Turn off behind
    # a transaction-mode pooler (PgBouncer < 1.21) with DB_PREPARED_STATEMENTS=false.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options["server_side_binding"] = True
    _db_options["prepare_threshold"] = env.int("DB_PREPARE_THRESHOLD", default=5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis: cache, channel layer, Celery broker --------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="casino"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_PREFIX", default="casino-asgi")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "casino"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Kafka and ClickHouse (off unless configured) ------------------------
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="")
KAFKA_TOPIC = env.str("KAFKA_TOPIC", default="casino.events")
CLICKHOUSE_URL = env.str("CLICKHOUSE_URL", default="")
OUTBOX_RELAY_BATCH_SIZE = env.int("OUTBOX_RELAY_BATCH_SIZE", default=500)
OUTBOX_RELAY_DELIVERY_TIMEOUT_MS = env.int("OUTBOX_RELAY_DELIVERY_TIMEOUT_MS", default=10_000)
# Sent rows are kept this long (the PostgreSQL live-metrics path reads the last hour).
OUTBOX_SENT_RETENTION = timedelta(hours=env.int("OUTBOX_SENT_RETENTION_HOURS", default=24))
BIG_WIN_THRESHOLD_GOLD = env.int("BIG_WIN_THRESHOLD_GOLD", default=1000)
LIVE_METRICS_CACHE_SECONDS = env.int("LIVE_METRICS_CACHE_SECONDS", default=5)
# The relay and the sink serve their own /metrics on this port (0 = off).
METRICS_PORT = env.int("METRICS_PORT", default=0)
SINK_BATCH_ROWS = env.int("SINK_BATCH_ROWS", default=5000)
SINK_FLUSH_SECONDS = env.float("SINK_FLUSH_SECONDS", default=1.0)
SINK_CONSUMER_GROUP = env.str("SINK_CONSUMER_GROUP", default="casino-clickhouse-sink")

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "idempotency-purge-expired": {
        "task": "casino.tasks.idempotency_purge_expired",
        "schedule": timedelta(hours=1),
    },
    "outbox-prune-sent": {
        "task": "realtime.tasks.outbox_prune_sent",
        "schedule": timedelta(hours=1),
    },
    "shop-expire-pending-orders": {
        "task": "shop.tasks.expire_pending_orders",
        "schedule": timedelta(minutes=1),
    },
    "shop-reconcile-pending-orders": {
        "task": "shop.tasks.reconcile_pending_orders",
        "schedule": timedelta(minutes=5),
    },
    "ledger-audit-daily": {
        "task": "economy.tasks.ledger_audit",
        "schedule": timedelta(days=1),
    },
    "streak-repair-daily": {
        "task": "economy.tasks.streak_repair",
        "schedule": timedelta(days=1),
    },
}

if env.bool("OUTBOX_RELAY_VIA_BEAT", default=True):
    # A relay pass every second from beat; production may run `manage.py relay_outbox` instead.
    CELERY_BEAT_SCHEDULE["outbox-relay"] = {
        "task": "realtime.tasks.outbox_relay",
        "schedule": timedelta(seconds=1),
        "options": {"expires": 5},
    }

# --- Auth --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("site_id", "nickname", "phone_number")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env.bool("FAST_PASSWORD_HASHER", default=False):
    # Tests only: the real hashers are deliberately slow.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "LEEWAY": 0,
}

LOGIN_LOCKOUT = {
    "ACCOUNT_MAX_FAILURES": env.int("LOGIN_ACCOUNT_MAX_FAILURES", default=5),
    "IP_MAX_FAILURES": env.int("LOGIN_IP_MAX_FAILURES", default=30),
    "WINDOW_MINUTES": env.int("LOGIN_LOCKOUT_MINUTES", default=10),
}

# --- DRF and OpenAPI ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["casino.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "casino.schema.CasinoAutoSchema",
    "EXCEPTION_HANDLER": "casino.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "casino.pagination.StandardPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Casino Club API",
    "DESCRIPTION": (
        "Player API of Casino Club, a free-to-play social casino. Every error has the body "
        '`{"error": "<code>", "message": "<text>", ...details}`. Money-moving and reward calls '
        "honour the `Idempotency-Key` (or `X-Idempotency-Key`) header."
    ),
    "VERSION": APP_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
}

# --- Economy ------------------------------------------------------------------
SIGNUP_BONUS_GOLD = env.int("SIGNUP_BONUS_GOLD", default=1000)
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=10)

# --- Shop and payments ------------------------------------------------------------
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="USD")
SHOP_PENDING_ORDER_TTL = timedelta(minutes=env.int("SHOP_PENDING_ORDER_TTL_MINUTES", default=30))
SHOP_PAYMENT_PROVIDER = env.str("SHOP_PAYMENT_PROVIDER", default="sandbox")
# Secrets that may sign payment webhooks, newest first; two during a rotation.
DEVELOPMENT_WEBHOOK_SECRET = "whsec_ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLXNlY3JldA=="  # noqa: S105 - dev only, refused in production
SHOP_WEBHOOK_SECRETS = env.list("SHOP_WEBHOOK_SECRETS", default=[DEVELOPMENT_WEBHOOK_SECRET])
SHOP_WEBHOOK_TOLERANCE_SECONDS = env.int("SHOP_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Where the sandbox provider delivers its webhooks and sends players to pay.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
SHOP_FRAUD_RULES_PATH = env.path("SHOP_FRAUD_RULES_PATH", default=str(BASE_DIR / "shop" / "fraud_rules.yaml"))
if PRODUCTION and DEVELOPMENT_WEBHOOK_SECRET in SHOP_WEBHOOK_SECRETS:
    raise ImproperlyConfigured("production needs SHOP_WEBHOOK_SECRETS (the development secret is refused)")
# Anyone holding a sandbox checkout link can "pay": production must opt in explicitly (demo/staging stacks).
if (
    PRODUCTION
    and SHOP_PAYMENT_PROVIDER == "sandbox"
    and not env.bool("SHOP_ALLOW_SANDBOX_IN_PRODUCTION", default=False)
):
    raise ImproperlyConfigured("production refuses the sandbox payment provider (set SHOP_ALLOW_SANDBOX_IN_PRODUCTION)")

# --- Idempotency and audit ---------------------------------------------------
IDEMPOTENCY_KEY_TTL = timedelta(days=env.int("IDEMPOTENCY_KEY_TTL_DAYS", default=7))
# A request still "in progress" after this long is taken as abandoned (its
# process died) and a retry may run it again.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(seconds=env.int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", default=60))

# --- I18N, static -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG
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
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Probes and the metrics scraper talk plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Logging (structlog, JSON in production) -------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "casino.logconfig.make_formatter", "json": PRODUCTION},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
