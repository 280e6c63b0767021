"""The performance targets of docs/architecture.md ("Performance targets") and the
pass/miss table of a run against them: latency per endpoint family at the
target rate, the stage verdicts and the sustained rate of the player scenario
as a share of the bare purchase's saturation rate, the in-process CPU ratios
and commit counts (bench/cpu.py), integrity and ingestion."""

from __future__ import annotations

import math
from typing import Any

from .socket_stats import PUSH_P95_MS
from .socket_stats import problems as socket_problems

# Endpoint families and their p95 targets at 200 req/s (docs/architecture.md, "Performance targets"):
# every read, claim, purchase and game round of the player scenario. Sign-in (login, sign-up, refresh)
# is reported apart (production's password hasher), and so are the retries and duplicates.
TARGETS_MS = {
    "dashboard": ("read", 25.0),
    "balance": ("read", 25.0),
    "shop_catalog": ("read", 25.0),
    "events": ("read", 25.0),
    "missions": ("read", 25.0),
    "streak_claim": ("claim", 40.0),
    "vip_claim": ("claim", 40.0),
    "mission_claim": ("claim", 40.0),
    "event_join": ("claim", 40.0),
    "buy_gems": ("purchase", 50.0),
    "buy_money": ("purchase", 50.0),
    "webhook": ("purchase", 50.0),
    # A game round is a money write of the same shape as a purchase (wallet lock, ledger entries, one
    # commit, progress counted), so it is held to the purchase's target.
    "slot_spin": ("game round", 50.0),
    "crash_bet": ("game round", 50.0),
}
# A p95 needs this many requests to be one (of fewer it is their maximum, or next to it): an endpoint
# with fewer in a stage (an event join: sign-ups only) is judged within its family, every request of
# the family pooled -- a pool that is judged in every stage whatever its endpoints' counts.
MIN_JUDGED_REQUESTS = 20
INGESTION_TARGET_S = 3.0
# The arrival rate the targets are stated at: the report reads that stage.
TARGET_RATE = 200.0
# The player scenario must hold its p95 targets, without errors, at this share of the bare purchase's
# saturation rate measured in the same run (bench/bare.py, the "bare_purchase" saturation series).
SUSTAINED_SHARE = 0.30
ARRIVAL_HELD = 0.95
# The targets (docs/architecture.md, "Performance targets"): CPU per request as a ratio to a reference row
# measured in the same run, and commits per request.
CPU_TARGETS: dict[str, tuple[str, float]] = {
    "balance": ("bare_read", 2.0),
    "buy_gems": ("bare_purchase", 3.0),
    "buy_money": ("bare_purchase", 3.0),
    "webhook": ("bare_purchase", 3.0),
    "streak_claim": ("bare_purchase", 3.0),
    "vip_claim": ("bare_purchase", 3.0),
    "mission_claim": ("bare_purchase", 3.0),
    "slot_spin": ("bare_purchase", 3.0),
}
# Commits of ours: not the sandbox payment provider's own writes (a remote service in production; counting.py).
COMMIT_TARGETS: dict[str, int] = {"buy_money": 2, "buy_gems": 1, "streak_claim": 1, "vip_claim": 1, "mission_claim": 1}


def family_limits() -> dict[str, float]:
    """Each endpoint family's p95 target (every endpoint of a family has its family's)."""
    return {family: limit for family, limit in TARGETS_MS.values()}


def judged(row: dict[str, Any] | None) -> bool:
    """Whether an endpoint's p95 in a stage is judged on its own (:data:`MIN_JUDGED_REQUESTS`)."""
    return row is not None and row["requests"] >= MIN_JUDGED_REQUESTS


def stage_verdict(stage: dict[str, Any]) -> dict[str, Any]:
    """A measured stage passes when every p95 target holds -- each endpoint's with
    enough requests to have a p95, and each family's over all its requests --,
    nothing failed and the arrival rate was held; the reasons when it does not."""
    reasons = []
    for name, (_family, limit) in TARGETS_MS.items():
        row = stage["endpoints"].get(name)
        if judged(row) and not row["p95_ms"] <= limit:
            reasons.append(f"p95 {name} {row['p95_ms']:.0f} ms > {limit:g}")
    for family, limit in family_limits().items():
        row = stage.get("families", {}).get(family)
        if row and not row["p95_ms"] <= limit:
            reasons.append(f"p95 of all {family}s {row['p95_ms']:.0f} ms > {limit:g}")
    if stage["total"]["errors"]:
        reasons.append(f"{stage['total']['errors']} errors")
    if stage["achieved_rps"] < ARRIVAL_HELD * stage["target_rps"]:
        reasons.append(f"arrival {stage['achieved_rps']:.0f} of {stage['target_rps']:g} req/s")
    if stage.get("sockets"):  # the players' sockets (bench/player_socket.py): pushes on time, none lost
        reasons += socket_problems(stage["sockets"])
    return {"ok": not reasons, "reasons": reasons}


