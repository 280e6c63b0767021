"""A newcomer's first hour: two test runs on one host keep to their own names, and
`make run` fails fast on a busy port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings

import conftest

BASE_DIR = Path(settings.BASE_DIR)
HEADER = re.compile(
    r"test run (?P<run>\S+): database (?P<database>\S+), redis db (?P<redis>\d+), "
    r"kafka topic (?P<topic>\S+), clickhouse (?P<clickhouse>\S+)"
)


def start_collect_only_run() -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_RUN_ID", "TEST_REDIS_DB"}}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "casino/tests/test_infra_logging.py"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_runs_started_together_get_their_own_database_redis_db_topic_and_clickhouse_database() -> None:
    # Given this run (which holds a Redis db of its own) and two more pytest runs started at once
    runs = [start_collect_only_run(), start_collect_only_run()]

    # When both have configured themselves
    outputs = [run.communicate(timeout=240)[0] for run in runs]

    # Then each prints its own names, and no two runs share any of them
    names = []
    for output in outputs:
        match = HEADER.search(output)
        assert match, output
        names.append(match.groupdict())
    first, second = names
    for key in ("run", "database", "topic", "clickhouse"):
        assert first[key] != second[key], (key, first, second)
    assert first["database"].startswith("test_") and first["run"] in first["database"]
    assert conftest.RUN.redis_db is not None
    assert {int(first["redis"]), int(second["redis"])}.isdisjoint({0, conftest.RUN.redis_db})


def test_redis_claims_give_each_live_run_another_db_skip_unclaimed_data_and_take_over_dead_runs() -> None:
    # Given the Redis server of this run
    url = settings.REDIS_URL
    server = redis.Redis.from_url(url.rsplit("/", 1)[0], db=0, decode_responses=True)
    claims: list[tuple[int, str]] = []
    try:
        # When two live runs claim a database
        claims.append(conftest.claim_redis_db(url, "claimone"))
        claims.append(conftest.claim_redis_db(url, "claimtwo"))

        # Then they get different ones, neither db 0 nor this run's
        dbs = [db for db, _ in claims]
        assert len(set(dbs)) == 2 and 0 not in dbs and conftest.RUN.redis_db not in dbs

        # When a run that crashed (its pid is gone) left its claim behind
        dead_claim = f"{socket.gethostname()} 999999999 crashed"
        server.hset(conftest.REDIS_CLAIMS_KEY, str(dbs[0]), dead_claim)
        # Then a run may take that db over, but never a live run's
        holders = server.hgetall(conftest.REDIS_CLAIMS_KEY)
        assert conftest._claim_is_stale(holders[str(dbs[0])])
        assert not conftest._claim_is_stale(holders[str(dbs[1])])
    finally:
        for db, claim in claims:
            conftest.release_redis_db(url, db, claim)  # flushes only while the claim is still this one
            server.hdel(conftest.REDIS_CLAIMS_KEY, str(db))


def test_an_unclaimed_redis_db_that_holds_data_is_never_claimed() -> None:
    # Given every db but one claimed or filled... simplest: a run's claim succeeds,
    # and then the same db gets data from someone who does not claim
    url = settings.REDIS_URL
    base = url.rsplit("/", 1)[0]
    server = redis.Redis.from_url(base, db=0, decode_responses=True)
    db, claim = conftest.claim_redis_db(url, "claimdata")
    conftest.release_redis_db(url, db, claim)
    foreign = redis.Redis.from_url(base, db=db)
    foreign.set("someone-elses-key", "1")
    try:
        # When a run with the same id (same starting db) claims
        again, _claim = conftest.claim_redis_db(url, "claimdata")
        server.hdel(conftest.REDIS_CLAIMS_KEY, str(again))

        # Then it skips the db holding data it did not write, and that data survives
        assert again != db
        assert foreign.get("someone-elses-key") == b"1"
    finally:
        foreign.delete("someone-elses-key")


def make_check_port(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "check-port", f"PORT={port}", "HOST=127.0.0.1"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_run_fails_fast_naming_port_when_the_port_is_taken() -> None:
    # Given something listening on a port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        # When make checks that port before starting runserver
        result = make_check_port(port)

    # Then it fails with a message that says how to choose another port
    assert result.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert f"PORT={port + 1}" in result.stderr


def test_make_run_port_check_passes_on_a_free_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = make_check_port(port)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variable", ["KAFKA_PORT", "CLICKHOUSE_PORT"])
def test_services_sh_refuses_a_port_held_by_a_process_it_did_not_start(variable: str, tmp_path: Path) -> None:
    # Given a listener that is not one of ours on the port the script would use
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        other = "CLICKHOUSE_HTTP_PORT" if variable == "CLICKHOUSE_PORT" else "CLICKHOUSE_PORT"
        env = dict(os.environ, **{variable: str(port)}, SERVICES_TIMEOUT="2")
        env.pop(other, None)

        # When services.sh checks that service
        result = subprocess.run(
            ["scripts/services.sh", "check-owner", variable],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # Then it fails and names the variable to change
    assert result.returncode != 0, result.stderr
    assert f"{variable}={port}" in result.stderr and "not started by this checkout" in result.stderr
