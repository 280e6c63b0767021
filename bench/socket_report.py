"""The socket bench's report (bench/sockets.py writes it as ``report.md``): capacity,
mass disconnect, connect storms, push latency and loss, the in-process costs."""

from __future__ import annotations

from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def render(result: dict[str, Any]) -> str:
    cap, drop = result["capacity"], result["mass_disconnect"]
    lines = [
        f"# Sockets on one {result['meta'].get('server', 'daphne')} process",
        "",
        f"Cores: {result['meta']['cores']}; load average at start {result['meta']['loadavg_start']}, "
        f"at end {result['meta']['loadavg_end']} (the clients share the cores with the server).",
        "",
        "## Capacity (idle authenticated sockets)",
        "",
        "| sockets | RSS MB | Redis connections | PostgreSQL connections |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s['sockets']} | {s['rss_mb']} | {s['redis_connections']} | {s['postgres_connections']} |"
        for s in cap["steps"]
    ]
    lines += [
        "",
        f"Held {cap['held']} of {cap['requested']} ({cap['failed']} failed), {cap['with_initial_state']} with their "
        f"initial state, opened in {cap['open_seconds']} s; {cap['kb_per_socket']} KB a socket; "
        f"{cap['idle_cpu_percent_of_a_core']} % of a core while idle.",
        "",
        "## Mass disconnect",
        "",
        f"{drop['sockets']} sockets closed at once: the clients were done in {drop['client_close_seconds']} s, "
        f"Redis was clean (memberships and presence) after {drop['clean_seconds']} s, left: {drop['left_in_redis']}; "
        f"worst /health meanwhile {drop['health_worst_ms']} ms ({drop['health_failures']} failed); "
        f"errors in the server's log: {drop['server_errors_logged']}.",
        "",
        "## Connect storm",
        "",
        "| server | handshakes | succeeded | s to all greeted | connects/s | handshake p50 / p95 / max ms | "
        "s to all initial states | server CPU ms a connect (until greeted / in all) | client CPU s | "
        "Redis / PostgreSQL connections |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in (key for key in result if key.startswith("storm_")):
        s = result[name]
        label = name.removeprefix("storm_").replace("_", " ")
        lines.append(
            f"| {label} | {s['handshakes']} | {s['succeeded']} | {s['seconds_to_all_accepted']} | "
            f"{s['connects_per_second']} | {s['handshake_ms_p50']} / {s['handshake_ms_p95']} / "
            f"{s['handshake_ms_max']} | {s['seconds_to_all_initial_states']} | "
            f"{s['server_cpu_ms_per_connect_until_accepted']} / {s['server_cpu_ms_per_connect_in_all']} | "
            f"{s['client_cpu_seconds']} | {s['server']['redis_connections']} / {s['server']['postgres_connections']} |"
        )
    lines += [
        "",
        "## Push latency and loss (commit to client)",
        "",
        "| target events/s | committed | achieved/s | received | lost | brought back by a resync | seq gaps "
        "| p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {s['target_rate']:.0f} | {s['committed']} | {s['achieved_rate']} | {s['received']} | {s['lost']} | "
        f"{s.get('recovered_by_resync', '-')} | {s['seq_gaps']} | {s['latency_ms_p50']} | {s['latency_ms_p95']} | "
        f"{s['latency_ms_p99']} | "
        f"{s['latency_ms_max']} |"
        for s in result["pushes"]
    ]
    absent, state = result["push_cost_absent"], result["initial_state"]
    lines += [
        "",
        "## In process",
        "",
        f"A push to a player without a socket ({absent['events']} events): stock `group_send` "
        f"{absent['stock_group_send_us_per_event']} µs an event; the project's script "
        f"{absent['project_push_us_per_event_batch_1']} µs alone, {absent['project_push_us_per_event_batch_10']} µs "
        f"in batches of 10, {absent['project_push_us_per_event_batch_100']} µs in batches of 100.",
        "",
        f"One initial state: {state['queries_median']} queries, {state['ms_median']} ms median "
        f"({state['ms_p95']} ms p95; {state['cpu_ms_median']} ms of CPU) over {state['players']} players.",
    ]
    return "\n".join(lines) + "\n"
