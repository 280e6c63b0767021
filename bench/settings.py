"""Settings of the processes a benchmark run starts: ``casino.settings`` plus
three overrides, nothing else. Passwords are hashed as in production (PBKDF2): a
login or a sign-up costs what it costs there, and the player scenario models
sessions as players have them instead (bench/journey.py: most visits resume
with the refresh token the app kept; the seed hashes its one password once).

* ``TRUST_X_FORWARDED_FOR``: production sits behind the load balancer, which
  appends the client address to ``X-Forwarded-For``. The bench talks to
  gunicorn directly on 127.0.0.1 and plays the balancer: every simulated
  player sends its own address. Without it every order would come from one
  IP and the fraud rules (``orders_per_ip_1h``) would block the run.
* ``ROOT_URLCONF``: ``bench/urls.py``, the project's routes plus the
  bare-framework reference under ``/bench/bare/`` (``bench/bare.py``), which
  the performance targets are ratios to. Production never serves it.
* ``MIDDLEWARE``: with ``BENCH_TIMING_DIR`` set (the API pool's workers),
  ``bench.timing.RequestTimingMiddleware`` first: a line per request on where
  its time went.

Everything else comes from the environment bench/run.py builds (``bench.server.app_env``:
``APP_ENV=production``, the run's own database, Redis DB, Kafka topic and
ClickHouse database).
"""

import os

from casino.settings import *  # noqa: F403

TRUST_X_FORWARDED_FOR = True
# This package's URLconf: ``bench.urls``, or ``bench_current.urls`` when bench/against.py
# loads today's bench into an older checkout.
ROOT_URLCONF = __name__.rsplit(".", 1)[0] + ".urls"

# bench/timing.py: where each request's time goes (a line per request), for the API pool only:
# bench/server.py sets the directory for it and not for the login pool or the ASGI server.
if os.environ.get("BENCH_TIMING_DIR"):
    MIDDLEWARE = [__name__.rsplit(".", 1)[0] + ".timing.RequestTimingMiddleware", *MIDDLEWARE]  # noqa: F405
