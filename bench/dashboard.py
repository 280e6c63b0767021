"""How fast the staff dashboard (the admin index) opens with 100,000 players.

Seeds a scratch PostgreSQL database in SQL (``generate_series``, server-side: about a minute
for the default data set) and times the admin index uncached (the dashboard's cache cleared
before every request) and cached, through Django's test client in this process, plus each
query of one uncached build. Not a test: run it by hand::

    .venv/bin/python bench/dashboard.py                       # 100k players, seeds casino_dashboard_bench
    .venv/bin/python bench/dashboard.py --reuse               # measure again without seeding
    .venv/bin/python bench/dashboard.py --players 20000 --rounds-per-day 20000

The database is kept for inspection (``dropdb casino_dashboard_bench`` removes it). The data
set, shaped like a mid-size social casino:

* players joined over the last 400 days; 20 % regulars active 70 % of days, 40 % casual (10 %),
  40 % gone: about 18,000 daily, 60,000 monthly actives, 1.1 million ``PlayerDay`` rows
  (60 days) and ``last_seen_at`` agreeing with them;
* 5 % of players pay: 400 real-money orders a day over a year (90 % fulfilled, the rest
  refunded, failed or expired) and 800 gem-priced ones, 50 pending and 10 in review now;
* ``--rounds-per-day`` game rounds (default 100,000) on each of the last 30 days;
* 300,000 outbox rows (the last day's sent ones, a few pending and dead), three ledger audits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE = "casino_dashboard_bench"
FINAL_CHARTS = ("signups", "dau", "rounds")  # charts whose past days are kept (past_days_final)


def say(message: str) -> None:
    sys.stdout.write(f"{message}\n")
    sys.stdout.flush()


def _server_url() -> str:
    """The PostgreSQL server of DATABASE_URL (default: the local one), without a database name."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _prepare_database(name: str, *, reuse: bool) -> bool:
    """Create the scratch database (dropping an old one unless ``reuse``); whether to seed it."""
    import psycopg

    with psycopg.connect(f"{_server_url()}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reuse:
            return False
        if exists:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return True


# Every statement runs in UTC (Django sets the connection's time zone to UTC).
SEED_SQL = [
    (
        "players",
        """
        INSERT INTO accounts_user (password, is_superuser, site_id, nickname, nickname_skeleton, phone_number,
            email, is_staff, is_active, date_joined, token_version, pending_limit_clears)
        SELECT '!', false, 'dash' || i, 'Dash player ' || i, 'dash player ' || i, '+1666' || lpad(i::text, 8, '0'),
            '', false, true, now() - random() * interval '400 days', 0, false
        FROM generate_series(1, %(players)s) i
        """,
    ),
    (
        "active days (60 days)",
        """
        INSERT INTO accounts_playerday (user_id, day)
        SELECT u.id, d::date
        FROM accounts_user u CROSS JOIN generate_series(current_date - 59, current_date, interval '1 day') d
        WHERE d::date >= u.date_joined::date
          -- a hash of (player, day), not random(): PostgreSQL would draw that once per player
          AND abs(hashtext(u.id || ':' || d::date)) %% 100
              < CASE WHEN u.id %% 10 < 2 THEN 70 WHEN u.id %% 10 < 6 THEN 10 ELSE 0 END
        """,
    ),
    (
        "last seen",
        """
        UPDATE accounts_user u SET last_seen_at = last.day::timestamptz
            + least(random() * interval '24 hours', now() - last.day::timestamptz)
        FROM (SELECT user_id, max(day) AS day FROM accounts_playerday GROUP BY user_id) last
        WHERE last.user_id = u.id
        """,
    ),
    (
        "products",
        """
        INSERT INTO shop_product (sku, name, description, kind, price_type, price_amount, price_currency, grants,
            grant_items, is_active, is_highlighted, sort_order, min_vip_tier, created_at, updated_at)
        VALUES ('dash-gems-usd', 'Gem pack (USD)', '', 'gem_pack', 'money', 499, 'USD', '{"gems": 500}', '[]',
                true, false, 1, '', now(), now()),
               ('dash-gold-gems', 'Gold pack (gems)', '', 'gold_pack', 'gems', 50, '', '{"gold": 5000}', '[]',
                true, false, 2, '', now(), now())
        """,
    ),
    (
        "orders (a year)",
        """
        WITH bounds AS (SELECT min(id) AS first, count(*) AS n FROM accounts_user),
        products AS (SELECT (SELECT id FROM shop_product WHERE sku = 'dash-gems-usd') AS money_product,
                            (SELECT id FROM shop_product WHERE sku = 'dash-gold-gems') AS gems_product),
        rows AS (
            SELECT i, now() - random() * interval '365 days' AS at, i %% 3 = 0 AS is_money,
                   CASE WHEN i %% 100 < 90 THEN 'fulfilled' WHEN i %% 100 < 94 THEN 'refunded'
                        WHEN i %% 100 < 97 THEN 'failed' ELSE 'expired' END AS status
            FROM generate_series(1, %(orders)s) i
        )
        INSERT INTO shop_order (receipt_code, user_id, product_id, quantity, status, price_type, currency,
            unit_price, subtotal, discount, total, grants, grant_items, provider, provider_reference,
            checkout_url, idempotency_key, request_fingerprint, stock_held, failure_reason, device_id,
            created_at, updated_at, paid_at, fulfilled_at, refunded_at)
        SELECT 'DASH' || i, bounds.first + (i * 20) %% bounds.n,
            CASE WHEN is_money THEN money_product ELSE gems_product END, 1, status,
            CASE WHEN is_money THEN 'money' ELSE 'gems' END, CASE WHEN is_money THEN 'USD' ELSE 'gems' END,
            CASE WHEN is_money THEN 499 ELSE 50 END, CASE WHEN is_money THEN 499 ELSE 50 END, 0,
            CASE WHEN is_money THEN 499 ELSE 50 END, '{}', '[]', 'sandbox', '', '', 'dash-' || i, '', false, '', '',
            at - interval '2 minutes', at,
            CASE WHEN status IN ('fulfilled', 'refunded') THEN at END,
            CASE WHEN status IN ('fulfilled', 'refunded') THEN at END,
            CASE WHEN status = 'refunded' THEN at + interval '1 day' END
        FROM rows, bounds, products
        """,
    ),
    (
        "open orders",
        """
        WITH bounds AS (SELECT min(id) AS first, count(*) AS n FROM accounts_user)
        INSERT INTO shop_order (receipt_code, user_id, product_id, quantity, status, price_type, currency,
            unit_price, subtotal, discount, total, grants, grant_items, provider, provider_reference,
            checkout_url, idempotency_key, request_fingerprint, stock_held, failure_reason, device_id,
            created_at, updated_at)
        SELECT 'OPEN' || i, bounds.first + (i * 37) %% bounds.n,
            (SELECT id FROM shop_product WHERE sku = 'dash-gems-usd'), 1,
            CASE WHEN i <= 50 THEN 'pending' ELSE 'pending_review' END, 'money', 'USD', 499, 499, 0, 499,
            '{}', '[]', 'sandbox', '', '', 'open-' || i, '', false, '', '', now() - i * interval '10 seconds', now()
        FROM generate_series(1, 60) i, bounds
        """,
    ),
    (
        "fairness seeds",
        """
        INSERT INTO games_fairnessseed (user_id, server_seed, server_seed_hash, client_seed, next_nonce, created_at)
        SELECT id, md5(id::text) || md5(id::text), md5('h' || id) || md5('h' || id), 'c' || id, 0,
            now() - interval '60 days'
        FROM accounts_user WHERE id %% 10 < 6
        """,
    ),
    (
        "game rounds (30 days)",
        """
        WITH seeds AS (SELECT min(id) AS first, count(*) AS n FROM games_fairnessseed)
        INSERT INTO games_gameround (user_id, game, status, result, currency, bet_amount, payout, seed_id, nonce,
            client_seed, inputs, outcome, idempotency_key, request_fingerprint, created_at, settled_at)
        SELECT s.user_id, (ARRAY['slot', 'slot', 'crash', 'rps', 'gacha'])[1 + i %% 5], 'settled',
            CASE WHEN i %% 3 = 0 THEN 'win' ELSE 'lose' END, 'gold', 100, CASE WHEN i %% 3 = 0 THEN 250 ELSE 0 END,
            s.id, i, s.client_seed, '{}', '{}', 'r' || i, '', at, at
        FROM (SELECT i, now() - random() * interval '30 days' AS at, seeds.first + i %% seeds.n AS seed_id
              FROM generate_series(1, %(rounds)s) i, seeds) r
        JOIN games_fairnessseed s ON s.id = r.seed_id
        """,
    ),
    (
        "outbox",
        """
        INSERT INTO realtime_outboxevent (event_id, type, user_id, data, occurred_at, status, attempts,
            next_attempt_at, last_error, sent_at)
        SELECT gen_random_uuid(), CASE WHEN i %% 2 = 0 THEN 'game_round' ELSE 'balance_update' END, i, '{}',
            at, CASE WHEN i <= 20 THEN 'pending' WHEN i <= 23 THEN 'dead' ELSE 'sent' END,
            CASE WHEN i BETWEEN 21 AND 23 THEN 10 ELSE 1 END, at, '', CASE WHEN i > 23 THEN at + interval '1 second' END
        FROM (SELECT i,
                     now() - CASE WHEN i <= 20 THEN interval '2 seconds' ELSE random() * interval '24 hours' END AS at
              FROM generate_series(1, 300000) i) r
        """,
    ),
    (
        "ledger audits",
        """
        INSERT INTO economy_ledgerauditrun (started_at, finished_at, wallets_checked, entries_checked, ok, violations)
        SELECT now() - i * interval '1 day', now() - i * interval '1 day' + interval '40 seconds', %(players)s,
            %(players)s * 12, true, '[]'
        FROM generate_series(0, 2) i
        """,
    ),
]


def seed(players: int, rounds_per_day: int) -> None:
    from django.db import connection

    params = {"players": players, "orders": 1200 * 365 * players // 100_000, "rounds": rounds_per_day * 30}
    with connection.cursor() as cursor:
        for label, sql in SEED_SQL:
            started = time.perf_counter()
            cursor.execute(sql, params)
            say(f"  seeded {label}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a live database: statistics, visibility map
    say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")


# Indexes the dashboard's queries want on other apps' tables, for their owners to add in a
# migration; ``--recommended-indexes`` creates them here to measure the difference.
RECOMMENDED_INDEXES = {
    # shop.Order: revenue, payers and the revenue chart read fulfilled orders by fulfilment time;
    # the only index with the status (status, created_at) makes them read every fulfilled order.
    "order_fulfilled_idx": "CREATE INDEX IF NOT EXISTS order_fulfilled_idx ON shop_order (fulfilled_at) "
    "INCLUDE (price_type, currency, total, user_id) WHERE status = 'fulfilled'",
}


def create_recommended_indexes() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name, sql in RECOMMENDED_INDEXES.items():
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.execute("VACUUM ANALYZE shop_order")
            say(f"created {name} in {time.perf_counter() - started:.1f} s")


def _timed_queries(run: Any) -> list[tuple[float, str]]:
    from django.db import connection

    timings: list[tuple[float, str]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, sql))

    with connection.execute_wrapper(wrapper):
        run()
    return timings


def measure(runs: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from casino.dashboard import CACHE_KEY, dashboard_build

    staff, _ = get_user_model().objects.get_or_create(
        site_id="dashboard-bench-staff",
        defaults={
            "nickname": "Dashboard bench",
            "phone_number": "+19990000001",
            "is_staff": True,
            "is_superuser": True,
        },
    )
    staff.is_superuser = True  # sees every figure
    staff.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(staff)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_user WHERE NOT is_staff")
        (player_count,) = cursor.fetchone()

    def index(clear: Any) -> float:
        clear()
        started = time.perf_counter()
        response = client.get("/admin/")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        assert b'id="staff-dashboard"' in response.content
        return elapsed

    def new_day() -> None:
        """What the first build after midnight finds: yesterday not kept yet, nor the earlier takings."""
        yesterday = (timezone.now() - timedelta(days=1)).date()
        cache.delete_many([CACHE_KEY, *(f"{CACHE_KEY}:day:{chart}:{yesterday}" for chart in FINAL_CHARTS)])
        cache.delete_many([f"{CACHE_KEY}:kept:shop:sales-before:{timezone.now().date()}"])

    index(cache.clear)  # warm-up: templates, URL resolver, connection
    # Cold: nothing cached, the charts' 29 past days counted too (a new deployment with an empty Redis).
    cold = [index(cache.clear) for _ in range(runs)]
    first_of_day = [index(new_day) for _ in range(runs)]
    # Uncached: the dashboard built again (every CACHE_SECONDS), the charts' past days from the cache.
    uncached = [index(lambda: cache.delete(CACHE_KEY)) for _ in range(runs)]
    cached = [index(lambda: None) for _ in range(runs)]
    cache.clear()
    cold_queries = _timed_queries(dashboard_build)
    queries = _timed_queries(dashboard_build)
    data = dashboard_build()
    return {
        "players": player_count,
        "cold": cold,
        "first_of_day": first_of_day,
        "uncached": uncached,
        "cached": cached,
        "cold_queries": cold_queries,
        "queries": queries,
        "figures": {shown.key: shown.figure.text for shown in data.figures},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--rounds-per-day", type=int, default=100_000)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--runs", type=int, default=7, help="timed requests of each kind")
    parser.add_argument("--reuse", action="store_true", help="measure the existing database without seeding")
    parser.add_argument(
        "--recommended-indexes", action="store_true", help="create RECOMMENDED_INDEXES (other apps') first"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    fresh = _prepare_database(args.database, reuse=args.reuse)
    os.environ["DATABASE_URL"] = f"{_server_url()}/{args.database}"
    os.environ.pop("REDIS_URL", None)  # the local-memory cache: the uncached path is what is measured
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino.settings")
    os.environ["DEBUG"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    if fresh:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        say(f"migrated {args.database} in {time.perf_counter() - started:.1f} s; seeding")
        seed(args.players, args.rounds_per_day)

    if args.recommended_indexes:
        create_recommended_indexes()
    result = measure(args.runs)
    say(f"\n{result['players']:,} players, database {args.database}")
    for label, kind in (
        ("cold (nothing cached)", "cold"),
        ("first build of a day", "first_of_day"),
        ("uncached (rebuilt)", "uncached"),
        ("cached", "cached"),
    ):
        times = result[kind]
        say(
            f"admin index, dashboard {label}: median {statistics.median(times) * 1000:.0f} ms, "
            f"min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f} ({len(times)} requests)"
        )
    for label, kind in (("a cold build", "cold_queries"), ("an uncached build", "queries")):
        queries = result[kind]
        say(f"{label}: {len(queries)} queries, {sum(t for t, _ in queries) * 1000:.0f} ms")
        for seconds, sql in sorted(queries, reverse=True):
            say(f"  {seconds * 1000:7.1f} ms  {' '.join(sql.split())[:110]}")
    say("figures: " + "; ".join(f"{key}={text}" for key, text in result["figures"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
