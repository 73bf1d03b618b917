"""Which requests a run makes, and how an answer becomes point records and problems.

Requests are aligned to calendar months: every daily run whose lookback falls in a month asks for that whole month
with identical parameters, so the framework's raw cache answers all of them from one API call (a run whose lookback
spans two months makes two). Each request packs up to ``metrics_per_request`` metrics and ``symbols_per_request``
symbols; the answer is filtered to the matrix's pairs and the run's days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptoflow.hooks.base import MalformedResponse
from cryptoflow.sources.artemis.config import Matrix
from cryptoflow.sources.artemis.models import parse_day

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Batch:
    metrics: tuple[str, ...]
    symbols: tuple[str, ...]


@dataclass(frozen=True)
class MonthWindow:
    first: dt.date   # first day of the month
    last: dt.date    # last day of the month (Artemis's endDate is a day, inclusive)


@dataclass(frozen=True)
class Request:
    batch: Batch
    window: MonthWindow

    @property
    def endpoint(self) -> str:
        return f"data/api/{','.join(self.batch.metrics)}/"

    @property
    def params(self) -> dict[str, str]:
        return {"symbols": ",".join(self.batch.symbols), "startDate": self.window.first.isoformat(),
                "endDate": self.window.last.isoformat(), "granularity": "DAY"}

    @property
    def label(self) -> str:
        return (f"{self.window.first:%Y-%m} {len(self.batch.metrics)} metrics x {len(self.batch.symbols)} symbols "
                f"({self.batch.symbols[0]}..{self.batch.symbols[-1]})")


def _chunks(items: list, size: int) -> Iterator[tuple]:
    for i in range(0, len(items), size):
        yield tuple(items[i:i + size])


def plan_batches(matrix: Matrix, symbols_per_request: int, metrics_per_request: int) -> list[Batch]:
    """Metrics grouped from most to least pulled, and for each group the symbols that want any of them.

    Grouping popular metrics together keeps the pairs an answer carries but the matrix does not want few, without
    making more requests. The plan depends only on the matrix and the batch sizes, so it is the same every run.
    """
    popularity: dict[str, int] = {}
    for metrics in matrix.pairs.values():
        for metric in metrics:
            popularity[metric] = popularity.get(metric, 0) + 1
    ordered = sorted(popularity, key=lambda m: (-popularity[m], m))
    batches = []
    for metric_group in _chunks(ordered, metrics_per_request):
        wanted = set(metric_group)
        symbols = sorted(s for s, metrics in matrix.pairs.items() if wanted.intersection(metrics))
        batches.extend(Batch(metrics=metric_group, symbols=group) for group in _chunks(symbols, symbols_per_request))
    return batches


def day_window(interval_end: dt.datetime, lookback_days: int) -> tuple[dt.date, dt.date]:
    """``[first, end)``: the ``lookback_days`` whole UTC days before the day of ``interval_end``.

    The DAG runs at 00:05 UTC, so a run ending 2026-11-06 00:05 loads 11-03, 11-04 and 11-05 (3 days).
    """
    end = interval_end.astimezone(dt.UTC).date()
    return end - dt.timedelta(days=lookback_days), end


def month_windows(first: dt.date, end: dt.date) -> list[MonthWindow]:
    """The calendar months that hold the days ``[first, end)``."""
    windows = []
    month = first.replace(day=1)
    while month < end:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        windows.append(MonthWindow(first=month, last=following - dt.timedelta(days=1)))
        month = following
    return windows


@dataclass
class Problem:
    """A pair (or a whole symbol, metric None) the answer gave no data for: an error string, missing, wrong type."""

    symbol: str
    metric: str | None
    reason: str
    record: dict[str, Any]

    @property
    def key(self) -> tuple[str, str | None, str]:
        return self.symbol, self.metric, self.reason


@dataclass
class Parsed:
    records: list[dict[str, Any]]   # candidate points in the run's days, to validate
    problems: list[Problem]
    outside: int = 0                # points of the month outside the run's days (other runs load them)


def _normalised(node: dict, case) -> dict[str, list[Any]]:
    """Keys normalised (Artemis echoes the case of the request); values of keys that collide are all kept."""
    out: dict[str, list[Any]] = {}
    for key, value in node.items():
        out.setdefault(case(str(key).strip()), []).append(value)
    return out


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:MAX_ERROR_CHARS]


def parse_answer(body: Any, request: Request, wanted: frozenset[tuple[str, str]], first: dt.date,
                 end: dt.date) -> Parsed:
    """Point records of the wanted pairs on days ``[first, end)`` of ``{"data": {"symbols": {sym: {METRIC: [..]}}}}``.

    The traps: a metric (or a whole symbol) may be an error string instead of a list; keys may be upper or lower
    case; missing days are simply absent; ``val`` may be a string; a symbol Artemis does not know may be missing.
    """
    data = body.get("data") if isinstance(body, dict) else None
    symbols_node = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(symbols_node, dict):
        top = sorted(body)[:5] if isinstance(body, dict) else type(body).__name__
        raise MalformedResponse(f"artemis {request.label}: expected {{'data': {{'symbols': {{...}}}}}}, got {top}")
    by_symbol = _normalised(symbols_node, str.lower)
    parsed = Parsed(records=[], problems=[])
    for symbol in request.batch.symbols:
        metrics = [m for m in request.batch.metrics if (symbol, m) in wanted]
        if not metrics:
            continue
        values = by_symbol.get(symbol)
        if values is None:
            parsed.problems.append(Problem(
                symbol, None,
                f"symbol {symbol!r} is missing from Artemis's answer: unknown to Artemis? Check it against "
                "/asset/symbols/ and fix or remove its row in artemis_config.csv",
                {"symbol": symbol, "metrics": metrics}))
            continue
        metric_nodes: dict[str, list[Any]] = {}
        for value in values:
            if isinstance(value, dict):
                for metric, series in _normalised(value, str.upper).items():
                    metric_nodes.setdefault(metric, []).extend(series)
            else:
                parsed.problems.append(Problem(
                    symbol, None, f"Artemis returned no data for symbol {symbol!r}: {_short(value)}",
                    {"symbol": symbol, "metrics": metrics, "answer": _short(value)}))
        if not any(isinstance(v, dict) for v in values):
            continue
        for metric in metrics:
            series_list = metric_nodes.get(metric)
            if series_list is None:
                parsed.problems.append(Problem(
                    symbol, metric, f"metric {metric} of {symbol!r} is missing from Artemis's answer",
                    {"symbol": symbol, "metric": metric}))
                continue
            for series in series_list:
                if isinstance(series, list):
                    _points(parsed, symbol, metric, series, first, end)
                elif isinstance(series, str):
                    parsed.problems.append(Problem(
                        symbol, metric, f"Artemis returned an error instead of {metric} of {symbol!r}: "
                                        f"{_short(series)}",
                        {"symbol": symbol, "metric": metric, "error": _short(series)}))
                else:
                    parsed.problems.append(Problem(
                        symbol, metric, f"{metric} of {symbol!r}: expected a list of points, got "
                                        f"{type(series).__name__}",
                        {"symbol": symbol, "metric": metric, "answer": _short(series)}))
    return parsed


def _points(parsed: Parsed, symbol: str, metric: str, series: list, first: dt.date, end: dt.date) -> None:
    for item in series:
        if not isinstance(item, dict):
            parsed.records.append({"symbol": symbol, "metric": metric, "date": None, "val": None, "item": item})
            continue
        record = {"symbol": symbol, "metric": metric, "date": item.get("date"), "val": item.get("val")}
        try:
            day = parse_day(record["date"])
        except ValueError:
            parsed.records.append(record)   # rejected by validation, with the reason
            continue
        if first <= day < end:
            parsed.records.append(record)
        else:
            parsed.outside += 1
