"""From the files of a run to its numbers, targets, plots and report: the end of
every run, and ``bench/run.py --render RUN_DIR`` on a finished one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench import plots, socket_stats, timing
from bench.latency import player_stats, time_series
from bench.pipeline import (
    HASHING_CORES,
    SERVER_LATENCY_FILE,
    busy_windows,
    cpu_per_request,
    inside,
    server_latency,
    stolen_view,
    stolen_windows,
)
from bench.report import markdown
from bench.samples import PLAYER_ENDPOINTS, Samples
from bench.targets import TARGET_RATE, TARGETS_MS, evaluate_targets
from bench.throughput import rate_series, saturation_stats


def analyse(
    run_dir: Path,
    result: dict[str, Any],
    *,
    player_timeline: list[dict[str, Any]],
    counters: dict[str, Any],
    sat_timeline: list[dict[str, Any]],
    player_window: tuple[float, float],
    pipeline_samples: list[dict[str, Any]],
    latency_snapshots: list[dict[str, Any]] | None = None,
) -> None:
    """Numbers, targets and plots from the files of a run (also ``--render``)."""
    meta = result["meta"]
    config = meta["config"]
    pacing, bucket = float(config["pacing"]), float(config["bucket_seconds"])
    samples = Samples.read(run_dir / "samples-run.csv")
    stages = player_stats(samples, [s for s in player_timeline if "end" in s], pacing)
    late = counters.get("counters", {}).get("late_slots", 0)
    result["player"] = {
        "stages": stages,
        "counters": counters.get("counters", {}),
        "errors": counters.get("errors", {}),
        "open_loop": (
            f"{max((stage['users'] for stage in stages), default=0)} users at the top rate, each scheduling one "
            "request per "
            f"slot, slots {0.5 * pacing:g}-{1.5 * pacing:g} s apart on the clock; {late} slots "
            "started late (the previous request outlived its slot); a visit lasts "
            f"{config.get('visit_rounds', 1)} round(s) of play (bench/journey.py), "
            f"{float(config.get('login_ratio', 0.1)):.0%} of visits start with a password login"
        ),
    }
    ceiling_result = result.get("ceiling")
    ceiling_tps = ceiling_result["best"]["tps"] if ceiling_result else None
    if sat_timeline:
        result["saturation"] = saturation_stats(samples, [s for s in sat_timeline if "end" in s], ceiling_tps)
    # CPU per process group over each stage and closed-loop step (the sampler's rows, not the run's mean)
    requests = timing.read(run_dir / timing.DIRECTORY)
    socket_rows = socket_stats.read(run_dir / "sockets-run.csv")
    if socket_rows and stages:
        result["player"]["sockets"] = socket_stats.summary(socket_rows, stages[0]["start"], stages[-1]["end"])
    for stage in stages:
        if socket_rows:
            stage["sockets"] = socket_stats.summary(socket_rows, stage["start"], stage["end"])
        stage["cpu"] = cpu_per_request(pipeline_samples, stage["start"], stage["end"], stage["achieved_rps"])
        if stage["measured"]:
            stage["stolen"] = stolen_p95(samples, pipeline_samples, stage)
            stage["hashing"] = hashing_view(samples, pipeline_samples, stage)
        if latency_snapshots:
            stage["server"] = server_latency(latency_snapshots, stage["start"], stage["end"])
        if requests:
            stage["timing"] = timing.breakdown(requests, stage["start"], stage["end"])
    for step in (result.get("saturation") or {}).get("steps", []):
        step["cpu"] = cpu_per_request(pipeline_samples, step["t0"], step["t1"], step["ok_rps"])
    ing = result["pipeline"]["ingestion"].get("player", {})
    result["targets"] = evaluate_targets(
        stages,
        target_rate=TARGET_RATE,
        duplicate_grants=result["integrity"]["duplicate_grants"],
        audit_ok=result["integrity"]["audit_exit"] == 0,
        ingestion_p95_s=ing.get("p95_s"),
        cpu=result.get("cpu"),
        saturation=result.get("saturation"),
        whole_sockets=result["player"].get("sockets"),
        cores=meta["machine"]["cores"],
    )
    cpu = result["pipeline"]["cpu_mean_cores"]
    result["analysis_notes"] = [
        "Open loop: " + result["player"]["open_loop"] + ".",
        f"CPU during the player load (mean cores busy of {meta['machine']['cores']}): whole machine "
        f"{cpu['cpu_total']:.2f} = gunicorn {cpu['cpu_gunicorn']:.2f} (the login pool's password hashing "
        f"{cpu.get('cpu_login', float('nan')):.2f} of it) + Locust {cpu['cpu_locust']:.2f} + "
        f"relay/sink/ASGI {cpu['cpu_pipeline']:.2f} + PostgreSQL (all databases) {cpu['cpu_postgres']:.2f} + "
        f"other work {cpu['cpu_other']:.2f} + stolen by the hypervisor (the VM's CPUs given to another "
        f"guest) {cpu.get('cpu_stolen', float('nan')):.2f}. Load generator, server, PostgreSQL, the pipeline "
        "and other people's work share the same cores, and stolen time is CPU this machine did not have: "
        "treat the figures as noisy.",
        "Players send their own X-Forwarded-For (bench/settings.py trusts it, playing the load balancer); "
        "the payment provider's approvals are a conditional UPDATE of its own table, its webhooks are signed "
        "with shop.webhooks.signature_headers.",
    ]
    t0, t1 = player_window
    series = time_series(samples, PLAYER_ENDPOINTS, t0, t1, bucket)
    plots.plot_latency(run_dir / "latency_over_time.png", series, stages, t0, meta)
    plots.plot_throughput(run_dir / "throughput_vs_concurrency.png", result.get("saturation"), ceiling_result, meta)
    rates_series = rate_series(samples, PLAYER_ENDPOINTS, t0, t1, bucket)
    plots.plot_pipeline(
        run_dir / "pipeline.png", pipeline_samples, rates_series, stages, result["pipeline"]["ingestion"], t0, meta
    )
    result["plots"] = ["latency_over_time.png", "throughput_vs_concurrency.png", "pipeline.png"]


def stolen_p95(samples: Samples, pipeline_samples: list[dict[str, Any]], stage: dict[str, Any]) -> dict[str, Any]:
    """The seconds of a stage the hypervisor took more than ``STOLEN_CORES`` of the VM in, and each
    target endpoint's p95 over the requests that started in the other seconds: beside the verdict,
    which counts every second, to tell the code's latency from the machine's neighbours'."""
    t0, t1 = stage["start"], stage["end"]
    windows = stolen_windows(pipeline_samples, t0, t1)
    in_stage = samples.mask(None, t0, t1)
    view = stolen_view(samples.start[in_stage], windows, t0, t1, pipeline_samples)
    outside = view.pop("outside")
    groups = {name: [name] for name in TARGETS_MS}
    view["p95_ms_outside"] = p95_of_groups(samples.name[in_stage], samples.ms[in_stage], outside, groups)
    return view


