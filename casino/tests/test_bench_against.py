"""``make bench`` prints the in-process table of the code as the performance work found it
next to today's (the Makefile's ``BENCH_AGAINST``; bench/against.py, ``--against REV``).

The end-to-end test runs ``bench/run.py --cpu-only --smoke --against <that commit>``: the
commit is unpacked from this repository's history, migrated on a database of its own and
measured with today's bench, and the report sets both tables side by side. What it checks
is behaviour the two versions really differ in -- the starting point committed three
times in a claim or a gem purchase, today's code once -- so a table that measured today's
code twice, or nothing, fails. Speed is not asserted.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from casino.tests.bench_runs import bench_run, require_bench_tools
from conftest import require_service

ROOT = Path(settings.BASE_DIR)
ONE_COMMIT_ROWS = ("mission_claim", "streak_claim", "vip_claim", "buy_gems")


def makefile_baseline() -> str:
    found = re.search(r"^BENCH_AGAINST \?= (\S+)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert found, "the Makefile names no BENCH_AGAINST"
    return found.group(1)


def bench_command(target: str, *variables: str) -> str:
    """The ``bench/run.py`` line ``make -n <target>`` would run (the socket bench's aside)."""
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", target, *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    (line,) = [line for line in planned if "bench/run.py" in line and " sockets" not in line]
    return line


@pytest.mark.parametrize("target", ["bench", "bench-quick", "bench-cpu"])
def test_each_bench_target_compares_with_the_starting_point_unless_told_otherwise(target: str) -> None:
    baseline = makefile_baseline()
    assert f"--against {baseline}" in bench_command(target)
    assert "--against" not in bench_command(target, "BENCH_AGAINST=")
    assert "--against HEAD" in bench_command(target, "BENCH_AGAINST=HEAD")


def require_the_starting_point(baseline: str) -> str:
    """The commit (its full sha) is in this clone's history; a shallow clone (or a tarball) may not hold it."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", f"{baseline}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if found.returncode == 0:
        return found.stdout.strip()
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if shallow.stdout.strip() != "false":
        pytest.skip(f"{baseline} is not in this clone's history (a shallow clone, or no git checkout)")
    pytest.fail(f"the Makefile's BENCH_AGAINST {baseline} is not a commit of this history: {found.stderr}")


def test_the_starting_point_is_a_commit_of_this_history() -> None:
    baseline = makefile_baseline()
    sha = require_the_starting_point(baseline)
    assert re.fullmatch(r"[0-9a-f]{40}", sha) and sha.startswith(baseline), sha


@pytest.mark.services
@pytest.mark.long
@pytest.mark.timeout(240)
def test_the_report_sets_the_starting_points_table_beside_todays(tmp_path: Path) -> None:
    require_service("Kafka", bool(settings.KAFKA_BOOTSTRAP_SERVERS))
    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))
    require_bench_tools()
    baseline = makefile_baseline()
    require_the_starting_point(baseline)
    run = bench_run(tmp_path, "--cpu-only", "--smoke", "--against", baseline, timeout=200)
    run_dir, data = run.directory, run.data

    theirs = data["cpu_against"]
    assert "error" not in theirs, theirs.get("error")
    assert theirs["described"].startswith(f"commit {baseline[:7]}"), theirs["described"]
    today = {row["endpoint"]: row for row in data["cpu"]["rows"]}
    then = {row["endpoint"]: row for row in theirs["rows"]}
    assert set(then) == set(today)
    assert [name for name, row in then.items() if row["errors"]] == []
    for name in ONE_COMMIT_ROWS:  # what the two versions do differently, read from each run
        assert today[name]["commits"] == 1, (name, today[name]["commits"])
        assert then[name]["commits"] > 1, (name, then[name]["commits"])
        assert then[name]["statements"] > today[name]["statements"], name

    report = (run_dir / "report.md").read_text()
    section = report[report.index(f"### Today's tree vs {theirs['label']}") :]
    assert theirs["described"] in section
    assert re.search(r"^\| buy_gems \| [\d.]+ \| [\d.]+ \| [+-]\d+ % \|", section, flags=re.MULTILINE), section[:3000]
