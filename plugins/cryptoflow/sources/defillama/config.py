"""What to pull: the metric catalogue (endpoint, parser, lookback per metric) and the entity list from
``include/config/defillama_entities.csv``, plus the identity overrides of ``include/config/entity_map.csv``."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from cryptoflow.paths import CONFIG_DIR

ENTITIES_CSV = "defillama_entities.csv"
ENTITY_MAP_CSV = "entity_map.csv"
# each file's path can be overridden (a staging deployment, a test, the demo) with these variables
ENTITIES_ENV, ENTITY_MAP_ENV = "DEFILLAMA_ENTITIES_CSV", "DEFILLAMA_ENTITY_MAP_CSV"
KINDS = ("chain", "protocol", "stablecoin", "bridge", "pool")
DEFAULT_LOOKBACK = timedelta(days=2)


class ConfigError(AirflowFailException):
    """A config file is wrong; retrying cannot help, so the task fails at once and says what to fix."""


@dataclass(frozen=True)
class Endpoint:
    """Where a metric's series comes from. ``service``: api, stablecoins, yields, pro, or api_or_pro (Pro when a
    key is set, the legacy free path otherwise). Paths and params are templates over ``slug``, ``name``
    (DefiLlama's chain name), ``id``."""

    service: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    pro_path: str | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str               # chain, protocol, stablecoin, bridge
    dataset: str
    endpoint: Endpoint
    parser: str             # a function of parsing.py, see datasets.PARSERS
    lookback: timedelta = DEFAULT_LOOKBACK
    live_snapshot: bool = False   # the series ends with an intraday snapshot a live run keeps
    pro_only: bool = False


def _overview(data_type: str | None = None) -> tuple[tuple[str, str], ...]:
    params = [("excludeTotalDataChart", "false"), ("excludeTotalDataChartBreakdown", "true")]
    if data_type:
        params.append(("dataType", data_type))
    return tuple(params)


_FLAGS = _overview()
METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    # chains
    MetricSpec("CHAIN_TVL", "chain", "chain_tvl", Endpoint("api", "/v2/historicalChainTvl/{name}"), "chain_tvl",
               live_snapshot=True),
    MetricSpec("CHAIN_FEES_24H", "chain", "fees",
               Endpoint("api", "/overview/fees/{name}", _overview("dailyFees")), "dimension"),
    MetricSpec("CHAIN_REVENUE_24H", "chain", "fees",
               Endpoint("api", "/overview/fees/{name}", _overview("dailyRevenue")), "dimension"),
    MetricSpec("CHAIN_DEX_VOLUME_24H", "chain", "volumes", Endpoint("api", "/overview/dexs/{name}", _FLAGS),
               "dimension"),
    MetricSpec("CHAIN_OPTIONS_VOLUME_24H", "chain", "volumes",
               Endpoint("api", "/overview/options/{name}", _overview("dailyNotionalVolume")), "dimension"),
    MetricSpec("CHAIN_PERPS_VOLUME_24H", "chain", "derivatives",
               Endpoint("api_or_pro", "/overview/derivatives/{name}", _FLAGS,
                        pro_path="/api/overview/derivatives/{name}"), "dimension"),
    # protocols
    MetricSpec("TVL", "protocol", "protocol_tvl", Endpoint("api", "/protocol/{slug}"), "protocol_tvl",
               live_snapshot=True),
    MetricSpec("FEES_24H", "protocol", "fees",
               Endpoint("api", "/summary/fees/{slug}", _overview("dailyFees")), "dimension"),
    MetricSpec("REVENUE_24H", "protocol", "fees",
               Endpoint("api", "/summary/fees/{slug}", _overview("dailyRevenue")), "dimension"),
    MetricSpec("DEX_VOLUME_24H", "protocol", "volumes", Endpoint("api", "/summary/dexs/{slug}", _FLAGS),
               "dimension"),
    MetricSpec("DERIVATIVES_VOLUME_24H", "protocol", "derivatives",
               Endpoint("api_or_pro", "/summary/derivatives/{slug}", _FLAGS,
                        pro_path="/api/summary/derivatives/{slug}"), "dimension"),
    # stablecoins and bridges
    MetricSpec("STABLECOIN_SUPPLY", "stablecoin", "stablecoins",
               Endpoint("stablecoins", "/stablecoincharts/all", (("stablecoin", "{id}"),)), "stablecoin"),
    *(MetricSpec(f"BRIDGE_VOLUME_{span}", "bridge", "bridges",
                 Endpoint("pro", "/bridges/bridgevolume/all", (("id", "{id}"),)), "bridge_volume", pro_only=True)
      for span in ("24H", "7D", "30D")),
    # Pro only
    MetricSpec("OPEN_INTEREST", "protocol", "pro",
               Endpoint("pro", "/api/v2/chart/open-interest/protocol/{slug}", (("dataType", "openInterestAtEnd"),)),
               "chart", pro_only=True),
    MetricSpec("NET_FLOW", "protocol", "pro", Endpoint("pro", "/api/inflows/{slug}/{day}", (("end", "{day_end}"),)),
               "inflows", pro_only=True),
)}

