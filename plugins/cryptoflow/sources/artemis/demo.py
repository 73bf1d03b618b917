"""Offline demo: an Artemis ``/data/api/{METRICS}/`` that answers any symbols, metrics and dates.

Series are generated around the levels in ``include/demo/artemis/levels.json``, deterministically (the same
symbol, metric and day always give the same value, whatever window is asked), with two of the real API's habits:
equities have no points on weekends (missing days are absent) and ``AVG_TXN_FEE`` values come as strings. Days
after ``today`` (the real date unless given) have no points yet, as on the live API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptoflow.paths import INCLUDE_DIR

DEMO_DIR = INCLUDE_DIR / "demo" / "artemis"
PATH_REGEX = r"/data/api/(?P<metrics>[^/]+)/?"
COUNT_METRICS = frozenset({"DAU", "TXNS", "PERP_TXNS", "STABLECOIN_AVG_DAU"})
STRING_METRICS = frozenset({"AVG_TXN_FEE"})
MAX_DAYS = 1000


@lru_cache(maxsize=4)
def _levels(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def has_point(symbol: str, metric: str, day: dt.date) -> bool:
    return not (symbol.startswith("eq-") and day.weekday() >= 5)


def value(symbol: str, metric: str, day: dt.date, levels: dict[str, Any] | None = None) -> float:
    """The demo's value of ``metric`` for ``symbol`` on ``day``."""
    levels = levels or _levels(DEMO_DIR / "levels.json")
    metric = metric.upper()
    if metric == "MC":
        return round(value(symbol, "PRICE", day, levels) * value(symbol, "CIRCULATING_SUPPLY", day, levels), 2)
    if metric == "FDMC":
        return round(value(symbol, "MC", day, levels) * 1.35, 2)
    if metric == "PRICE" and symbol in levels.get("pegged", ()):
        return round(1 + (_unit(symbol, day) - 0.5) * 0.002, 6)
    known = levels["symbols"].get(symbol, {})
    base = known.get(metric)
    if base is None:
        base = levels["defaults"].get(metric, 1000.0) * 10 ** (2 * _unit(symbol, metric) - 1)
    phase = _unit(symbol, metric, "phase") * 2 * math.pi
    wave = 0.06 * math.sin(day.toordinal() / 9 + phase) + 0.03 * (_unit(symbol, metric, day) - 0.5)
    if metric == "CIRCULATING_SUPPLY":
        wave = 0.0002 * (day.toordinal() % 365)
    number = base * (1 + wave)
    return float(round(number)) if metric in COUNT_METRICS else float(f"{number:.6g}")


def series(symbol: str, metric: str, first: dt.date, last: dt.date, today: dt.date) -> list[dict[str, Any]]:
    points = []
    day = first
    while day <= last and day < today:
        if has_point(symbol, metric, day):
            number = value(symbol, metric, day)
            points.append({"date": day.isoformat(),
                           "val": f"{number}" if metric.upper() in STRING_METRICS else number})
        day += dt.timedelta(days=1)
    return points


def make_handler(today: dt.date | None = None):
    """A replay-server handler for ``/data/api/{METRICS}/`` (``today``: the first day without data)."""

    def handle(request) -> tuple[int, dict[str, str], Any]:
        if not (request.query.get("APIKey") or request.header("X-API-Key")):
            return 401, {}, {"detail": "Missing API key"}
        try:
            first = dt.date.fromisoformat(request.query["startDate"])
            last = dt.date.fromisoformat(request.query["endDate"])
            symbols = [s.strip().lower() for s in request.query["symbols"].split(",") if s.strip()]
        except (KeyError, ValueError) as exc:
            return 400, {}, {"detail": f"symbols, startDate and endDate (YYYY-MM-DD) are required: {exc}"}
        if (last - first).days > MAX_DAYS:
            return 400, {}, {"detail": f"at most {MAX_DAYS} days per request"}
        metrics = [m for m in unquote(request.path.strip("/").split("/")[-1]).split(",") if m]
        until = today or dt.datetime.now(dt.UTC).date()
        body = {symbol: {metric: series(symbol, metric, first, last, until) for metric in metrics}
                for symbol in symbols}
        return 200, {}, {"data": {"symbols": body}}

    return handle


def register_demo(server, today: dt.date | None = None) -> None:
    """Add the Artemis routes to a ``ReplayServer``."""
    server.add(path_regex=PATH_REGEX, handler=make_handler(today))