def sustained(stages: list[dict[str, Any]], saturation: dict[str, Any] | None) -> dict[str, Any]:
    """The highest achieved rate of a passing stage and its share of the bare
    purchase's saturation peak (closed loop, same run)."""
    passing = [stage for stage in stages if stage["measured"] and stage.get("verdict", {}).get("ok")]
    best = max(passing, key=lambda stage: stage["achieved_rps"]) if passing else None
    bare = ((saturation or {}).get("series") or {}).get("bare_purchase")
    bare_rps = bare["peak_rps"] if bare else None
    rate = best["achieved_rps"] if best else 0.0
    return {
        "stage": best["name"] if best else None,
        "rps": rate,
        "bare_purchase_rps": bare_rps,
        "share": rate / bare_rps if bare_rps else None,
    }


def machine_cost(stages: list[dict[str, Any]], saturation: dict[str, Any] | None, cores: int) -> dict[str, Any] | None:
    """What a request of the player mix costs the whole machine (every process on it: the
    servers, PostgreSQL, Redis, the pipeline, the load generator) against what a bare
    purchase costs it at its saturation peak, both from the ``/proc`` samples of the same
    run (``stage["cpu"]``, ``step["cpu"]``: mean cores busy, ``cpu_total``), and what that
    arithmetic allows on ``cores`` cores:

    * ``mix_ms`` = 1000 x cores busy / requests a second, in the measured stage where it
      was lowest (as a rule the fastest, whose rate spreads the machine's fixed work over
      the most requests: the bound below is the most generous one);
    * ``cores_at_share`` = :data:`SUSTAINED_SHARE` x the bare purchase's peak rate x
      ``mix_ms`` / 1000: the cores the mix asks for at the target share;
    * ``ceiling_share`` = (``cores`` x 1000 / ``mix_ms``) / the bare purchase's peak rate:
      the share of that peak the mix reaches with every core busy and no headroom for its p95s.

    None without a bare purchase saturation series or a stage with CPU samples."""
    bare = ((saturation or {}).get("series") or {}).get("bare_purchase")
    if not bare:
        return None
    peaks = [
        step
        for step in (saturation or {}).get("steps", [])
        if step["series"] == "bare_purchase" and step["concurrency"] == bare["peak_concurrency"]
    ]
    bare_cores = (peaks[0].get("cpu") or {}).get("cpu_total") if peaks else None
    costs = [
        (1000 * stage["cpu"]["cpu_total"] / stage["achieved_rps"], stage)
        for stage in stages
        if stage["measured"] and stage["achieved_rps"] and (stage.get("cpu") or {}).get("cpu_total")
    ]
    if not costs or not bare["peak_rps"]:
        return None
    mix_ms, cheapest = min(costs, key=lambda cost: cost[0])
    bare_ms = 1000 * bare_cores / bare["peak_rps"] if bare_cores else None
    return {
        "stage": cheapest["name"],
        "mix_ms": mix_ms,
        "bare_purchase_ms": bare_ms,
        "ratio": mix_ms / bare_ms if bare_ms else None,
        "cores": cores,
        "cores_at_share": SUSTAINED_SHARE * bare["peak_rps"] * mix_ms / 1000,
        "ceiling_share": cores * 1000 / mix_ms / bare["peak_rps"],
    }


def target_stage(measured: list[dict[str, Any]], target_rate: float) -> dict[str, Any] | None:
    """The stage the p95 targets are read at: the one at the sustained share of the bare
    purchase's saturation (its rate set as that share, bench/stages.py), else the one at
    ``target_rate`` requests a second, else the fastest."""
    chosen = [stage for stage in measured if stage.get("share") is not None and at_target(stage, target_rate)]
    chosen = chosen or [stage for stage in measured if at_target(stage, target_rate)]
    if chosen:
        return chosen[-1]
    return max(measured, key=lambda stage: stage["target_rps"]) if measured else None


