"""report.md: the Markdown report of a run, built from its ``results.json``."""

from __future__ import annotations

import math
from typing import Any


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_f(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    m, v = meta["machine"], meta["versions"]
    out = [f"# Casino Club benchmark, run {meta['run_id']} ({meta['mode']})", ""]
    out += [
        f"* machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']:.1f} GB RAM, kernel {m['kernel']}",
        f"* single-core speed: {m.get('python_loop_ms', 0):.0f} ms of CPU for bench/run.py's reference loop "
        "(one million iterations of pure Python, best of 5; compare machines by it)",
        f"* load average at start {m['loadavg_start']}, at end {m.get('loadavg_end', '-')} "
        f"(other work on the machine makes these figures noisy; see pipeline.png, CPU panel)",
        f"* versions: Python {v['python']}, Django {v['django']}, PostgreSQL {v['postgresql']}, gunicorn "
        f"{v['gunicorn']}, daphne {v['daphne']}, Locust {v['locust']}, {v['pgbench']}, ClickHouse {v['clickhouse']}",
        f"* git {meta['git_sha']}; started {meta['started']}; {meta['duration_s']:.0f} s in all",
        f"* stack: gunicorn {meta['config']['workers']} sync workers (WSGI, /api), daphne (ASGI), relay, sink; "
        f"{meta['config']['players']} players seeded in {meta.get('seed_seconds', 0):.1f} s",
        "",
    ]
    targets = result.get("targets")
    if targets and targets["stage"] is None:
        out += ["## Targets", "", "No player stage ran (--skip-player): only the checks below.", ""]
        out.append(
            _table(
                ["target", "limit", "measured", ""],
                [[r["target"], r["limit"], r["measured"], "ok" if r["ok"] else "MISSED"] for r in targets["rows"]],
            )
        )
        out.append("")
    elif targets:
        where = f"stage {targets['stage']} ({_f(targets['stage_rate'], 0)} req/s)"
        if not targets["at_target_rate"]:
            where += " -- NOT the 200 req/s of the targets (smoke/short run)"
        out += [f"## Targets ({where})", ""]
        out.append(
            _table(
                ["target", "limit", "measured", ""],
                [
                    [row["target"], row["limit"], row["measured"], "ok" if row["ok"] else "MISSED"]
                    for row in targets["rows"]
                ],
            )
        )
        out.append("")
    player = result.get("player")
    if player:
        out += ["## Player scenario, open loop (per stage)", ""]
        for stage in player["stages"]:
            label = "warm-up, not measured" if not stage["measured"] else "measured"
            out.append(
                f"### {stage['name']}: target {stage['target_rps']:g} req/s, achieved {stage['achieved_rps']:.1f} "
                f"req/s, {stage['users']} users, {stage['seconds']:.0f} s ({label})"
            )
            out.append("")
            rows = [
                [
                    name,
                    row["requests"],
                    row["rps"],
                    row["p50_ms"],
                    row["p95_ms"],
                    row["p99_ms"],
                    row["max_ms"],
                    row["errors"],
                ]
                for name, row in stage["endpoints"].items()
            ]
            t = stage["total"]
            rows.append(
                ["**all**", t["requests"], t["rps"], t["p50_ms"], t["p95_ms"], t["p99_ms"], t["max_ms"], t["errors"]]
            )
            out.append(
                _table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows)
            )
            out.append("")
        counters = player.get("counters", {})
        if counters:
            out.append("Scenario counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
            out.append("")
        if player.get("errors"):
            out += ["Errors (first 20 kinds):", ""]
            out += [f"* {count} x {text}" for text, count in list(player["errors"].items())[:20]]
            out.append("")
    queries = result.get("queries")
    if queries:
        out += [
            "## SQL per request (bench/queries.py: one journey in-process, no server, no network)",
            "",
            "Every statement is a round trip to PostgreSQL, every transaction adds BEGIN and COMMIT.",
            "",
        ]
        out.append(
            _table(
                [
                    "endpoint",
                    "HTTP",
                    "statements",
                    "SELECT",
                    "INSERT/UPDATE",
                    "SAVEPOINT",
                    "commits",
                    "ms in-process",
                    "ms CPU (app)",
                ],
                [
                    [
                        q["endpoint"],
                        q["status"],
                        q["statements"],
                        q["selects"],
                        q["writes"],
                        q["savepoints"],
                        q["commits"],
                        q["in_process_ms"],
                        q.get("cpu_ms", "-"),
                    ]
                    for q in queries
                ],
            )
        )
        out.append("")
    ceiling = result.get("ceiling")
    if ceiling:
        out += [
            f"## PostgreSQL ceiling: pgbench `{ceiling['script']}` ({ceiling['seconds_per_level']} s per level)",
            "",
        ]
        out.append(
            _table(
                ["clients", "TPS", "p50 ms", "p95 ms", "p99 ms", "failed"],
                [
                    [lv["clients"], lv["tps"], lv["p50_ms"], lv["p95_ms"], lv["p99_ms"], lv["failed"]]
                    for lv in ceiling["levels"]
                ],
            )
        )
        best = ceiling["best"]
        out += [
            "",
            f"Ceiling: **{best['tps']:.0f} TPS** at {best['clients']} clients (p95 {best['p95_ms']:.2f} ms).",
            "",
        ]
    saturation = result.get("saturation")
    if saturation:
        out += ["## Saturation, closed loop (purchase / claim endpoints alone)", ""]
        out.append(
            _table(
                ["series", "concurrency", "ok req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
                [
                    [s["series"], s["concurrency"], s["ok_rps"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["errors"]]
                    for s in saturation["steps"]
                ],
            )
        )
        out.append("")
        for name, peak in saturation["series"].items():
            ratio = peak["ratio_to_ceiling"]
            out.append(
                f"* **{name}**: peak {peak['peak_rps']:.0f} req/s at {peak['peak_concurrency']} clients "
                f"(p95 {peak['peak_p95_ms']:.1f} ms); "
                + (
                    f"growth stopped after {peak['growth_stopped_after']} clients"
                    if peak["growth_stopped_after"]
                    else "no plateau within the steps run"
                )
                + (f"; {100 * ratio:.0f} % of the pgbench ceiling" if ratio else "")
            )
        out.append("")
    pipeline = result.get("pipeline")
    if pipeline:
        ing = pipeline.get("ingestion", {})
        out += ["## Pipeline (outbox -> Kafka -> ClickHouse)", ""]
        out.append(
            f"* outbox lag during the player load: max {_f(pipeline['outbox_lag_max_s'], 2)} s, p95 "
            f"{_f(pipeline['outbox_lag_p95_s'], 2)} s; pending rows max {pipeline['outbox_pending_max']}"
        )
        for label, block in (("player load", ing.get("player")), ("whole run", ing.get("run"))):
            if block:
                out.append(
                    f"* ingestion delay ({label}): {block['events']} events in ClickHouse of {block['outbox_events']} "
                    f"in the outbox; p50 {_f(block['p50_s'], 2)} s, p95 {_f(block['p95_s'], 2)} s, p99 "
                    f"{_f(block['p99_s'], 2)} s, max {_f(block['max_s'], 2)} s"
                )
        for stage in ing.get("stages", []):
            out.append(f"  * {stage['name']}: p95 {_f(stage['p95_s'], 2)} s over {stage['events']} events")
        out.append("")
    integrity = result.get("integrity")
    if integrity:
        out += ["## Integrity after the load", ""]
        out.append(f"* `manage.py audit_ledger`: exit {integrity['audit_exit']} -- {integrity['audit_summary']}")
        out.append(
            _table(
                ["check", "count"],
                [[name, value] for name, value in integrity["checks"].items()],
            )
        )
        out.append("")
        out.append("Informational: " + ", ".join(f"{k} {v}" for k, v in integrity["info"].items()))
        out.append("")
    profile = result.get("profile")
    if profile:
        load = profile.get("load", {})
        out += [
            f"## Profile: {profile['endpoint']} ({profile['samples']} in-request samples, py-spy --idle, "
            f"{profile.get('clients', '?')} clients back to back: {_f(load.get('ok_rps'))} req/s, "
            f"p50 {_f(load.get('p50_ms'))} ms, p95 {_f(load.get('p95_ms'))} ms)",
            "",
            "Where the leaf frame is (wall-clock: waits count):",
            "",
        ]
        out.append(_table(["share %", "leaf in"], [[r["pct"], r["frame"]] for r in profile["leaf_categories"]]))
        out += ["", "The project's own functions, inclusive:", ""]
        out.append(_table(["inclusive %", "function"], [[r["pct"], r["frame"]] for r in profile["app_inclusive"][:30]]))
        out += ["", "Leaf functions (self):", ""]
        out.append(_table(["self %", "function"], [[r["pct"], r["frame"]] for r in profile["self"][:15]]))
        out.append("")
    notes = result.get("notes", []) + result.get("analysis_notes", [])
    if notes:
        out += ["## Notes", ""] + [f"* {note}" for note in notes] + [""]
    return "\n".join(out)
