"""report.md: the Markdown report of a run, built from its ``results.json``."""

from __future__ import annotations

from typing import Any

from bench.report_cells import fmt, markdown_table
from bench.report_cpu import cpu_sections
from bench.targets import SUSTAINED_SHARE, TARGET_RATE


def _verdict(ok: bool | None) -> str:
    """A target row's mark; None: no verdict of its own (a p95 of too few requests, bench/targets.py)."""
    return "-" if ok is None else "ok" if ok else "MISSED"


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
        f"{v['gunicorn']}, uvicorn {v.get('uvicorn', '-')}, daphne {v['daphne']}, Locust {v['locust']}, "
        f"{v['pgbench']}, ClickHouse {v['clickhouse']}",
        f"* git {meta['git_sha']}; started {meta['started']}; {meta['duration_s']:.0f} s in all",
        (
            "* in-process only (--cpu-only): no server, no load"
            if meta["config"].get("cpu_only")
            else f"* stack: gunicorn {meta['config']['workers']} sync workers (WSGI, /api)"
            + (
                ""
                if meta["config"].get("one_pool")
                else f" and a login pool of {meta['config'].get('login_workers', meta['config']['workers'])} more "
                "at a lower CPU priority "
                "(password logins and sign-ups, as compose's web-login)"
            )
            + f", uvicorn (ASGI), relay, sink; {meta['config']['players']} players seeded in "
            f"{meta.get('seed_seconds', 0):.1f} s"
        ),
        "",
    ]
    targets = result.get("targets")
    if targets and targets["stage"] is None:
        out += ["## Targets", "", "No player stage ran (--skip-player or --cpu-only): only the checks below.", ""]
        out.append(
            markdown_table(
                ["target", "limit", "measured", ""],
                [[r["target"], r["limit"], r["measured"], _verdict(r["ok"])] for r in targets["rows"]],
            )
        )
        out.append("")
    elif targets:
        where = f"stage {targets['stage']} ({fmt(targets['stage_rate'], 0)} req/s)"
        if not targets["at_target_rate"]:
            where += (
                f" -- NOT a stage the targets are stated at ({SUSTAINED_SHARE * 100:g} % of the bare purchase's "
                f"saturation, or {TARGET_RATE:g} req/s): a smoke or short run"
            )
        out += [f"## Targets ({where})", ""]
        out.append(
            markdown_table(
                ["target", "limit", "measured", ""],
                [[row["target"], row["limit"], row["measured"], _verdict(row["ok"])] for row in targets["rows"]],
            )
        )
        out.append("")
    player = result.get("player")
    if player:
        out += ["## Player scenario, open loop (per stage)", ""]
        for stage in player["stages"]:
            label = "warm-up, not measured" if not stage["measured"] else "measured"
            out.append(
                f"### {stage['name']}: target {stage['target_rps']:g} req/s{_share_text(stage)}, "
                f"achieved {stage['achieved_rps']:.1f} "
                f"req/s, {stage['users']} users, {stage['seconds']:.0f} s ({label})"
            )
            out.append("")
            verdict = stage.get("verdict")
            if verdict:
                out.append(
                    "**PASS**: every p95 target, no errors, arrival rate held"
                    + (", every push on time" if stage.get("sockets") else "")
                    if verdict["ok"]
                    else "**MISS**: " + "; ".join(verdict["reasons"])
                )
                out.append("")
            stolen = stage.get("stolen")
            if stolen and stolen["seconds"] >= 1:
                out += [_stolen_line(stolen), ""]
            hashing = stage.get("hashing")
            if hashing and hashing["seconds"] >= 1:
                out += [_hashing_line(hashing), ""]
            if stage.get("cpu"):
                out += [_cpu_line(stage["cpu"], stage["achieved_rps"]), ""]
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
                markdown_table(
                    ["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows
                )
            )
            out.append("")
            if stage.get("server"):
                out += [_server_line(stage["server"], t.get("p95_ms")), ""]
            if stage.get("sockets"):
                out += [_sockets_line(stage["sockets"]), ""]
            if stage.get("timing"):
                out += _timing_lines(stage["timing"])
        counters = player.get("counters", {})
        if counters:
            out.append("Scenario counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
            out.append("")
        if player.get("errors"):
            out += ["Errors (first 20 kinds):", ""]
            out += [f"* {count} x {text}" for text, count in list(player["errors"].items())[:20]]
            out.append("")
    out += cpu_sections(result)
    ceiling = result.get("ceiling")
    if ceiling:
        out += [
            f"## PostgreSQL ceiling: pgbench `{ceiling['script']}` ({ceiling['seconds_per_level']} s per level)",
            "",
        ]
        out.append(
            markdown_table(
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
        out += ["## Saturation, closed loop (bare purchase / purchase / claim endpoints alone)", ""]
        out.append(
            markdown_table(
                [
                    "series",
                    "concurrency",
                    "ok req/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "errors",
                    "gunicorn cores",
                    "gunicorn ms CPU/req",
                    "PostgreSQL (all databases) ms CPU/req",
                ],
                [
                    [
                        s["series"],
                        s["concurrency"],
                        s["ok_rps"],
                        s["p50_ms"],
                        s["p95_ms"],
                        s["p99_ms"],
                        s["errors"],
                        fmt((s.get("cpu") or {}).get("cpu_gunicorn"), 2),
                        fmt((s.get("cpu") or {}).get("gunicorn_ms_per_request"), 2),
                        fmt((s.get("cpu") or {}).get("postgres_ms_per_request"), 2),
                    ]
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
        held = (result.get("targets") or {}).get("sustained")
        if held and held.get("share") is not None:
            out.append(
                f"* **player scenario**: {held['rps']:.1f} req/s sustained "
                f"({held['stage'] or 'no stage passed'}) = {100 * held['share']:.0f} % of the bare purchase's "
                f"{held['bare_purchase_rps']:.0f} req/s"
            )
        cost = (result.get("targets") or {}).get("machine_cost")
        if cost:
            out.append(_machine_cost_line(cost))
        out.append("")
    pipeline = result.get("pipeline")
    if pipeline:
        ing = pipeline.get("ingestion", {})
        out += ["## Pipeline (outbox -> Kafka -> ClickHouse)", ""]
        out.append(
            f"* outbox lag during the player load: max {fmt(pipeline['outbox_lag_max_s'], 2)} s, p95 "
            f"{fmt(pipeline['outbox_lag_p95_s'], 2)} s; pending rows max {pipeline['outbox_pending_max']}"
        )
        for label, block in (("player load", ing.get("player")), ("whole run", ing.get("run"))):
            if block:
                out.append(
                    f"* ingestion delay ({label}): {block['events']} events in ClickHouse of {block['outbox_events']} "
                    f"in the outbox; p50 {fmt(block['p50_s'], 2)} s, p95 {fmt(block['p95_s'], 2)} s, p99 "
                    f"{fmt(block['p99_s'], 2)} s, max {fmt(block['max_s'], 2)} s"
                )
        for stage in ing.get("stages", []):
            out.append(f"  * {stage['name']}: p95 {fmt(stage['p95_s'], 2)} s over {stage['events']} events")
        out.append("")
    integrity = result.get("integrity")
    if integrity:
        out += ["## Integrity after the load", ""]
        out.append(f"* `manage.py audit_ledger`: exit {integrity['audit_exit']} -- {integrity['audit_summary']}")
        out.append(
            markdown_table(
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
            f"{profile.get('clients', '?')} clients back to back: {fmt(load.get('ok_rps'))} req/s, "
            f"p50 {fmt(load.get('p50_ms'))} ms, p95 {fmt(load.get('p95_ms'))} ms)",
            "",
            "Where the leaf frame is (wall-clock: waits count):",
            "",
        ]
        out.append(markdown_table(["share %", "leaf in"], [[r["pct"], r["frame"]] for r in profile["leaf_categories"]]))
        out += ["", "The project's own functions, inclusive:", ""]
        out.append(
            markdown_table(["inclusive %", "function"], [[r["pct"], r["frame"]] for r in profile["app_inclusive"][:30]])
        )
        out += ["", "Leaf functions (self):", ""]
        out.append(markdown_table(["self %", "function"], [[r["pct"], r["frame"]] for r in profile["self"][:15]]))
        out.append("")
    notes = result.get("notes", []) + result.get("analysis_notes", [])
    if notes:
        out += ["## Notes", ""] + [f"* {note}" for note in notes] + [""]
    return "\n".join(out)


def _server_line(server: dict[str, dict[str, Any]], client_p95_ms: float | None) -> str:
    """What the API pool's own latency histogram counted over the stage, beside the client's p95."""
    whole = server.get("all")
    if not whole:
        return "Server side: the API pool's latency histogram counted no request in this stage."
    views = sorted(
        ((key, row) for key, row in server.items() if key != "all"), key=lambda item: -int(item[1]["requests"])
    )
    by_view = ", ".join(f"{key} {fmt(row['p95_ms'], 0)}" for key, row in views[:8])
    outside = (
        f" The client's p95 was {fmt(client_p95_ms, 0)} ms: the rest is time outside Django (waiting for a free "
        "worker, gunicorn, the network, the client)."
        if client_p95_ms is not None
        else ""
    )
    return (
        "Server side (the API pool's own request-latency histogram, from Django's first middleware in to its last "
        f"out; linear within its buckets): {whole['requests']} requests, p50 {fmt(whole['p50_ms'], 1)} ms, p95 "
        f"{fmt(whole['p95_ms'], 1)} ms, p99 {fmt(whole['p99_ms'], 1)} ms; p95 by view, ms: {by_view}.{outside}"
    )


def _shares(row: dict[str, Any]) -> str:
    share = row["share"]
    return (
        f"on a core {share['cpu_ms']:.0%}, waiting for a core {share['runq_ms']:.0%}, in PostgreSQL's "
        f"statements {share['db_ms']:.0%}, the rest {share['rest_ms']:.0%}"
    )


def _timing_lines(timing: dict[str, Any]) -> list[str]:
    """Where the API pool's time went over the stage (bench/timing.py): per view, and the slow requests."""
    whole, slow = timing["all"], timing["slow"]
    slow_text = (
        f"; of the {slow['requests']} that took over {timing['slow_ms']:g} ms: {_shares(slow)}"
        if slow["requests"]
        else f"; none took over {timing['slow_ms']:g} ms"
    )
    lines = [
        "Where the API pool's time went (bench/timing.py: each request's time in Django split into its thread "
        "on a core, its thread ready but waiting for a core, waiting inside PostgreSQL's statements, and the "
        "rest: COMMIT, Redis, the interpreter lock). Of the "
        f"{whole['requests']} requests' summed time: {_shares(whole)}{slow_text}.",
        "",
    ]
    views = sorted(timing["views"].items(), key=lambda item: -int(item[1]["requests"]))
    rows = [
        [
            view,
            row["requests"],
            f"{row['wall_ms']['p50']:.1f} / {row['wall_ms']['p95']:.1f}",
            f"{row['cpu_ms']['p50']:.1f} / {row['cpu_ms']['p95']:.1f}",
            f"{row['runq_ms']['p50']:.1f} / {row['runq_ms']['p95']:.1f}",
            f"{row['db_ms']['p50']:.1f} / {row['db_ms']['p95']:.1f}",
            f"{row['rest_ms']['p50']:.1f} / {row['rest_ms']['p95']:.1f}",
            f"{row['statements']:.1f}",
        ]
        for view, row in views
    ]
    headers = [
        "view",
        "requests",
        "in Django ms p50 / p95",
        "on a core",
        "waiting for a core",
        "in PostgreSQL",
        "the rest",
        "statements",
    ]
    return [*lines, markdown_table(headers, rows), ""]


def _sockets_line(sockets: dict[str, Any]) -> str:
    delay = sockets["delay_ms"]
    failed = ", ".join(f"{reason} {n}" for reason, n in sockets["connect_failures"].items()) or "none"
    dropped = ", ".join(f"{reason} {n}" for reason, n in sockets["dropped"].items()) or "none"
    types = ", ".join(f"{name} {n}" for name, n in sockets["by_type"].items())
    return (
        "The players' sockets (bench/player_socket.py, the app's `/api/realtime/sync` on the ASGI server): "
        f"{sockets['connects']} opened (p95 {fmt(sockets['connect_p95_ms'])} ms to the initial state; refused: "
        f"{failed}); {sockets['pushes']} events pushed ({sockets['pushes_per_s']:.0f}/s: {types or 'none'}), "
        f"from the event to the player p50 {fmt(delay['p50'])} / p95 {fmt(delay['p95'])} / p99 {fmt(delay['p99'])} / "
        f"max {fmt(delay['max'])} ms; lost {sockets['lost']}{_resync_text(sockets)}, repeated "
        f"{sockets['duplicated']}; dropped by the "
        f"server: {dropped}; {sockets['feed']} live-feed messages."
    )


def _resync_text(sockets: dict[str, Any]) -> str:
    """What the sockets' resyncs brought back of the lost events (absent from older results)."""
    if not sockets.get("resyncs"):
        return ""
    return (
        f" ({sockets['resyncs']} resyncs: {sockets['recovered']} replayed, "
        f"{sockets['covered_by_state']} covered by a fresh state)"
    )


def _stolen_line(stolen: dict[str, Any]) -> str:
    """The seconds of a stage the VM's neighbours took its CPUs in, and the p95s without them."""
    p95 = ", ".join(f"{name} {value:.0f}" for name, value in stolen["p95_ms_outside"].items())
    return (
        f"The hypervisor gave more than {stolen['threshold_cores']:g} cores of this VM to another guest in "
        f"{stolen['seconds']:.0f} of the stage's {stolen['stage_seconds']:.0f} s (up to {stolen['max_cores']:.2f} "
        f"cores at once). {_outside_text(p95)}"
    )


def _hashing_line(hashing: dict[str, Any]) -> str:
    """The seconds of a stage the login pool hashed passwords in, and the p95s without them."""
    p95 = ", ".join(f"{family}s {value:.1f}" for family, value in hashing["p95_ms_outside"].items())
    return (
        f"The login pool hashed passwords (more than {hashing['threshold_cores']:g} cores) in "
        f"{hashing['seconds']:.0f} of the stage's {hashing['stage_seconds']:.0f} s: "
        f"{hashing['share_of_requests'] * 100:.0f} % of the requests with a p95 target started in those seconds, "
        f"{hashing['share_of_slowest'] * 100:.0f} % of their slowest 5 %. {_outside_text(p95)}"
    )


def _outside_text(p95: str) -> str:
    """The end of a line on seconds set apart (the hypervisor's, the hashing's): the p95s without them."""
    return f"p95 of the requests that started in the other seconds, ms: {p95}. The verdict above counts every second."


def _machine_cost_line(cost: dict[str, Any]) -> str:
    """The arithmetic of the sustained share (bench/targets.py, ``machine_cost``)."""
    bare = (
        f", the bare purchase's {cost['bare_purchase_ms']:.1f} ms at its peak ({cost['ratio']:.1f}x)"
        if cost["bare_purchase_ms"]
        else ""
    )
    return (
        f"* **the machine's CPU a request**: the mix {cost['mix_ms']:.1f} ms (all processes; stage "
        f"{cost['stage']}, its cheapest){bare}; at {100 * SUSTAINED_SHARE:.0f} % of the bare purchase's "
        f"saturation the mix asks for {cost['cores_at_share']:.2f} of the {cost['cores']} cores, and with "
        f"every core busy and no headroom for its p95s it reaches {100 * cost['ceiling_share']:.0f} %"
    )


def _share_text(stage: dict[str, Any]) -> str:
    """How a stage's rate was set when it is a share of the bare purchase's saturation (bench/stages.py)."""
    if stage.get("share") is None:
        return ""
    return f" ({stage['share'] * 100:g} % of the bare purchase's {stage['reference_rps']:.1f} req/s)"


def _cpu_line(cpu: dict[str, Any], rps: float) -> str:
    return (
        f"CPU over the stage (mean cores busy): gunicorn {fmt(cpu.get('cpu_gunicorn'), 2)} "
        f"(= {fmt(cpu.get('gunicorn_ms_per_request'), 2)} ms per request at {rps:.1f} req/s; of it the login pool "
        f"{fmt(cpu.get('cpu_login'), 2)}, the API pool {fmt(cpu.get('api_ms_per_request'), 2)} ms per request), "
        "PostgreSQL, all "
        f"databases {fmt(cpu.get('cpu_postgres'), 2)} ({fmt(cpu.get('postgres_ms_per_request'), 2)} ms per request), "
        f"Locust {fmt(cpu.get('cpu_locust'), 2)}, relay/sink/ASGI {fmt(cpu.get('cpu_pipeline'), 2)}, other work "
        f"{fmt(cpu.get('cpu_other'), 2)}, stolen by the hypervisor {fmt(cpu.get('cpu_stolen'), 2)}; "
        f"machine {fmt(cpu.get('cpu_total'), 2)}"
    )
