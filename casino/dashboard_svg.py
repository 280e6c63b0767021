"""The staff dashboard's charts as inline SVG (``casino.dashboard`` draws one per series
of a build): no script, no CDN, no ``style`` attribute -- the colours are SVG presentation
attributes and the stylesheet's classes -- so the page renders offline under the
Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

ChartValue = int | float | Decimal

CHART_WIDTH = 300
CHART_HEIGHT = 96
_PLOT_TOP = 14  # room for the peak label
_PLOT_BOTTOM = 82  # the baseline; the day labels sit under it
_BAR_GAP = 2
BAR_FILL = "#417690"  # the admin's own blue
AXIS_STROKE = "#999999"
LABEL_FILL = "#666666"


def chart_svg(
    *, title: str, days: tuple[date, ...], values: tuple[ChartValue, ...], text: Callable[[ChartValue], str]
) -> SafeString:
    """A bar per day, scaled to the highest; each bar's ``<title>`` is its day and value
    (a browser shows it on hover), the peak is written at the top, the first and last
    day under the baseline. Presentation attributes only: no ``style``, nothing to load."""
    slot = CHART_WIDTH / max(len(values), 1)
    peak = max(values, default=0)
    plot_height = _PLOT_BOTTOM - _PLOT_TOP
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        height = round(float(value) / float(peak) * plot_height, 1) if peak else 0.0
        bars.append(
            (
                round(index * slot + _BAR_GAP / 2, 1),
                round(_PLOT_BOTTOM - height, 1),
                round(slot - _BAR_GAP, 1),
                height,
                f"{day:%a %d %b}: {text(value)}",
            )
        )
    rects = format_html_join(
        "",
        '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" fill="' + BAR_FILL + '"><title>{}</title></rect>',
        bars,
    )
    label = f"{title}, last {len(values)} days: {text(sum(values, 0))} in all"
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="{label}"><title>{label}</title>'
        '<text x="0" y="10" font-size="10" fill="{label_fill}">peak {peak}</text>'
        "{rects}"
        '<line x1="0" y1="{bottom}" x2="{width}" y2="{bottom}" stroke="{axis}" stroke-width="1"/>'
        '<text x="0" y="{day_y}" font-size="10" fill="{label_fill}">{first}</text>'
        '<text x="{width}" y="{day_y}" font-size="10" fill="{label_fill}" text-anchor="end">{last}</text>'
        "</svg>",
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        label=label,
        label_fill=LABEL_FILL,
        peak=text(peak),
        rects=rects,
        bottom=_PLOT_BOTTOM,
        axis=AXIS_STROKE,
        day_y=CHART_HEIGHT - 2,
        first=f"{days[0]:%d %b}" if days else "",
        last=f"{days[-1]:%d %b}" if days else "",
    )