def at_target(stage: dict[str, Any], target_rate: float) -> bool:
    """Whether a stage is one the targets are stated at: its rate the sustained share of the
    bare purchase's saturation, or ``target_rate`` requests a second."""
    if stage.get("share") is not None:
        return math.isclose(stage["share"], SUSTAINED_SHARE)
    return math.isclose(stage["target_rps"], target_rate)


def evaluate_targets(
    stages: list[dict[str, Any]],
    *,
    target_rate: float,
    duplicate_grants: int | None,
    audit_ok: bool | None,
    ingestion_p95_s: float | None,
    cpu: dict[str, Any] | None = None,
    saturation: dict[str, Any] | None = None,
    whole_sockets: dict[str, Any] | None = None,
    cores: int | None = None,
) -> dict[str, Any]:
    """The Targets table (``whole_sockets``: bench/socket_stats.py over the whole player load;
    ``cores``: the machine's, for :func:`machine_cost`)."""
    for stage in stages:
        if stage["measured"]:
            stage["verdict"] = stage_verdict(stage)
    measured = [stage for stage in stages if stage["measured"]]
    stage = target_stage(measured, target_rate)
    rows = []
    if stage is not None:
        for name, (family, limit) in TARGETS_MS.items():
            row = stage["endpoints"].get(name)
            value = row["p95_ms"] if row else float("nan")
            if row is None:  # an overloaded short stage may end before any journey reaches this step
                measured, ok = "no request in this stage", False
            elif judged(row):
                measured, ok = f"{value:.1f} ms", bool(value <= limit)
            else:
                measured = f"{value:.1f} ms of {row['requests']} requests: judged within all {family}s"
                ok = None  # not a verdict of its own: the family's row below is
            target = f"p95 {name} ({family})"
            rows.append({"target": target, "limit": f"<= {limit:g} ms", "measured": measured, "ok": ok})
        for family, limit in family_limits().items():
            row = stage.get("families", {}).get(family)
            if row:
                rows.append(
                    {
                        "target": f"p95 of all {family}s ({row['requests']} requests)",
                        "limit": f"<= {limit:g} ms",
                        "measured": f"{row['p95_ms']:.1f} ms",
                        "ok": bool(row["p95_ms"] <= limit),
                    }
                )
        errors = stage["total"]["errors"]
        rows.append({"target": "errors", "limit": "0", "measured": str(errors), "ok": errors == 0})
        achieved = stage["achieved_rps"]
        rows.append(
            {
                "target": "arrival rate held",
                "limit": f">= {ARRIVAL_HELD * stage['target_rps']:.0f} req/s",
                "measured": f"{achieved:.1f} req/s",
                "ok": achieved >= ARRIVAL_HELD * stage["target_rps"],
            }
        )
        sockets = stage.get("sockets")
        if sockets and sockets["pushes"]:
            p95 = sockets["delay_ms"]["p95"]
            rows.append(
                {
                    "target": "p95 push, event to the player's socket",
                    "limit": f"< {PUSH_P95_MS:g} ms",
                    "measured": f"{p95:.1f} ms ({sockets['pushes']} pushes)",
                    "ok": p95 < PUSH_P95_MS,
                }
            )
    if stages:
        all_errors = sum(st["total"]["errors"] for st in stages)
        rows.append(
            {"target": "errors, whole player load", "limit": "0", "measured": str(all_errors), "ok": all_errors == 0}
        )
    if whole_sockets:
        lost = whole_sockets["lost"] + whole_sockets["duplicated"]
        rows.append(
            {
                "target": "pushes lost or repeated, whole player load",
                "limit": "0",
                "measured": f"{whole_sockets['lost']} lost, {whole_sockets['duplicated']} repeated "
                f"of {whole_sockets['pushes']}",
                "ok": lost == 0,
            }
        )
    held = None
    if measured:
        held = sustained(stages, saturation)
        share = held["share"]
        rows.append(
            {
                "target": "player scenario sustained (best passing stage) / bare purchase saturation",
                "limit": f">= {100 * SUSTAINED_SHARE:.0f} %",
                "measured": (
                    f"{100 * share:.0f} % ({held['rps']:.1f} / {held['bare_purchase_rps']:.1f} req/s"
                    f"{', ' + held['stage'] if held['stage'] else ', no stage passed'})"
                    if share is not None
                    else "no bare purchase saturation in this run"
                ),
                "ok": share is not None and share >= SUSTAINED_SHARE,
            }
        )
    cost = machine_cost(stages, saturation, cores) if measured and cores else None
    if cost:
        rows.append(
            {
                "target": "machine CPU a mix request allows (every core busy) / bare purchase saturation",
                "limit": "informational",
                "measured": f"{100 * cost['ceiling_share']:.0f} % ({cost['mix_ms']:.1f} ms a request, {cost['stage']})",
                "ok": None,
            }
        )
    if cpu:
        rows += cpu.get("targets", [])
    if duplicate_grants is not None:
        rows.append(
            {"target": "duplicate grants", "limit": "0", "measured": str(duplicate_grants), "ok": duplicate_grants == 0}
        )
    if audit_ok is not None:
        rows.append(
            {
                "target": "ledger audit",
                "limit": "clean",
                "measured": "clean" if audit_ok else "VIOLATIONS",
                "ok": audit_ok,
            }
        )
    if ingestion_p95_s is not None:
        rows.append(
            {
                "target": "ingestion delay p95",
                "limit": f"< {INGESTION_TARGET_S:g} s",
                "measured": f"{ingestion_p95_s:.2f} s",
                "ok": ingestion_p95_s < INGESTION_TARGET_S,
            }
        )
    return {
        "sustained": held,
        "machine_cost": cost,
        "stage": stage["name"] if stage else None,
        "stage_rate": stage["target_rps"] if stage else None,
        "at_target_rate": stage is not None and at_target(stage, target_rate),
        "rows": rows,
        "all_ok": all(row["ok"] for row in rows if row["ok"] is not None),
    }


