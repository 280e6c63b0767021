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

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

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


def require_the_starting_point(baseline: str) -> None:
    """The commit is in this clone's history; a shallow clone (or a tarball) may not hold it."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", f"{baseline}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if found.returncode == 0:
        return
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if shallow.stdout.strip() != "false":
        pytest.skip(f"{baseline} is not in this clone's history (a shallow clone, or no git checkout)")
    pytest.fail(f"the Makefile's BENCH_AGAINST {baseline} is not a commit of this history: {found.stderr}")


def test_the_starting_point_is_a_commit_of_this_history() -> None:
    require_the_starting_point(makefile_baseline())


@pytest.mark.services
@pytest.mark.long
@pytest.mark.timeout(240)
def test_the_report_sets_the_starting_points_table_beside_todays(tmp_path: Path) -> None:
    require_service("Kafka", bool(settings.KAFKA_BOOTSTRAP_SERVERS))
    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))
    baseline = makefile_baseline()
    require_the_starting_point(baseline)
    run = ROOT / "bench" / "run.py"
    result = subprocess.run(
        [sys.executable, str(run), "--cpu-only", "--smoke", "--against", baseline, "--results-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    output = f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, output
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    data = json.loads((run_dir / "results.json").read_text())

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
