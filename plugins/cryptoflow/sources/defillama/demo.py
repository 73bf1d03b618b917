"""Offline demo: DefiLlama on the replay server, for any recent interval.

Catalog answers (``/v2/chains``, ``/protocols``, ``/pools``) are small synthetic files in ``include/demo/defillama``
in the real shapes. Series are generated per request: one midnight point per UTC day for the last 400 days, with a
stable day-to-day wiggle around the sizes in ``levels.json``, then an intraday snapshot at the request time, like
the live API. Pro paths accept any key. Every DefiLlama host of the demo connection points at this one server.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, date, datetime, timedelta
from functools import cache
from urllib.parse import unquote

from cryptoflow.paths import INCLUDE_DIR

DEMO_DIR = INCLUDE_DIR / "demo" / "defillama"
HISTORY_DAYS = 400


@cache
def _load(name: str):
    return json.loads((DEMO_DIR / name).read_text())


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def _level(metric: str, entity: str) -> float | None:
    return _load("levels.json").get(metric, {}).get(entity)


def _value(level: float, entity: str, metric: str, d: date) -> float:
    seed = sum(map(ord, entity + metric))
    n = d.toordinal()
    wiggle = 0.04 * math.sin(n / 9 + seed) + 0.015 * (((n * 7919 + seed) % 13) - 6) / 6
    return round(level * (1 + wiggle), 2)


def _days() -> list[date]:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=i) for i in range(HISTORY_DAYS, -1, -1)]


def _ts(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _series(entity: str, metric: str, level: float, snapshot: bool = False) -> list[tuple[int, float]]:
    points = [(_ts(d), _value(level, entity, metric, d)) for d in _days()]
    if snapshot:
        points.append((int(time.time()) - 60, _value(level, entity, metric, date.today() + timedelta(days=1))))
    return points


def _not_found(what: str):
    return 404, {}, {"message": f"{what} not found"}


def _tail(req, n: int = 1) -> list[str]:
    return [unquote(p) for p in req.path.rstrip("/").split("/")[-n:]]


def _chain_name(name: str) -> str | None:
    names = {_slug(c["name"]): c["name"] for c in _load("chains.json")}
    return names.get(_slug(name))


def _chain_tvl(req):
    (name,) = _tail(req)
    chain = _chain_name(name)
    level = _level("CHAIN_TVL", _slug(chain)) if chain else None
    if level is None:
        return _not_found("Chain")
    return 200, {}, [{"date": ts, "tvl": v} for ts, v in _series(_slug(chain), "CHAIN_TVL", level, snapshot=True)]


def _protocol(req):
    (slug,) = _tail(req)
    level = _level("TVL", slug)
    if level is None:
        return _not_found("Protocol")
    tvl = [{"date": ts, "totalLiquidityUSD": v} for ts, v in _series(slug, "TVL", level, snapshot=True)]
    return 200, {}, {"name": slug, "tvl": tvl, "currentChainTvls": {}}


_OVERVIEW = {("fees", "dailyFees"): "FEES_24H", ("fees", "dailyRevenue"): "REVENUE_24H",
             ("dexs", None): "DEX_VOLUME_24H", ("derivatives", None): "PERPS_VOLUME_24H",
             ("options", "dailyNotionalVolume"): "OPTIONS_VOLUME_24H"}


def _dimension(entity: str, metric: str, level: float) -> dict:
    return {"totalDataChart": [[ts, v] for ts, v in _series(entity, metric, level)], "breakdown24h": None,
            "breakdown30d": None, "total24h": level}


def _overview(req):
    kind, name = _tail(req, 2)
    chain = _chain_name(name)
    metric = _OVERVIEW.get((kind, req.query.get("dataType")))
    level = _level(f"CHAIN_{metric}", _slug(chain)) if chain and metric else None
    if level is None:
        return _not_found("Chain")
    return 200, {}, {"chain": chain, **_dimension(_slug(chain), f"CHAIN_{metric}", level)}


def _summary(req):
    kind, slug = _tail(req, 2)
    metric = _OVERVIEW.get((kind, req.query.get("dataType")))
    metric = "DERIVATIVES_VOLUME_24H" if kind == "derivatives" else metric
    level = _level(metric, slug) if metric else None
    if level is None:
        return _not_found("Protocol")
    return 200, {}, {"slug": slug, "name": slug, **_dimension(slug, metric, level)}


def _stablecoin(req):
    ident = req.query.get("stablecoin", "")
    level = _level("STABLECOIN_SUPPLY", ident)
    if level is None:
        return _not_found("Stablecoin")
    return 200, {}, [{"date": str(ts), "totalCirculating": {"peggedUSD": v}, "totalCirculatingUSD": {"peggedUSD": v}}
                     for ts, v in _series(ident, "STABLECOIN_SUPPLY", level)]


def _pool_chart(req):
    (pool,) = _tail(req)
    known = {p["pool"]: p for p in _load("pools.json")["data"]}
    if pool not in known or known[pool]["tvlUsd"] is None:
        return 400, {}, "invalid configID!"
    base = known[pool]
    data = [{"timestamp": datetime.fromtimestamp(ts + 82865, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "tvlUsd": v,
             "apy": base["apy"], "apyBase": base["apyBase"], "apyReward": base["apyReward"], "il7d": None,
             "apyBase7d": None} for ts, v in _series(pool, "POOL_TVL", base["tvlUsd"])]
    data[-1]["timestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")   # today's so far
    return 200, {}, {"status": "success", "data": data}


def _bridge_volume(req):
    ident = req.query.get("id", "")
    level = _level("BRIDGE_VOLUME", ident)
    if level is None:
        return 400, {}, {"message": "Invalid bridgeNetworkId entered."}
    return 200, {}, [{"date": str(ts), "depositUSD": v, "withdrawUSD": v * 0.9, "depositTxs": 100, "withdrawTxs": 90}
                     for ts, v in _series(ident, "BRIDGE_VOLUME", level)]


def _inflows(req):
    slug, ts = _tail(req, 2)
    level = _level("NET_FLOW", slug)
    if level is None:
        return _not_found("Protocol")
    day = datetime.fromtimestamp(int(ts), UTC).date()
    flow = _value(level, slug, "NET_FLOW", day) - level
    end = int(req.query.get("end") or time.time())
    return 200, {}, {"outflows": flow, "oldTokens": {"date": int(ts), "tvl": {}}, "currentTokens": {"date": end,
                                                                                                  "tvl": {}}}


def _open_interest(req):
    (slug,) = _tail(req)
    level = _level("OPEN_INTEREST", slug)
    if level is None:
        return _not_found("Protocol")
    return 200, {}, [[ts, v] for ts, v in _series(slug, "OPEN_INTEREST", level)]


def register_demo(server) -> None:
    """Add DefiLlama's routes (free hosts and Pro paths) to a ReplayServer."""
    server.add("/v2/chains", json=_load("chains.json"))
    server.add("/protocols", json=_load("protocols.json"))
    server.add("/pools", json=_load("pools.json"))
    server.add(path_regex=r"/v2/historicalChainTvl/[^/]+", handler=_chain_tvl)
    server.add(path_regex=r"/protocol/[^/]+", handler=_protocol)
    server.add(path_regex=r"/overview/(fees|dexs|options|derivatives)/[^/]+", handler=_overview)
    server.add(path_regex=r"/summary/(fees|dexs|derivatives)/[^/]+", handler=_summary)
    server.add("/stablecoincharts/all", handler=_stablecoin)
    server.add(path_regex=r"/chart/[^/]+", handler=_pool_chart)
    server.add(path_regex=r"/[^/]+/bridges/bridgevolume/all", handler=_bridge_volume)
    server.add(path_regex=r"/[^/]+/api/inflows/[^/]+/\d+", handler=_inflows)
    server.add(path_regex=r"/[^/]+/api/v2/chart/open-interest/protocol/[^/]+", handler=_open_interest)
    server.add(path_regex=r"/[^/]+/api/overview/derivatives/[^/]+", handler=_overview)
    server.add(path_regex=r"/[^/]+/api/summary/derivatives/[^/]+", handler=_summary)