HOURLY_DATASETS = ("chain_tvl", "protocol_tvl", "fees", "volumes", "derivatives", "stablecoins", "bridges", "pro")


@dataclass(frozen=True)
class EntityRow:
    slug: str                 # our asset name (metrics.asset)
    kind: str                 # '' = chain or protocol, detected from /v2/chains
    id: str                   # stablecoin id, bridge id, yields pool id
    metrics: tuple[str, ...]
    lookback: timedelta | None
    line: int


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """CSV rows with their line numbers; '#' comment lines and blank lines are allowed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"{path} has no header line")
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in lines)))
    out = []
    for (number, _), row in zip(lines[1:], reader, strict=True):
        if None in row:
            raise ConfigError(f"{path}:{number}: more fields than the header has")
        out.append((number, {k.strip(): (v or "").strip() for k, v in row.items() if k}))
    return out


def load_entities(path: Path | None = None) -> list[EntityRow]:
    """The entities to pull, validated: a wrong line fails the task naming the file, line and what to fix."""
    path = path or Path(os.environ.get(ENTITIES_ENV) or CONFIG_DIR / ENTITIES_CSV)
    entities, seen = [], set()
    for number, row in _rows(path):
        where = f"{path.name}:{number}"
        slug, kind, ident = row.get("slug", ""), row.get("kind", "").lower(), row.get("id", "")
        if not slug:
            raise ConfigError(f"{where}: slug is empty")
        if kind and kind not in KINDS:
            raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)} (or empty to detect)")
        if kind in ("stablecoin", "bridge", "pool") and not ident:
            raise ConfigError(f"{where}: a {kind} needs its DefiLlama id in the id column")
        metrics = tuple(m.strip().upper() for m in row.get("metrics", "").replace(",", " ").split() if m.strip())
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ConfigError(f"{where}: unknown metric(s) {unknown}; known: {', '.join(sorted(METRICS))}")
        if kind:
            wrong = [m for m in metrics if METRICS[m].kind != kind and not (kind == "pool")]
            if wrong:
                raise ConfigError(f"{where}: {wrong} are not {kind} metrics")
        lookback = None
        if row.get("lookback_days"):
            try:
                lookback = timedelta(days=float(row["lookback_days"]))
            except ValueError:
                raise ConfigError(f"{where}: lookback_days {row['lookback_days']!r} is not a number") from None
            if lookback <= timedelta(0):
                raise ConfigError(f"{where}: lookback_days must be positive")
        key = (slug, kind or "auto")
        if key in seen:
            raise ConfigError(f"{where}: {slug} is listed twice")
        seen.add(key)
        entities.append(EntityRow(slug=slug, kind=kind, id=ident, metrics=metrics, lookback=lookback, line=number))
    return entities


@dataclass(frozen=True)
class IdentityOverride:
    defillama_slug: str
    kind: str
    coingecko_id: str
    entity: str
    contract: str             # 'chain:address' checked by hand, or ''
    line: int


def load_identity_overrides(path: Path | None = None) -> list[IdentityOverride]:
    path = path or Path(os.environ.get(ENTITY_MAP_ENV) or CONFIG_DIR / ENTITY_MAP_CSV)
    out, seen = [], set()
    for number, row in _rows(path):
        slug = row.get("defillama_slug", "")
        if not slug:
            raise ConfigError(f"{path.name}:{number}: defillama_slug is empty")
        if slug in seen:
            raise ConfigError(f"{path.name}:{number}: {slug} is listed twice")
        seen.add(slug)
        kind = row.get("kind", "").lower()
        if kind and kind not in ("chain", "protocol"):
            raise ConfigError(f"{path.name}:{number}: kind must be chain, protocol or empty")
        contract = row.get("contract", "")
        if contract and ":" not in contract:
            raise ConfigError(f"{path.name}:{number}: contract must be written chain:address, got {contract!r}")
        out.append(IdentityOverride(defillama_slug=slug, kind=kind, coingecko_id=row.get("coingecko_id", ""),
                                    entity=row.get("entity", ""), contract=contract, line=number))
    return out
