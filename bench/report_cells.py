"""The cells and tables of report.md (bench/report.py, bench/report_cpu.py)."""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any, digits: int = 1) -> str:
    """A cell: ``-`` for nothing (None, NaN), a float to ``digits`` places."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
