"""The benchmark tooling (bench/, ``make bench``) runs end to end, so it cannot rot.

``bench/run.py --smoke`` brings up the whole production-shaped stack on its
own throwaway database, Redis keys, Kafka topic, ClickHouse database and free
ports (gunicorn, uvicorn, relay, sink), seeds 20 players, measures the
in-process cost table against the bare-framework reference (bench/cpu.py),
runs one tiny pgbench level, the player scenario at 5 req/s for 10 s, one
closed-loop step per series (the bare purchase first), then the pipeline and
integrity checks, and writes its report and plots. It never touches the test
database. Speed is not asserted: the smoke sizes make its figures meaningless.

The bare-framework reference itself (bench/bare.py) is served only by the
bench's URLconf: production's never routes to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from casino.tests.bench_runs import bench_run, require_bench_tools
from conftest import require_service

ROOT = Path(settings.BASE_DIR)

pytestmark = [pytest.mark.timeout(300), pytest.mark.long]
BARE_PATHS = ("/bench/bare/wallet", "/bench/bare/purchase")


@pytest.mark.services
def test_bench_smoke_runs_end_to_end(tmp_path: Path) -> None:
    require_service("Kafka", bool(settings.KAFKA_BOOTSTRAP_SERVERS))
    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))
    require_bench_tools()

    run = bench_run(tmp_path, "--smoke", timeout=240)
    run_dir, data, output = run.directory, run.data, run.output

    # every phase produced numbers
    (stage,) = [stage for stage in data["player"]["stages"] if stage["measured"]]
    assert stage["total"]["requests"] >= 10, output
    assert stage["total"]["errors"] == 0, data["player"]["errors"]
    assert {"login", "dashboard", "streak_claim", "vip_claim", "buy_gems"} <= set(stage["endpoints"]), output
    # the players held the app's socket and what their requests changed was pushed to it, in order
    sockets = data["player"]["sockets"]
    assert sockets["connects"] >= 1 and sockets["connect_failures"] == {}, sockets
    assert {"balance_update", "game_event"} <= set(sockets["by_type"]), sockets
    assert sockets["lost"] == sockets["duplicated"] == 0 and sockets["dropped"] == {}, sockets
    assert 0 < sockets["delay_ms"]["p50"] < 5_000, sockets
    assert data["ceiling"]["best"]["tps"] > 0
    assert {step["series"] for step in data["saturation"]["steps"]} == {"bare_purchase", "purchase", "claim"}
    assert all(step["ok_rps"] > 0 for step in data["saturation"]["steps"]), data["saturation"]

    # the in-process table: the two reference rows, every row answered as expected, ratios and counts
    rows = {row["endpoint"]: row for row in data["cpu"]["rows"]}
    assert {"bare_read", "bare_purchase", "balance", "buy_gems", "buy_money", "webhook", "slot_spin"} <= set(rows)
    assert [row["problems"] for row in rows.values() if row["errors"]] == []
    assert (rows["bare_read"]["statements"], rows["bare_read"]["round_trips"], rows["bare_read"]["commits"]) == (
        1,
        2,
        0,
    )
    assert (rows["bare_purchase"]["statements"], rows["bare_purchase"]["commits"]) == (3, 1)
    for name in ("balance", "buy_gems", "webhook"):
        assert rows[name]["cpu_ms"] > 0 and rows[name]["ratio"] > 0, rows[name]
        assert rows[name]["verdict"] in {"PASS", "MISS"}
    assert rows["balance"]["reference"] == "bare_read" and rows["buy_gems"]["reference"] == "bare_purchase"
    # the demo's live operations are seeded: a round is counted towards them, its event requirements
    # advanced in the same statement (results.json keeps the first 240 characters of each statement)
    (counting,) = [sql for sql in rows["slot_spin"]["sql"] if "INTO events_countedsource" in sql]
    assert "UPDATE events_eventprogress" in counting, counting
    assert any(
        note.startswith("Live operations and the shop's catalog as `make run` seeds them") for note in data["notes"]
    ), data["notes"]
    targets = {row["target"] for row in data["targets"]["rows"]}
    assert {"CPU balance / bare_read", "CPU buy_gems / bare_purchase", "commits buy_money"} <= targets
    assert any(target.startswith("player scenario sustained") for target in targets), targets
    assert data["targets"]["sustained"]["bare_purchase_rps"] > 0
    assert stage["cpu"]["samples"] > 0 and "verdict" in stage
    assert stage["stolen"]["stage_seconds"] > 0 and stage["stolen"]["seconds"] >= 0  # the hypervisor's share
    # the machine's CPU split by who used it, stolen time apart from other work
    cores = data["pipeline"]["cpu_mean_cores"]
    parts = ("cpu_gunicorn", "cpu_locust", "cpu_pipeline", "cpu_postgres", "cpu_other", "cpu_stolen")
    assert all(cores[part] >= 0 for part in parts), cores
    assert cores["cpu_gunicorn"] > 0 and cores["cpu_postgres"] > 0, cores
    # the server's own latency histogram over the stage, beside the client's figures
    server = stage["server"]["all"]
    assert server["requests"] > 0, stage["server"]
    assert server["p95_ms"] is not None and server["p95_ms"] > 0
    # and every request of the API pool's workers split into where its time went (bench/timing.py)
    timing = stage["timing"]
    api_requests = stage["total"]["requests"] - sum(
        stage["endpoints"].get(name, {}).get("requests", 0) for name in ("login", "signup")
    )  # the login pool's are not the API pool's; the stage's edges are the client's clock
    assert abs(timing["all"]["requests"] - api_requests) <= max(3, api_requests // 20), (timing["all"], api_requests)
    assert timing["views"]["shop-buy"]["statements"] > 0, timing["views"]
    assert sum(timing["all"]["share"].values()) == pytest.approx(1.0, abs=0.01)  # less the clamped ~us

    # the pipeline delivered every event of the run to ClickHouse
    run_events = data["pipeline"]["ingestion"]["run"]
    assert run_events["events"] == run_events["outbox_events"] > 0, data["pipeline"]

    # integrity: a clean ledger and not one duplicate grant
    integrity = data["integrity"]
    assert integrity["audit_exit"] == 0, integrity["audit_output"]
    assert integrity["duplicate_grants"] == 0, integrity["checks"]
    assert "weekly rounds-played missions not equal to the player's settled rounds" in integrity["checks"]
    assert integrity["info"]["achievements unlocked"] > 0, integrity["info"]  # the first spins' "first-spin"

    # the report, with the machine, versions and git sha, and the plots
    report = (run_dir / "report.md").read_text()
    for heading in (
        "## Targets",
        "## Cost per request, steady state",
        "Server side (the API pool's own request-latency histogram",
        "Where the API pool's time went",
        "## Player scenario",
        "## PostgreSQL ceiling",
        "## Saturation",
        "## Integrity",
    ):
        assert heading in report
    assert data["meta"]["git_sha"] in report
    assert data["meta"]["versions"]["postgresql"] in report
    for plot in data["plots"]:
        assert (run_dir / plot).stat().st_size > 10_000, plot

    # it cleaned up after itself: its database and its ClickHouse database are gone
    import psycopg
    from clickhouse_driver import Client

    database = data["meta"]["stack"]["database"]
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [database]).fetchone()[0] == 0
    ch = urlparse(settings.CLICKHOUSE_URL)
    client = Client(host=ch.hostname or "127.0.0.1", port=ch.port or 9000, user=ch.username or "default")
    try:
        names = {row[0] for row in client.execute("SHOW DATABASES")}
    finally:
        client.disconnect()
    assert data["meta"]["stack"]["clickhouse_database"] not in names


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern.callback))
    return found


def test_production_never_serves_the_bare_reference() -> None:
    assert settings.ROOT_URLCONF == "casino.urls"
    for path in BARE_PATHS:
        assert resolve(path).url_name == "not-found", path
    from_bench = [
        route
        for route, view in _routes(get_resolver("casino.urls").url_patterns)
        if route.startswith("bench") or getattr(view, "__module__", "").startswith("bench")
    ]
    assert from_bench == []


@pytest.fixture
def bench_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "bench.urls"


@pytest.mark.django_db
@pytest.mark.usefixtures("bench_urls")
def test_bare_reference_needs_the_players_token(client: Client) -> None:
    for path in BARE_PATHS:
        response = client.generic("GET" if path.endswith("wallet") else "POST", path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "not_authenticated"
    garbage = client.get(BARE_PATHS[0], HTTP_AUTHORIZATION="Bearer not.a.token")
    assert garbage.status_code == 401


@pytest.mark.django_db
@pytest.mark.usefixtures("bench_urls")
def test_bare_reference_reads_the_wallet_and_buys_through_the_ledger(client: Client) -> None:
    from accounts.tokens import tokens_issue
    from economy.models import LedgerEntry, Wallet
    from economy.services.audit import ledger_audit_run
    from economy.tests.factories import player_with_wallet

    player = player_with_wallet(gold=500, gems=25)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens_issue(user=player).access}"}

    wallet = client.get("/bench/bare/wallet", **auth)
    assert wallet.status_code == 200
    assert wallet.json() == {"gold": 500, "gems": 25, "xp": 0, "vip_points": 0, "vip_tier": "STANDARD"}

    bought = client.post("/bench/bare/purchase", {"quantity": 2}, content_type="application/json", **auth)
    assert bought.status_code == 201, bought.content
    assert bought.json() == {"gems": 5, "delta": -20}
    assert Wallet.objects.get(user=player).gems == 5
    entry = LedgerEntry.objects.filter(wallet_id=player.pk, reason="purchase").get()
    assert (entry.currency, entry.delta, entry.balance_after) == ("gems", -20, 5)
    assert entry.idempotency_key.startswith("bare:")
    assert ledger_audit_run().ok

    # refusals change nothing
    for body, status, code in (
        ({"quantity": 0}, 400, "validation_error"),
        ({"quantity": "1"}, 400, "validation_error"),
        ({"quantity": 1}, 409, "insufficient_funds"),
    ):
        refused = client.post("/bench/bare/purchase", body, content_type="application/json", **auth)
        assert (refused.status_code, refused.json()["error"]) == (status, code), body
    assert Wallet.objects.get(user=player).gems == 5
    assert LedgerEntry.objects.filter(wallet_id=player.pk, reason="purchase").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_bench_seeds_the_demo_content_and_its_integrity_check_catches_a_round_counted_twice() -> None:
    from django.db import connection

    from accounts.models import User
    from bench import integrity, seed
    from events.models import EventParticipation, MissionProgress
    from games.services.slots import slot_spin

    seed.seed_demo_content()
    again = seed.seed_demo_content()  # idempotent: the second run creates nothing
    (player,) = seed.seed_players(1, prefix="bt", first_index=900_000)
    user = User.objects.get(pk=player["id"])
    for n in range(2):
        slot_spin(user=user, bet_amount=100, idempotency_key=f"bench-integrity-{n}")
    check = "weekly rounds-played missions not equal to the player's settled rounds"

    def mismatches() -> int:
        with connection.cursor() as cursor:
            cursor.execute(integrity.CHECKS[check])
            return int(cursor.fetchone()[0])

    weekly = MissionProgress.objects.get(user=user, template__code="weekly-play-100")
    assert "0 created" in again[1] and "already there" in again[2], again
    assert "package starter-week exists" in again[3], again  # the demo catalog, with its limited package
    assert EventParticipation.objects.filter(user=user).count() == 3  # every running demo event
    assert weekly.value == 2 and mismatches() == 0
    MissionProgress.objects.filter(pk=weekly.pk).update(value=3)  # a round counted twice
    assert mismatches() == 1
