"""The Data health page as HTML: tables and inline SVG charts, rendered on the server (no scripts from anywhere)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from cryptoflow.health import svg
from cryptoflow.health.queries import CANDLE_INTERVALS, CANDLE_SOURCES, WINDOWS, PageData

TEMPLATES = Path(__file__).with_name("templates")
INTERVALS = {"1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "15m": timedelta(minutes=15),
             "1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24)}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def age(delta: timedelta | None) -> str:
    """A duration the way an on-call person reads it: '45 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h"


def ts(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


def num(value: float | int | Decimal | None, digits: int = 6) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}g}"


_env.filters.update(age=age, ts=ts, num=num)


def _series(rows: list[dict], column: str) -> list[svg.Series]:
    by_source: dict[str, list] = defaultdict(list)
    for row in rows:
        value = row[column]
        by_source[row["source"]].append((row["bucket_start"], None if value is None else float(value)))
    return [svg.Series(source, points) for source, points in sorted(by_source.items())]


def _charts(data: PageData) -> dict:
    rows = data.metrics.rows
    x0, x1, bucket = data.since, data.now, data.bucket
    charts = {
        "records": svg.line_chart("records_per_min", "Records fetched per minute, per source",
                                  _series(rows, "records_fetched_per_min"), x0, x1, bucket, "/min"),
        "errors": svg.line_chart("error_rate", "API error rate (failed HTTP attempts / attempts), per source",
                                 _series(rows, "error_rate"), x0, x1, bucket, "%"),
        "latency": [],
    }
    for source in sorted({r["source"] for r in rows}):
        mine = [r for r in rows if r["source"] == source]
        if not any(r["latency_p50_ms"] is not None for r in mine):
            continue
        series = [svg.Series(name, [(r["bucket_start"], r[col]) for r in mine], color)
                  for name, col, color in (("p50", "latency_p50_ms", "#2ca02c"), ("p95", "latency_p95_ms", "#ff7f0e"),
                                           ("p99", "latency_p99_ms", "#d62728"))]
        charts["latency"].append((source, svg.line_chart(
            f"latency_{source}", f"{source}: API latency p50 / p95 / p99 (ms)", series, x0, x1, bucket, "ms")))
    return {k: ([(s, Markup(c)) for s, c in v] if isinstance(v, list) else Markup(v)) for k, v in charts.items()}


def render_page(data: PageData) -> str:
    candle_chart = ""
    if data.candles.rows:
        candle_chart = Markup(svg.candle_chart(
            "candles", f"{data.token} {data.request.interval} candles ({data.candle_source})", data.candles.rows,
            INTERVALS[data.request.interval], CANDLE_SOURCES[data.candle_source]))
    return _env.get_template("page.html").render(
        data=data, request=data.request, charts=_charts(data) if data.metrics.rows else None,
        candle_chart=candle_chart, windows=list(WINDOWS), intervals=CANDLE_INTERVALS,
        candle_sources=CANDLE_SOURCES, price_unit=CANDLE_SOURCES[data.candle_source],
        bucket_label=age(data.bucket))


def render_unavailable(message: str, title: str = "") -> str:
    """A page that says what is wrong (warehouse down, not logged in) and what to do."""
    return _env.get_template("unavailable.html").render(message=message, title=title)
