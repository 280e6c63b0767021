# syntax=docker/dockerfile:1
#
# Casino Club production image. One image runs every process of the stack
# (docker-compose.yml): gunicorn (WSGI, /api HTTP), daphne (ASGI, WebSocket and
# SSE), Celery worker/beat/Flower and the manage.py daemons. The default command
# is the WSGI server; the other services override it.
#
#   docker build --build-arg GIT_SHA=$(git rev-parse --short=12 HEAD) -t casino-club .
#
# Nothing secret is baked in: the only key the build sees is a throw-away one,
# set for the collectstatic step alone (APP_ENV=development), and never ENV.
# At run time the container needs APP_ENV=production, SECRET_KEY and
# ALLOWED_HOSTS (see casino/settings.py). ALLOWED_HOSTS must include 127.0.0.1:
# the HEALTHCHECK below calls the server from inside the container.

FROM python:3.11-slim

ARG APP_VERSION=0.1.0
ARG BUILD_ID=docker
# .git is not in the build context (.dockerignore) and the image has no git, so
# /health's own `git rev-parse` fallback (casino/health.py) would answer "unknown": pass it in.
ARG GIT_SHA=unknown

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    APP_VERSION=${APP_VERSION} \
    BUILD_ID=${BUILD_ID} \
    GIT_SHA=${GIT_SHA}

# Every pinned dependency ships manylinux wheels for CPython 3.11 (psycopg[binary],
# confluent-kafka, clickhouse-driver, uvloop/httptools), so no compiler is needed.
RUN groupadd --system --gid 1000 app \
    && useradd --system --uid 1000 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time into STATIC_ROOT (var/staticfiles),
# which WhiteNoise serves. Development mode here needs no real key and no
# ALLOWED_HOSTS; it collects with the plain storage, so gzip the result the way
# production's CompressedStaticFilesStorage would (whitenoise's own compressor).
RUN APP_ENV=development SECRET_KEY=build-time-only-collectstatic-key-not-used-at-runtime \
        python manage.py collectstatic --noinput \
    && python -m whitenoise.compress --quiet var/staticfiles \
    && chown -R app:app /app/var

USER app

EXPOSE 8000

# /health does no I/O (liveness); /ready checks the dependencies. Plain HTTP to
# 127.0.0.1: /health is exempt from the HTTPS redirect (SECURE_REDIRECT_EXEMPT).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "casino.wsgi:application"]