# --- the in-process table (bench/cpu.py): ratios and targets ------------------------------------------


def _number(value: Any) -> float | None:
    """A count as a number (the upper end of "a-b")."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value.rsplit("-", 1)[-1])
    return float(value)


def evaluate_cpu(table: dict[str, Any], *, python_loop_ms: float | None) -> None:
    """Adds to each row its ratio to its reference and to the reference loop,
    its targets and their verdicts; adds ``targets`` (rows of the Targets table)."""
    rows = {row["endpoint"]: row for row in table["rows"]}
    target_rows = []
    for row in table["rows"]:
        reference = rows.get(row["reference"]) if row["reference"] else None
        cpu = row["cpu_ms"]
        # The reference requests interleaved with the row's (the machine's speed drifts), else its own row.
        ref_cpu = row.get("paired_cpu_ms") or (reference["cpu_ms"] if reference else None)
        row["ref_cpu_ms"] = ref_cpu
        row["ratio"] = cpu / ref_cpu if cpu and ref_cpu else None
        row["loop_pct"] = 100 * cpu / python_loop_ms if cpu and python_loop_ms else None
        verdicts = []
        if row["endpoint"] in CPU_TARGETS:
            ref_name, limit = CPU_TARGETS[row["endpoint"]]
            ok = row["ratio"] is not None and row["errors"] == 0 and row["ratio"] <= limit
            row["cpu_limit"] = limit
            verdicts.append(ok)
            target_rows.append(
                {
                    "target": f"CPU {row['endpoint']} / {ref_name}",
                    "limit": f"<= {limit:g}x",
                    "measured": (
                        f"{row['ratio']:.1f}x ({cpu:.2f} / {ref_cpu:.2f} ms)" if row["ratio"] else "not measured"
                    ),
                    "ok": ok,
                }
            )
        if row["endpoint"] in COMMIT_TARGETS:
            limit_commits = COMMIT_TARGETS[row["endpoint"]]
            total = _number(row["commits"])
            provider = _number(row.get("provider_commits")) or 0
            commits = None if total is None else total - provider
            ok = commits is not None and commits <= limit_commits
            row["commit_limit"] = limit_commits
            verdicts.append(ok)
            target_rows.append(
                {
                    "target": f"commits {row['endpoint']}",
                    "limit": f"<= {limit_commits}",
                    "measured": "not counted"
                    if commits is None
                    else f"{commits:g}" + (f" (+ {provider:g} by the sandbox provider)" if provider else ""),
                    "ok": ok,
                }
            )
        row["verdict"] = None if not verdicts else ("PASS" if all(verdicts) else "MISS")
    table["targets"] = target_rows
    table["python_loop_ms"] = python_loop_ms
