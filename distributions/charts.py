"""Server-rendered SVG charts of the distribution pages (no JavaScript, nothing fetched): score against share.

Bounded: at most ``CHART_POINTS`` points (the top of the ranking), with a note saying how many were left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

CHART_POINTS = 50
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 16, 44
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOR = "#417690"  # the admin's own blue
UNIT_COLOR = "#c25d00"  # shares that got a rounding unit


@dataclass(frozen=True)
class ChartPoint:
    rank: int
    label: str
    score: int
    percent: float  # share of the pool, in %
    rounding_unit: bool | None = None


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 × 10^k) up to at least ``maximum``."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_label(value: float, *, percent: bool = False) -> str:
    text = f"{int(value):,}" if value == int(value) else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} %" if percent else text


def score_share_chart(points: Sequence[ChartPoint], *, total: int, title: str, limit: int = CHART_POINTS) -> SafeString:
    """A scatter of score (x) against share of the pool in % (y) for the first ``limit`` points (by rank), with a
    note when ``total`` is larger. Empty string without points."""
    shown = list(points[:limit])
    if not shown:
        return mark_safe("")
    # 5 % of headroom: the top point never sits on the plot's edge.
    x_ticks = nice_ticks(max(p.score for p in shown) * 1.05)
    y_ticks = nice_ticks(max(p.percent for p in shown) * 1.05)
    x_max, y_max = x_ticks[-1] or 1, y_ticks[-1] or 1

    def x(value: float) -> float:
        return LEFT + PLOT_WIDTH * value / x_max

    def y(value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - value / y_max)

    parts = [
        f'<svg class="distribution-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in y_ticks:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" fill="#666">'
            f"{escape(_tick_label(tick, percent=True))}</text>"
        )
    for tick in x_ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP}" y2="{TOP + PLOT_HEIGHT}" stroke="#eee"/>'
            f'<text x="{x(tick):.1f}" y="{TOP + PLOT_HEIGHT + 16}" text-anchor="middle" font-size="11" fill="#666">'
            f"{escape(_tick_label(tick))}</text>"
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + PLOT_HEIGHT}" y2="{TOP + PLOT_HEIGHT}" stroke="#999"/>'
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + PLOT_HEIGHT}" stroke="#999"/>'
        f'<text x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" fill="#333">'
        "score</text>"
        f'<text x="14" y="{TOP + PLOT_HEIGHT / 2:.1f}" text-anchor="middle" font-size="12" fill="#333" '
        f'transform="rotate(-90 14 {TOP + PLOT_HEIGHT / 2:.1f})">share of the pool</text>'
    )
    for point in reversed(shown):  # the top of the ranking drawn last, on top
        unit = " (got a rounding unit)" if point.rounding_unit else ""
        hover = f"#{point.rank} {point.label}: score {point.score:,}, {point.percent:.2f} % of the pool{unit}"
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="4.5" fill="{}" fill-opacity="0.8" stroke="#fff"><title>{}</title></circle>',
                f"{x(point.score):.1f}",
                f"{y(point.percent):.1f}",
                UNIT_COLOR if point.rounding_unit else COLOR,
                hover,
            )
        )
    parts.append("</svg>")
    note = f"Top {len(shown)} of {total:,} shares shown, by rank." if total > len(shown) else ""
    legend = (
        f'<span class="chart-legend"><span style="color:{COLOR}">●</span> share '
        f'<span style="color:{UNIT_COLOR}">●</span> share that got a rounding unit</span>'
    )
    return mark_safe(
        '<figure class="distribution-chart">'
        + "".join(parts)
        + f"<figcaption>{escape(title)}. {legend} {escape(note)}</figcaption></figure>"
    )
