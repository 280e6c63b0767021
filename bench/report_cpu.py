"""The in-process table's sections of report.md (bench/cpu.py's rows, their targets) and, with
``--against``, the two versions side by side."""

from __future__ import annotations

from typing import Any

from bench.report_cells import fmt, markdown_table


def _target_text(row: dict[str, Any]) -> str:
    parts = []
    if row.get("cpu_limit") is not None:
        parts.append(f"<= {row['cpu_limit']:g}x")
    if row.get("commit_limit") is not None:
        parts.append(f"<= {row['commit_limit']} commit{'s' if row['commit_limit'] > 1 else ''}")
    return ", ".join(parts)


def cpu_sections(result: dict[str, Any]) -> list[str]:
    """The in-process table (bench/cpu.py) and, with --against, the two versions side by side."""
    table = result.get("cpu")
    if not table:
        return []
    config = table["config"]
    loop = table.get("python_loop_ms")
    out = [
        "## Cost per request, steady state (bench/cpu.py: in-process, against the bare reference)",
        "",
        f"Each row: {config['requests']} requests timed one by one after {config['warmup']} unmeasured ones, "
        f"each as another player, through Django's WSGI handler with the production settings; counts from "
        f"{config['count_requests']} more. **CPU ms**: the application's CPU per request (mean). **x ref**: "
        "that over the CPU of its reference, whose requests are interleaved with the row's (one right after "
        "each, as the same player, timed apart), so both meet the machine at the same speed: `bare_read` "
        "(DRF + simplejwt + one raw SELECT of the wallet) for reads, `bare_purchase` (DRF + simplejwt + lock the "
        "wallet, update it, insert the ledger entry, in one transaction) for writes -- what the bare framework "
        "costs doing the hot path's SQL (bench/bare.py). **% loop**: CPU over the header's reference loop "
        f"({fmt(loop, 0)} ms), to compare machines. **PG CPU**: the PostgreSQL backend's CPU per request. "
        "**round trips**: statements + BEGIN + COMMIT/ROLLBACK + health checks + prepares. **commits**: COMMITs "
        "+ writes in autocommit.",
        "",
    ]
    again = [row for row in table["rows"] if row.get("cpu_ms_again") is not None]
    if again:
        out += [
            "The reference rows on their own, before and after the others (how far the machine's speed drifted; "
            "a ratio uses the reference requests interleaved with its row): "
            + "; ".join(
                f"{row['endpoint']} {row['cpu_ms_first']:.2f} then {row['cpu_ms_again']:.2f} ms "
                f"({100 * (row['cpu_ms_again'] / row['cpu_ms_first'] - 1):+.0f} %)"
                for row in again
            )
            + ".",
            "",
        ]
    rows = []
    for row in table["rows"]:
        rows.append(
            [
                row["endpoint"],
                row["status"],
                fmt(row["cpu_ms"], 2),
                f"{row['ratio']:.1f}x" if row.get("ratio") else ("ref" if row["kind"] == "reference" else "-"),
                f"{row['reference']} {row['ref_cpu_ms']:.2f}" if row.get("ref_cpu_ms") else row["reference"] or "",
                fmt(row.get("loop_pct"), 1),
                fmt(row["wall_ms"], 2),
                fmt(row["pg_cpu_ms"], 2),
                row["statements"],
                row["round_trips"],
                row["commits"],
                row["redis"],
                _target_text(row),
                row.get("verdict") or "",
            ]
        )
    out.append(
        markdown_table(
            [
                "endpoint",
                "HTTP",
                "CPU ms",
                "x ref",
                "ref, its CPU ms",
                "% loop",
                "wall ms",
                "PG CPU ms",
                "statements",
                "round trips",
                "commits",
                "Redis",
                "target",
                "",
            ],
            rows,
        )
    )
    out.append("")
    notes = [f"* {row['endpoint']}: {row['note']}" for row in table["rows"] if row.get("note")]
    problems = [
        f"* **{row['endpoint']}** failed: {'; '.join(row['problems'])}" for row in table["rows"] if row["errors"]
    ]
    out += problems + ([""] if problems else []) + notes + [""]
    other = result.get("cpu_against")
    if other:
        out += against_section(table, other)
    return out


def against_section(table: dict[str, Any], other: dict[str, Any]) -> list[str]:
    label = other["label"]
    out = [f"### Today's tree vs {label}", ""]
    if other.get("described"):
        out += [f"{label}: {other['described']}.", ""]
    if "rows" not in other:
        return [*out, f"Not measured: {other.get('error', '?')[-1500:]}", ""]
    theirs = {row["endpoint"]: row for row in other["rows"]}
    rows = []
    for row in table["rows"]:
        then = theirs.get(row["endpoint"])
        if then is None:
            continue
        change = (
            f"{100 * (row['cpu_ms'] / then['cpu_ms'] - 1):+.0f} %"
            if row["cpu_ms"] and then["cpu_ms"] and not then["errors"]
            else "-"
        )
        rows.append(
            [
                row["endpoint"],
                fmt(row["cpu_ms"], 2),
                fmt(then["cpu_ms"], 2) if not then["errors"] else f"errors: {then['status']}",
                change,
                f"{row['ratio']:.1f}x" if row.get("ratio") else "-",
                f"{then['ratio']:.1f}x" if then.get("ratio") and not then["errors"] else "-",
                f"{fmt(row['statements'])} / {fmt(then['statements'])}",
                f"{fmt(row['round_trips'])} / {fmt(then['round_trips'])}",
                f"{fmt(row['commits'])} / {fmt(then['commits'])}",
                f"{row.get('verdict') or ''} / {then.get('verdict') or ''}".strip(" /"),
            ]
        )
    out.append(
        markdown_table(
            [
                "endpoint",
                "CPU ms today",
                f"CPU ms {label}",
                "change",
                "x ref today",
                f"x ref {label}",
                "statements",
                "round trips",
                "commits",
                "targets",
            ],
            rows,
        )
    )
    out += [
        "",
        f"Counts read today / {label}. Both tables ran in this run, one after the other, with today's bench "
        "(bare reference, rows, seed) and each version's own project code, each on a fresh database; the "
        "bare rows of both show how much the machine drifted between them.",
        *[f"* {note}" for note in other.get("notes", [])],
        "",
    ]
    return out
