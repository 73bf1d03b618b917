"""Charts as inline SVG, drawn on the server: the page loads nothing from anywhere else.

Every point is a circle with a ``<title>`` (the browser shows it on hover); points of consecutive buckets are joined,
a bucket without a value leaves a gap instead of a line drawn across it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28


@dataclass
class Series:
    name: str
    points: Sequence[tuple[datetime, float | None]]   # (bucket start, value); None: no value in that bucket
    color: str | None = None


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10 ** exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10 ** (exponent + 1)


def format_number(value: float, unit: str = "") -> str:
    if unit == "%":
        return f"{value * 100:.3g}%"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}{unit and ' ' + unit}"
    text = f"{value:.3g}" if magnitude >= 0.01 or value == 0 else f"{value:.2e}"
    return f"{text}{unit and ' ' + unit}"


def _time_ticks(start: datetime, end: datetime, count: int = 6) -> list[datetime]:
    span = (end - start).total_seconds()
    steps = [60 * m for m in (1, 5, 10, 15, 30)] + [3600 * h for h in (1, 2, 3, 6, 12)] + [86400 * d for d in (1, 2, 7)]
    step = next((s for s in steps if span / s <= count), steps[-1])
    first = math.ceil(start.timestamp() / step) * step
    ticks = []
    t = first
    while t <= end.timestamp():
        ticks.append(datetime.fromtimestamp(t, start.tzinfo))
        t += step
    return ticks


def _time_label(t: datetime, span: timedelta) -> str:
    return t.strftime("%H:%M") if span <= timedelta(days=1) else t.strftime("%m-%d %H:%M")


def _frame(kind: str, title: str, x0: datetime, x1: datetime, y_labels: Sequence[str], body: list[str],
           legend: Sequence[tuple[str, str]], points: int) -> str:
    """Axes, grid, labels (five on the y axis, bottom to top) and legend around ``body``."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = x1 - x0
    out = [f'<svg class="chart" data-chart="{escape(kind)}" data-points="{points}" role="img" '
           f'viewBox="0 0 {WIDTH} {HEIGHT + 18 * math.ceil(len(legend) / 4)}" width="{WIDTH}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for i, text in enumerate(y_labels):
        y = TOP + plot_h - plot_h * i / (len(y_labels) - 1)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="ylabel">{escape(text)}</text>')
    for tick in _time_ticks(x0, x1):
        x = LEFT + plot_w * (tick - x0) / span
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{HEIGHT - 8}" class="xlabel">{_time_label(tick, span)}</text>')
    out.extend(body)
    for i, (name, color) in enumerate(legend):
        lx, ly = LEFT + (i % 4) * 140, HEIGHT + 6 + 18 * (i // 4)
        out.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{color}"/>'
                   f'<text x="{lx + 16}" y="{ly + 10}" class="legend">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def line_chart(kind: str, title: str, series: Sequence[Series], x0: datetime, x1: datetime, bucket: timedelta,
               unit: str = "", value_label: Callable[[float], str] | None = None) -> str:
    """Lines over [x0, x1]; a point sits at the middle of its bucket."""
    label = value_label or (lambda v: format_number(v, unit))
    values = [v for s in series for _, v in s.points if v is not None]
    y_max = nice_ceiling(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (x1 - x0).total_seconds() or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        mid = t + bucket / 2
        x = LEFT + plot_w * min(max((mid - x0).total_seconds() / span, 0.0), 1.0)
        return x, TOP + plot_h - plot_h * min(v / y_max, 1.0)

    lines, dots, legend = [], [], []
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        legend.append((s.name, color))
        runs: list[list[tuple[float, float]]] = []
        previous: datetime | None = None
        for t, v in sorted(s.points, key=lambda p: p[0]):
            if v is None:
                previous = None
                continue
            if previous is None or t - previous > bucket:
                runs.append([])
            runs[-1].append(xy(t, v))
            previous = t
            x, y = runs[-1][-1]
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                        f'<title>{escape(s.name)} {t:%Y-%m-%d %H:%M} UTC: {escape(label(v))}</title></circle>')
        lines.extend(_polyline(run, color) for run in runs if len(run) > 1)
    body = lines + dots
    points = sum(1 for s in series for _, v in s.points if v is not None)
    y_labels = [format_number(y_max * i / 4, unit) for i in range(5)]
    return _frame(kind, title, x0, x1, y_labels, body, legend, points)


def _polyline(run: list[tuple[float, float]], color: str) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>'


def candle_chart(kind: str, title: str, candles: Sequence[dict], interval: timedelta, unit: str) -> str:
    """Candlesticks (oldest first): green when close >= open, red otherwise; wicks from low to high."""
    if not candles:
        return ""
    x0 = candles[0]["bucket_start"]
    x1 = candles[-1]["bucket_start"] + interval
    lows = [float(c["low"]) for c in candles]
    highs = [float(c["high"]) for c in candles]
    lo, hi = min(lows), max(highs)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.01 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (x1 - x0).total_seconds()
    width = max(1.0, plot_w * interval.total_seconds() / span * 0.7)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * (v - lo) / (hi - lo)

    body = []
    for c in candles:
        o, h, low, cl = (float(c[k]) for k in ("open", "high", "low", "close"))
        xc = LEFT + plot_w * ((c["bucket_start"] - x0).total_seconds() + interval.total_seconds() / 2) / span
        color = "#2ca02c" if cl >= o else "#d62728"
        top, bottom = y(max(o, cl)), y(min(o, cl))
        body.append(
            f'<g class="candle"><title>{c["bucket_start"]:%Y-%m-%d %H:%M} UTC  O {o:.6g} H {h:.6g} L {low:.6g} '
            f'C {cl:.6g} {escape(unit)}</title>'
            f'<line x1="{xc:.1f}" x2="{xc:.1f}" y1="{y(h):.1f}" y2="{y(low):.1f}" stroke="{color}"/>'
            f'<rect x="{xc - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(bottom - top, 1):.1f}" '
            f'fill="{color}"/></g>')
    return _frame(kind, title, x0, x1, price_labels(lo, hi), body, [], len(candles))


def price_labels(lo: float, hi: float, count: int = 5) -> list[str]:
    """``count`` labels from ``lo`` to ``hi`` with just enough significant digits to tell them apart."""
    step = (hi - lo) / (count - 1)
    digits = 3
    if step > 0:
        digits = max(3, math.ceil(math.log10(max(abs(lo), abs(hi)) / step)) + 2)
    return [f"{lo + step * i:.{digits}g}" for i in range(count)]
