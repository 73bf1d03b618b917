"""DefiLlama payloads -> plain points and rows. Pure functions, no I/O.

The shapes and their traps (reference/apis.md, DefiLlama gotchas): unix seconds almost everywhere, but ``date`` is
a string in stablecoin and bridge series and yields ``/chart`` uses ISO strings; the last TVL point is an intraday
snapshot on the same day as a midnight point; ``chainTvls`` mixes real chains with synthetic keys that double-count;
``totalDataChartBreakdown`` comes flat (``{protocol: value}``) or nested by chain (``{chain: {protocol: value}}``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

DAY = timedelta(days=1)

# Keys of chainTvls / currentChainTvls that are not chains. Alone ("staking") they are protocol-wide extras; as a
# suffix ("Ethereum-staking") they are a chain's share of that extra. Neither is part of a chain's TVL.
SYNTHETIC_TVL_KEYS = frozenset({
    "staking", "pool2", "borrowed", "doublecounted", "liquidstaking", "vesting", "dcandlsoverlap", "offers",
    "treasury", "owntokens",
})


class BadValue(ValueError):
    pass


# -- scalars ---------------------------------------------------------------------------------------------------------

def parse_ts(value: Any) -> datetime:
    """A point's time as an aware UTC datetime: unix seconds (number or numeric string), milliseconds when the number
    is too large to be seconds, or an ISO-8601 string ('2024-01-01T00:00:00.000Z')."""
    if isinstance(value, bool) or value is None:
        raise BadValue(f"timestamp missing or not a time: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise BadValue(f"timestamp {value!r} is neither unix seconds nor ISO-8601") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    else:
        raise BadValue(f"timestamp {value!r} has type {type(value).__name__}")
    if not math.isfinite(number) or number <= 0:
        raise BadValue(f"timestamp {value!r} is not a positive number")
    if number > 1e11:   # milliseconds (1e11 s is the year 5138)
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def try_ts(value: Any) -> datetime | None:
    try:
        return parse_ts(value)
    except BadValue:
        return None


def parse_number(value: Any) -> Decimal:
    """A finite number from a JSON number or a numeric string."""
    if isinstance(value, bool) or value is None:
        raise BadValue(f"value missing or not a number: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadValue(f"value {value!r} is not finite")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue(f"value {value!r} is not finite")
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise BadValue(f"value {value!r} is not a number") from None
        if not number.is_finite():
            raise BadValue(f"value {value!r} is not finite")
        return number
    raise BadValue(f"value {value!r} has type {type(value).__name__}")


def optional_float(value: Any) -> float | None:
    """Numbers in catalog payloads: None, NaN and infinities (Python's json accepts them) become None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def is_midnight(ts: datetime) -> bool:
    return ts.hour == 0 and ts.minute == 0 and ts.second == 0 and ts.microsecond == 0


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


# -- series -> points ------------------------------------------------------------------------------------------------
# A point is {"ts": <raw>, "value": <raw>}: parsing and validation happen later, so bad points can be rejected with
# their raw values.

def tvl_points(body: Any, value_key: str) -> list[dict]:
    """``/protocol/{slug}`` (``tvl`` list, value ``totalLiquidityUSD``) and ``/v2/historicalChainTvl`` (a list, value
    ``tvl``)."""
    items = body.get("tvl") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise BadValue(f"expected a list of TVL points, got {type(items).__name__}")
    return [{"ts": p.get("date"), "value": p.get(value_key)} if isinstance(p, dict) else {"ts": None, "value": p}
            for p in items]


def _sum_breakdown(entry: Any) -> Any:
    """One breakdown entry: ``{protocol: value}`` (older) or ``{chain: {protocol: value}}`` (newer), summed."""
    if isinstance(entry, dict):
        total = Decimal(0)
        for value in entry.values():
            total += parse_number(_sum_breakdown(value)) if isinstance(value, dict) else parse_number(value)
        return total
    return entry


def dimension_points(body: Any) -> list[dict]:
    """overview/* and summary/* endpoints: ``totalDataChart`` [[ts, value]], or, when that is absent or empty, the
    sum of ``totalDataChartBreakdown`` [[ts, {...}]] in either of its shapes."""
    if not isinstance(body, dict):
        raise BadValue(f"expected an object with totalDataChart, got {type(body).__name__}")
    chart = body.get("totalDataChart")
    if chart:
        return [_pair(p) for p in chart]
    breakdown = body.get("totalDataChartBreakdown") or []
    points = []
    for item in breakdown:
        ts, entry = _pair_raw(item)
        try:
            value = _sum_breakdown(entry)
        except BadValue as exc:
            value = f"unusable breakdown: {exc}"
        points.append({"ts": ts, "value": value})
    return points


def _pair_raw(item: Any) -> tuple[Any, Any]:
    if isinstance(item, list | tuple) and len(item) == 2:
        return item[0], item[1]
    return None, item


def _pair(item: Any) -> dict:
    ts, value = _pair_raw(item)
    return {"ts": ts, "value": value}


def chart_points(body: Any) -> list[dict]:
    """Pro v2 charts (``[[ts, value]]``, sometimes wrapped in ``{"data": ...}``)."""
    if isinstance(body, dict):
        body = body.get("data", body.get("totalDataChart"))
    if not isinstance(body, list):
        raise BadValue("expected a list of [timestamp, value] pairs")
    return [_pair(p) for p in body]


def stablecoin_points(body: Any) -> list[dict]:
    """``/stablecoincharts/all?stablecoin=ID``: ``date`` is a string; the supply is ``totalCirculatingUSD`` summed
    over peg types (``totalCirculating`` when the USD view is missing)."""
    if not isinstance(body, list):
        raise BadValue("expected a list of stablecoin chart points")
    points = []
    for p in body:
        if not isinstance(p, dict):
            points.append({"ts": None, "value": p})
            continue
        pegged = p.get("totalCirculatingUSD") or p.get("totalCirculating")
        try:
            value = sum((parse_number(v) for v in pegged.values()), Decimal(0)) if isinstance(pegged, dict) \
                and pegged else None
        except BadValue as exc:
            value = f"unusable supply: {exc}"
        points.append({"ts": p.get("date"), "value": value})
    return points


def bridge_volume_points(body: Any) -> dict[str, list[dict]]:
    """``bridgevolume``: daily volume = (depositUSD + withdrawUSD) / 2, as DefiLlama's bridges server computes it;
    7D and 30D are the sums of the daily volumes of the 7 / 30 days ending on each day."""
    if not isinstance(body, list):
        raise BadValue("expected a list of bridge volume points")
    daily: dict[date, Decimal] = {}
    bad: list[dict] = []
    for p in body:
        try:
            ts = parse_ts(p.get("date") if isinstance(p, dict) else None)
            volume = (parse_number(p.get("depositUSD")) + parse_number(p.get("withdrawUSD"))) / 2
        except BadValue as exc:
            bad.append({"ts": p.get("date") if isinstance(p, dict) else None, "value": f"unusable: {exc}"})
            continue
        daily[day_of(ts)] = volume
    out: dict[str, list[dict]] = {"BRIDGE_VOLUME_24H": list(bad), "BRIDGE_VOLUME_7D": [], "BRIDGE_VOLUME_30D": []}
    for d, volume in sorted(daily.items()):
        ts = int(midnight(d).timestamp())
        out["BRIDGE_VOLUME_24H"].append({"ts": ts, "value": volume})
        for metric, days in (("BRIDGE_VOLUME_7D", 7), ("BRIDGE_VOLUME_30D", 30)):
            total = sum((daily.get(d - timedelta(days=i), Decimal(0)) for i in range(days)), Decimal(0))
            out[metric].append({"ts": ts, "value": total})
    return out


def select_window(
    points: Iterable[dict],
    start: datetime,
    end: datetime,
    *,
    snapshot_until: datetime | None = None,
) -> list[dict]:
    """The points whose time lies in ``[start, end)``; points with an unreadable time are kept (to be rejected).

    ``snapshot_until``: for a live run, the time the answer was fetched. The series' last point, when it is an
    intraday snapshot taken after ``end`` but no later than the fetch, is kept as well (at its own time).
    """
    points = list(points)
    timed = [(try_ts(p.get("ts")), p) for p in points]
    latest = max((ts for ts, _ in timed if ts is not None), default=None)
    out = []
    for ts, point in timed:
        if ts is None:
            out.append(point)
        elif start <= ts < end:
            out.append(point)
        elif (snapshot_until is not None and ts == latest and not is_midnight(ts) and end <= ts <= snapshot_until):
            out.append(point)
    return out


# -- catalog ---------------------------------------------------------------------------------------------------------

def is_synthetic_tvl_key(key: str) -> bool:
    lowered = key.lower()
    if lowered in SYNTHETIC_TVL_KEYS:
        return True
    head, sep, tail = lowered.rpartition("-")
    return bool(sep and head and tail in SYNTHETIC_TVL_KEYS)


def split_chain_tvls(chain_tvls: Any) -> tuple[dict[str, float], dict[str, float]]:
    """(per real chain, protocol-wide synthetic extras). Per-chain synthetic shares ('Ethereum-staking') are dropped:
    they are already in the protocol-wide extra ('staking') and are not part of the chain's TVL."""
    chains: dict[str, float] = {}
    extras: dict[str, float] = {}
    if not isinstance(chain_tvls, dict):
        return chains, extras
    for key, value in chain_tvls.items():
        number = optional_float(value)
        if number is None or not isinstance(key, str):
            continue
        if key.lower() in SYNTHETIC_TVL_KEYS:
            extras[key] = number
        elif not is_synthetic_tvl_key(key):
            chains[key] = number
    return chains, extras


def group_by(items: Iterable[Any], key) -> dict:
    out: dict = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out
