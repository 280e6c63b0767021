"""The player scenario's stages and the order of a run's load phases.

A stage's arrival rate is given either in requests a second (``50``) or as a
share of the bare purchase's saturation rate measured earlier in the same run
(``30%``): the throughput target's own terms (docs/architecture.md,
"Performance targets": the mix holds its p95 targets at 30 % or more of that
rate). Fixed rates could not say it on every machine: on one whose bare
purchase saturates at 1,200 requests a second, 30 % is 360, above any fixed
top stage of 200, and on one that saturates at 300 a 50 requests a second
stage is already 17 %. A share resolves to requests a second when its stage
begins (``resolve_rate``), so a run whose stages are shares measures the bare
purchase first (``phases``): closed loop, then a pause until gunicorn's queue
is empty, then the player stages, then the other closed-loop series.
"""

from __future__ import annotations

import math
from typing import Any

# The closed-loop series a share is of (bench/scenario.py, bench/bare.py).
REFERENCE_SERIES = "bare_purchase"
# A share of a reference that measured nothing still offers some load: the stage then fails on its own.
MIN_RATE = 1.0

Rate = float | str  # requests a second, or a share written "30%"


def parse_rates(text: str) -> list[Rate]:
    """``--rates``: comma-separated requests a second (``50,100,200``) or shares of the
    bare purchase's saturation (``10%,20%,30%``), or both; ValueError on anything else."""
    rates: list[Rate] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        value = float(part[:-1]) if part.endswith("%") else float(part)
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"a rate must be a number above 0: {part!r}")
        rates.append(f"{value:g}%" if part.endswith("%") else value)
    if not rates:
        raise ValueError("no rate given")
    return rates


def share_of(rate: Rate) -> float | None:
    """A share's fraction (``"30%"`` -> 0.3); None for requests a second."""
    return float(rate[:-1]) / 100 if isinstance(rate, str) else None


def stage_name(rate: Rate) -> str:
    return rate if isinstance(rate, str) else f"{rate:g}rps"


def player_stages(rates: list[Rate], *, stage_seconds: int, warmup_seconds: int) -> list[dict[str, Any]]:
    """The open loop's stages: a warm-up at the first rate (not measured), then each rate."""
    stages = []
    if warmup_seconds:
        stages.append({"name": "warmup", **_rate_fields(rates[0]), "duration_s": warmup_seconds, "measured": False})
    stages += [
        {"name": stage_name(rate), **_rate_fields(rate), "duration_s": stage_seconds, "measured": True}
        for rate in rates
    ]
    return stages


def _rate_fields(rate: Rate) -> dict[str, Any]:
    share = share_of(rate)
    return {"rate": None, "share": share} if share is not None else {"rate": float(rate), "share": None}


def needs_reference(stages: list[dict[str, Any]]) -> bool:
    """Whether a stage's rate is a share of the bare purchase's saturation."""
    return any(stage.get("share") is not None for stage in stages)


def resolve_rate(stage: dict[str, Any], reference_rps: float | None) -> float:
    """The stage's arrival rate, requests a second: its own, or its share of the bare
    purchase's saturation rate (``reference_rps``, measured earlier in the run)."""
    if stage.get("share") is None:
        return float(stage["rate"])
    if reference_rps is None:
        raise ValueError(f"stage {stage['name']} is a share of the {REFERENCE_SERIES} saturation, not measured yet")
    return max(MIN_RATE, round(float(stage["share"]) * reference_rps, 1))


def phases(stages: list[dict[str, Any]], series: list[str]) -> list[tuple[str, list[str]]]:
    """The order of one Locust process's load: ``("saturation", [series...])``,
    ``("gap", [])`` (no load until gunicorn's queue is empty) and ``("player", [])``.
    The reference series comes first when a stage is a share of it; otherwise the
    player stages come first, as they always did."""
    first = [REFERENCE_SERIES] if needs_reference(stages) and REFERENCE_SERIES in series else []
    rest = [name for name in series if name not in first]
    plan: list[tuple[str, list[str]]] = []
    for kind, names in (("saturation", first), ("player", []), ("saturation", rest)):
        if (kind == "player" and not stages) or (kind == "saturation" and not names):
            continue
        if plan:
            plan.append(("gap", []))
        plan.append((kind, names))
    return plan
