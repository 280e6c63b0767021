"""bench/stages.py and what reads it: the player stages' rates in requests a second or as
shares of the bare purchase's saturation, the order of a run's load phases, and the stage
the targets are read at (bench/targets.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from bench import load, report, stages
from bench.cli import parse_args
from bench.stack import BenchError
from bench.targets import (
    MIN_JUDGED_REQUESTS,
    SUSTAINED_SHARE,
    TARGET_RATE,
    evaluate_targets,
    machine_cost,
    stage_verdict,
    target_stage,
)

SERIES = ["bare_purchase", "purchase", "claim"]


def test_rates_are_requests_a_second_or_shares_of_the_bare_purchase() -> None:
    assert stages.parse_rates("50,100, 200") == [50.0, 100.0, 200.0]
    assert stages.parse_rates("10%,20%, 30%") == ["10%", "20%", "30%"]
    assert stages.parse_rates("12.5%,150") == ["12.5%", 150.0]
    assert [stages.share_of(rate) for rate in stages.parse_rates("10%,30%,50")] == [0.1, 0.3, None]


@pytest.mark.parametrize("text", ["", ",", "0", "-5", "0%", "-10%", "fast", "10%%", "inf", "nan%"])
def test_a_rate_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        stages.parse_rates(text)


def test_the_command_line_takes_shares_and_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["--rates", "10%,30%"]).rates == ["10%", "30%"]
    with pytest.raises(SystemExit):
        parse_args(["--rates", "ten"])
    assert "--rates" in capsys.readouterr().err


def test_a_share_resolves_against_the_reference_measured_before_it() -> None:
    (warmup, low, top) = stages.player_stages(["10%", "30%"], stage_seconds=60, warmup_seconds=20)
    assert (warmup["name"], warmup["measured"], warmup["share"], warmup["duration_s"]) == ("warmup", False, 0.1, 20)
    assert (low["name"], top["name"], top["share"], top["rate"]) == ("10%", "30%", 0.3, None)
    assert stages.resolve_rate(top, 712.94) == 213.9
    assert stages.resolve_rate(low, 1200.0) == 120.0
    # a reference that measured nothing still offers load (the stage then fails on its own)
    assert stages.resolve_rate(low, 0.0) == stages.MIN_RATE
    with pytest.raises(ValueError, match="not measured"):
        stages.resolve_rate(top, None)
    (fixed,) = stages.player_stages([150.0], stage_seconds=30, warmup_seconds=0)
    assert (fixed["name"], stages.resolve_rate(fixed, None), stages.resolve_rate(fixed, 999.0)) == (
        "150rps",
        150.0,
        150.0,
    )


def test_the_bare_purchase_runs_first_when_a_stage_is_a_share_of_it() -> None:
    shares = stages.player_stages(["10%", "30%"], stage_seconds=60, warmup_seconds=20)
    assert stages.phases(shares, SERIES) == [
        ("saturation", ["bare_purchase"]),
        ("gap", []),
        ("player", []),
        ("gap", []),
        ("saturation", ["purchase", "claim"]),
    ]
    fixed = stages.player_stages([50.0, 100.0], stage_seconds=60, warmup_seconds=20)
    assert stages.phases(fixed, SERIES) == [("player", []), ("gap", []), ("saturation", SERIES)]
    assert stages.phases([], SERIES) == [("saturation", SERIES)]
    assert stages.phases(shares, []) == [("player", [])]
    assert stages.phases(shares, ["bare_purchase"]) == [("saturation", ["bare_purchase"]), ("gap", []), ("player", [])]


def _plan_args(**overrides: Any) -> argparse.Namespace:
    values = {
        "skip_player": False,
        "skip_saturation": False,
        "rates": ["10%", "30%"],
        "stage_seconds": 60,
        "warmup_seconds": 20,
        "pacing": 2.0,
        "saturation_concurrency": [1, 2, 4],
        "saturation_step_seconds": 15,
        "saturation_settle_seconds": 3,
    }
    return argparse.Namespace(**{**values, **overrides})


def test_a_plan_of_shares_needs_the_closed_loop() -> None:
    said: list[str] = []
    planned, saturation, total = load.plan(_plan_args(), said.append)
    assert [stage["name"] for stage in planned] == ["warmup", "10%", "30%"]
    assert saturation is not None and saturation["series"] == SERIES
    assert "bare_purchase before the player scenario, purchase, claim after it" in said[-1]
    assert total > 140
    with pytest.raises(BenchError, match="needs the closed loop"):
        load.plan(_plan_args(skip_saturation=True), said.append)
    planned, saturation, _ = load.plan(_plan_args(skip_saturation=True, rates=[50.0]), said.append)
    assert saturation is None and [stage["rate"] for stage in planned] == [50.0, 50.0]


def _stage(name: str, rps: float, share: float | None) -> dict[str, Any]:
    return {
        "name": name,
        "measured": True,
        "target_rps": rps,
        "achieved_rps": rps,
        "share": share,
        "reference_rps": rps / share if share else None,
        "total": {"errors": 0},
        "endpoints": {"dashboard": {"p95_ms": 10.0, "requests": 100}},
    }


def test_the_targets_are_read_at_the_stage_of_the_sustained_share() -> None:
    at_share = _stage("30%", 150.0, SUSTAINED_SHARE)
    measured = [_stage("10%", 50.0, 0.1), _stage("fixed", TARGET_RATE, None), at_share, _stage("40%", 200.0, 0.4)]
    assert target_stage(measured, TARGET_RATE) is at_share
    # without a stage at the share, the one at the target rate, else the fastest
    assert target_stage(measured[:2], TARGET_RATE)["name"] == "fixed"
    assert target_stage([measured[0], measured[3]], TARGET_RATE)["name"] == "40%"
    assert target_stage([], TARGET_RATE) is None

    table = evaluate_targets(measured, target_rate=TARGET_RATE, duplicate_grants=0, audit_ok=True, ingestion_p95_s=None)
    assert (table["stage"], table["stage_rate"], table["at_target_rate"]) == ("30%", 150.0, True)
    table = evaluate_targets(
        [measured[0]], target_rate=TARGET_RATE, duplicate_grants=0, audit_ok=True, ingestion_p95_s=None
    )
    assert (table["stage"], table["at_target_rate"]) == ("10%", False)


def _saturation(peak_rps: float, peak_cores: float) -> dict[str, Any]:
    steps = [
        {"series": "bare_purchase", "concurrency": 8, "ok_rps": peak_rps / 2, "cpu": {"cpu_total": 1.0}},
        {"series": "bare_purchase", "concurrency": 16, "ok_rps": peak_rps, "cpu": {"cpu_total": peak_cores}},
        {"series": "purchase", "concurrency": 16, "ok_rps": 90.0, "cpu": {"cpu_total": 1.9}},
    ]
    series = {"bare_purchase": {"peak_rps": peak_rps, "peak_concurrency": 16}, "purchase": {"peak_concurrency": 16}}
    return {"steps": steps, "series": series}


def test_the_machine_cost_of_a_mix_request_bounds_the_share_two_cores_allow() -> None:
    # Given stages whose whole machine was 0.8 cores busy at 100 req/s (8 ms a request) and
    # 1.5 cores at 150 req/s (10 ms), and a bare purchase peaking at 800 req/s on 1.8 cores
    cheap, dear = _stage("10%", 100.0, 0.125), _stage("20%", 150.0, 0.1875)
    cheap["cpu"], dear["cpu"] = {"cpu_total": 0.8}, {"cpu_total": 1.5}
    saturation = _saturation(800.0, 1.8)
    # When the cost is read
    cost = machine_cost([dear, cheap], saturation, cores=2)
    # Then the cheapest stage's cost is the mix's, set against the bare purchase's at its peak
    assert cost is not None
    assert (cost["stage"], cost["mix_ms"], cost["bare_purchase_ms"]) == ("10%", 8.0, 2.25)
    assert cost["ratio"] == pytest.approx(8.0 / 2.25)
    # 30 % of 800 req/s at 8 ms is 1.92 cores; 2 cores at 8 ms carry 250 req/s = 31.25 % of 800
    assert cost["cores_at_share"] == pytest.approx(SUSTAINED_SHARE * 800 * 8 / 1000)
    assert cost["ceiling_share"] == pytest.approx(250 / 800)
    # without a bare purchase saturation, or without CPU samples, there is nothing to say
    assert machine_cost([cheap], None, cores=2) is None
    assert machine_cost([_stage("10%", 100.0, 0.1)], saturation, cores=2) is None


def test_the_targets_table_shows_the_machine_cost_as_information() -> None:
    stage = _stage("10%", 100.0, 0.125)
    stage["cpu"] = {"cpu_total": 0.8}
    table = evaluate_targets(
        [stage],
        target_rate=TARGET_RATE,
        duplicate_grants=0,
        audit_ok=True,
        ingestion_p95_s=None,
        saturation=_saturation(800.0, 1.8),
        cores=2,
    )
    row = next(row for row in table["rows"] if row["target"].startswith("machine CPU a mix request"))
    assert row["ok"] is None and row["measured"] == "31 % (8.0 ms a request, 10%)"
    assert table["machine_cost"]["ceiling_share"] == pytest.approx(250 / 800)
    # the report's summary states the same arithmetic
    line = report._machine_cost_line(table["machine_cost"])
    assert "the mix 8.0 ms" in line and "2.2 ms at its peak (3.6x)" in line and "1.92 of the 2 cores" in line


def test_the_login_pool_has_one_worker_unless_told_and_never_none() -> None:
    assert parse_args([]).login_workers == 1  # as compose's web-login
    assert parse_args(["--login-workers", "2"]).login_workers == 2
    with pytest.raises(SystemExit):
        parse_args(["--login-workers", "0"])


def _row(p95_ms: float, requests: int) -> dict[str, Any]:
    return {"p95_ms": p95_ms, "requests": requests}


def _with(endpoints: dict[str, Any], families: dict[str, Any]) -> dict[str, Any]:
    return {**_stage("10%", 50.0, 0.1), "endpoints": endpoints, "families": families}


def test_an_endpoint_with_too_few_requests_for_a_p95_is_judged_within_its_family() -> None:
    few = MIN_JUDGED_REQUESTS - 1
    claims_ok = {"claim": _row(30.0, 300)}
    # Given event joins (sign-ups only) whose few requests' "p95" is their slowest one
    stage = _with({"event_join": _row(46.0, few), "mission_claim": _row(30.0, 280)}, claims_ok)
    # Then the stage passes when every claim together holds the claims' target ...
    assert stage_verdict(stage) == {"ok": True, "reasons": []}
    table = evaluate_targets([stage], target_rate=TARGET_RATE, duplicate_grants=0, audit_ok=True, ingestion_p95_s=None)
    rows = {row["target"]: row for row in table["rows"]}
    joins = rows["p95 event_join (claim)"]
    assert joins["ok"] is None and "judged within all claims" in joins["measured"]
    assert rows["p95 of all claims (300 requests)"]["ok"]
    # ... and fails when they do not
    slow = _with({"event_join": _row(46.0, few)}, {"claim": _row(41.0, 300)})
    assert stage_verdict(slow)["reasons"] == ["p95 of all claims 41 ms > 40"]
    # with enough requests the endpoint is judged on its own, however its family does
    alone = _with({"event_join": _row(46.0, MIN_JUDGED_REQUESTS)}, claims_ok)
    assert stage_verdict(alone)["reasons"] == ["p95 event_join 46 ms > 40"]


def test_each_family_is_pooled_from_its_endpoints_requests(tmp_path: Path) -> None:
    from bench.latency import player_stats
    from bench.samples import Samples

    # Given a stage where 30 mission claims took 10 ms and 10 streak claims 100 ms
    lines = ["start,name,ms,ok,status"]
    lines += [f"{1000 + i * 0.1:.1f},mission_claim,10,1,200" for i in range(30)]
    lines += [f"{1000 + i * 0.1:.1f},streak_claim,100,1,200" for i in range(10)]
    lines += [f"{1000 + i * 0.1:.1f},balance,5,1,200" for i in range(5)]
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(lines) + "\n")
    timeline = [{"name": "10%", "rate": 20.0, "start": 999.0, "end": 1010.0}]
    (stage,) = player_stats(Samples.read(path), timeline, pacing_s=2.0)
    # Then the claims' pool holds all 40, its p95 among the slow ones; the reads' their 5
    assert stage["families"]["claim"]["requests"] == 40
    assert stage["families"]["claim"]["p95_ms"] == 100.0
    assert stage["families"]["read"]["requests"] == 5
    assert "purchase" not in stage["families"]