def p95_of_groups(
    names: np.ndarray, ms: np.ndarray, keep: np.ndarray, groups: dict[str, list[str]]
) -> dict[str, float]:
    """The p95 of each group of endpoints over the requests ``keep`` marks (groups with none left out)."""
    out: dict[str, float] = {}
    for group, members in groups.items():
        of = keep & np.isin(names, members)
        if of.any():
            out[group] = float(np.percentile(ms[of], 95))
    return out


def hashing_view(
    samples: Samples, pipeline_samples: list[dict[str, Any]], stage: dict[str, Any]
) -> dict[str, Any] | None:
    """The seconds of a stage the login pool hashed passwords in (more than ``HASHING_CORES``: a
    hash holds a core for a quarter of a second or more), the share of the requests with a p95
    target that started in them, the share of the slowest 5 % of those that did, and each family's
    p95 over the requests that started in the other seconds: where the slowest requests crowd
    into the hashing's seconds, the stage's tail is the hashing's more than the requests' own."""
    t0, t1 = stage["start"], stage["end"]
    targeted = samples.mask(list(TARGETS_MS), t0, t1)
    if not targeted.any() or not any("cpu_login" in row for row in pipeline_samples):
        return None
    starts, ms, names = samples.start[targeted], samples.ms[targeted], samples.name[targeted]
    windows = busy_windows(pipeline_samples, t0, t1, "cpu_login", HASHING_CORES)
    hashing = inside(starts, windows)
    slowest = np.argsort(ms, kind="stable")[-max(1, round(0.05 * ms.size)) :]  # the slowest 5 %, by rank
    families: dict[str, list[str]] = {}
    for name, (family, _) in TARGETS_MS.items():
        families.setdefault(family, []).append(name)
    return {
        "threshold_cores": HASHING_CORES,
        "seconds": sum(end - start for start, end in windows),
        "stage_seconds": t1 - t0,
        "share_of_requests": float(hashing.mean()),
        "share_of_slowest": float(hashing[slowest].mean()),
        "p95_ms_outside": p95_of_groups(names, ms, ~hashing, families),
    }


def render(run_dir: Path) -> int:
    """Rebuild report.md, results.json and the plots of a finished run from its files."""
    result = json.loads((run_dir / "results.json").read_text())
    if not (run_dir / "timeline-run.json").exists():  # --cpu-only: no load, nothing to recompute
        report = markdown(result)
        (run_dir / "report.md").write_text(report)
        sys.stdout.write(report + "\n")
        return 0
    timeline = json.loads((run_dir / "timeline-run.json").read_text())
    counters_path = run_dir / "counters-run.json"
    counters = json.loads(counters_path.read_text()) if counters_path.exists() else {}
    pipeline_samples: list[dict[str, Any]] = []
    samples_path = run_dir / "pipeline-samples.csv"
    if samples_path.exists():
        lines = samples_path.read_text().splitlines()
        keys = lines[0].split(",")
        pipeline_samples = [
            {k: float(v) for k, v in zip(keys, line.split(","), strict=True) if v != ""} for line in lines[1:]
        ]
    latency_path = run_dir / SERVER_LATENCY_FILE
    latency_snapshots = json.loads(latency_path.read_text()) if latency_path.exists() else None
    if result.get("profile") and (run_dir / "profile").is_dir():
        from bench import pyspy as profile

        result["profile"].update(profile.summarize(run_dir / "profile"))
    player_timeline = [e for e in timeline if e.get("phase") == "player"]
    done = [e for e in player_timeline if "end" in e]
    window = (done[0]["start"], done[-1]["end"]) if done else (timeline[0]["start"], timeline[-1].get("end", 0))
    result["notes"] = [
        n for n in result.get("notes", []) if not n.startswith(("Open loop:", "CPU during", "Players send"))
    ]
    analyse(
        run_dir,
        result,
        player_timeline=player_timeline,
        counters=counters,
        sat_timeline=[e for e in timeline if e.get("phase") == "saturation"],
        player_window=window,
        pipeline_samples=pipeline_samples,
        latency_snapshots=latency_snapshots,
    )
    (run_dir / "results.json").write_text(json.dumps(result, indent=1, default=str))
    report = markdown(result)
    (run_dir / "report.md").write_text(report)
    sys.stdout.write(report + "\n")
    return 0
