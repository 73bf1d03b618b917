"""The Artemis config files: the assets x metrics matrix, the excluded metrics, the Artemis -> DefiLlama map.

All three are read and validated when a run starts (never at DAG parse time). Any problem is an
``ArtemisConfigError`` naming the file and line, and the task fails without retries: retrying cannot fix a file.

* ``artemis_config.csv``: header ``symbol,<METRIC>,<METRIC>,...``; one row per Artemis symbol (``sol``, ``aave``,
  equities ``eq-coin``); a mark (``x``, ``1``, ``y``, ``yes``, ``true``) where that asset's metric is pulled, an
  empty cell (or ``0``, ``n``, ``no``, ``false``, ``-``) where it is not. ``#`` lines are comments.
* ``artemis_excluded_metrics.txt``: one metric per line (``#`` comments). Columns of excluded metrics may stay in
  the matrix; they are never pulled.
* ``artemis_entity_map.csv``: ``artemis_id,defillama_slug,kind,note``, loaded into ``entity_map``.

Each path can be overridden with an environment variable (``ARTEMIS_CONFIG_CSV``, ``ARTEMIS_EXCLUDED_METRICS``,
``ARTEMIS_ENTITY_MAP_CSV``), e.g. to point a staging deployment or a test at a smaller matrix.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from cryptoflow.paths import CONFIG_DIR

MATRIX_ENV, EXCLUDED_ENV, ENTITY_MAP_ENV = "ARTEMIS_CONFIG_CSV", "ARTEMIS_EXCLUDED_METRICS", "ARTEMIS_ENTITY_MAP_CSV"
MATRIX_FILE, EXCLUDED_FILE, ENTITY_MAP_FILE = (
    "artemis_config.csv", "artemis_excluded_metrics.txt", "artemis_entity_map.csv")

# The metric names this package accepts (Artemis's keys from /supported-metrics/). A matrix column or an exclusion
# outside this list is a typo until proven otherwise: add a new Artemis metric here, with what it measures.
KNOWN_METRICS: dict[str, str] = {
    "PRICE": "token price, USD",
    "MC": "circulating market cap, USD",
    "FDMC": "fully diluted market cap, USD",
    "24H_VOLUME": "token trading volume over the day, USD",
    "CIRCULATING_SUPPLY": "circulating supply, tokens",
    "FEES": "fees paid by users, USD",
    "REVENUE": "fees kept by the protocol or its token holders, USD",
    "EARNINGS": "revenue minus token incentives, USD",
    "TOKEN_INCENTIVES": "tokens emitted as incentives, USD",
    "DAU": "daily active addresses",
    "NEW_USERS": "addresses active for the first time",
    "RETURNING_USERS": "addresses active before",
    "TXNS": "transactions per day",
    "AVG_TXN_FEE": "average fee per transaction, USD",
    "TVL": "total value locked, USD",
    "SPOT_VOLUME": "DEX spot volume, USD",
    "SPOT_FEES": "DEX spot fees, USD",
    "SPOT_TXNS": "DEX spot trades",
    "SPOT_DAU": "DEX spot traders",
    "PERP_VOLUME": "perpetuals volume, USD",
    "PERP_FEES": "perpetuals fees, USD",
    "PERP_TXNS": "perpetuals trades",
    "PERP_DAU": "perpetuals traders",
    "OPEN_INTEREST": "perpetuals open interest, USD",
    "LENDING_DEPOSITS": "lending deposits, USD",
    "LENDING_BORROWS": "lending loans outstanding, USD",
    "STABLECOIN_MC": "stablecoin supply on the chain, USD",
    "STABLECOIN_TRANSFER_VOLUME": "stablecoin transfer volume, USD",
    "STABLECOIN_DAU": "stablecoin daily active addresses",
    "STABLECOIN_AVG_DAU": "stablecoin daily active addresses, 30-day average",
    "P2P_STABLECOIN_TRANSFER_VOLUME": "peer-to-peer stablecoin transfer volume, USD",
    "BRIDGE_VOLUME": "bridged volume, USD",
    "BRIDGE_DAU": "bridge daily active addresses",
    "WEEKLY_COMMITS_CORE_ECOSYSTEM": "weekly commits to core repositories",
    "WEEKLY_DEVS_CORE_ECOSYSTEM": "weekly active core developers",
    "VOLATILITY_90D_ANN": "90-day annualised volatility of the price",
    "TOKENIZED_SHARES_TRADING_VOLUME": "trading volume of tokenized shares of an equity, USD",
    "FDMV_NAV_RATIO": "fully diluted market value over net asset value (treasury companies)",
}

TRUE_MARKS = frozenset({"x", "1", "y", "yes", "true"})
FALSE_MARKS = frozenset({"", "0", "n", "no", "false", "-"})
SYMBOL_RE = re.compile(r"^(eq-)?[a-z0-9][a-z0-9._-]{0,63}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
ENTITY_KINDS = frozenset({"chain", "protocol", "asset", "equity"})


class ArtemisConfigError(AirflowFailException):
    """A config file is wrong; the message names the file, the line and what to fix."""


@dataclass(frozen=True)
class Matrix:
    """The (symbol, metric) pairs to pull, without excluded metrics."""

    pairs: dict[str, tuple[str, ...]]       # symbol -> its metrics, sorted; symbols with none are left out
    symbols: tuple[str, ...]                # every symbol of the file, in file order
    excluded_columns: tuple[str, ...]       # excluded metrics that have a column (never pulled)

    @property
    def pair_set(self) -> frozenset[tuple[str, str]]:
        return frozenset((s, m) for s, ms in self.pairs.items() for m in ms)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(sorted({m for ms in self.pairs.values() for m in ms}))


@dataclass(frozen=True)
class EntityLink:
    artemis_id: str
    defillama_slug: str
    kind: str | None
    note: str


def resolve(explicit: str | os.PathLike | None, env_var: str, filename: str) -> Path:
    """``explicit``, else ``$env_var``, else ``include/config/<filename>``."""
    return Path(explicit or os.environ.get(env_var) or CONFIG_DIR / filename)


def _read(path: Path, env_var: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ArtemisConfigError(
            f"Artemis config file {path} does not exist (set {env_var} to use another file)") from None


def _lines(text: str):
    """(line number, line) of the lines that are neither blank nor ``#`` comments."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _fields(line: str) -> list[str]:
    return [f.strip() for f in next(csv.reader([line]))]


def parse_exclusions(text: str, name: str = EXCLUDED_FILE) -> frozenset[str]:
    excluded = set()
    for number, line in _lines(text):
        metric = line.split("#", 1)[0].strip().upper()
        if metric not in KNOWN_METRICS:
            raise ArtemisConfigError(f"{name} line {number}: unknown metric {metric!r}; known metrics are listed in "
                                     "KNOWN_METRICS of cryptoflow/sources/artemis/config.py")
        excluded.add(metric)
    return frozenset(excluded)


def parse_matrix(text: str, excluded: frozenset[str] = frozenset(), name: str = MATRIX_FILE) -> Matrix:
    rows = _lines(text)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise ArtemisConfigError(
            f"{name} is empty: expected a header 'symbol,<METRIC>,...' and one row per asset") from None
    columns = _fields(header)
    if columns[0].lower() != "symbol":
        raise ArtemisConfigError(f"{name} line {header_line}: the first column must be 'symbol', not {columns[0]!r}")
    metrics = [c.upper() for c in columns[1:]]
    if not metrics:
        raise ArtemisConfigError(f"{name} line {header_line}: no metric columns after 'symbol'")
    seen_metrics: set[str] = set()
    for position, metric in enumerate(metrics, start=2):
        if metric not in KNOWN_METRICS:
            raise ArtemisConfigError(
                f"{name} line {header_line}, column {position}: unknown metric {metric!r}; check the spelling, or "
                "add the metric to KNOWN_METRICS in cryptoflow/sources/artemis/config.py")
        if metric in seen_metrics:
            raise ArtemisConfigError(f"{name} line {header_line}, column {position}: metric {metric!r} appears twice")
        seen_metrics.add(metric)

    pairs: dict[str, tuple[str, ...]] = {}
    first_seen: dict[str, int] = {}
    for number, line in rows:
        fields = _fields(line)
        if len(fields) != len(columns):
            raise ArtemisConfigError(
                f"{name} line {number}: malformed row: {len(fields)} fields where the header (line {header_line}) "
                f"has {len(columns)} (symbol + {len(metrics)} metrics); keep one cell per metric, empty when not "
                "pulled")
        symbol = fields[0].lower()
        if not SYMBOL_RE.match(symbol):
            raise ArtemisConfigError(
                f"{name} line {number}: malformed symbol {fields[0]!r}: expected an Artemis symbol such as 'sol' or "
                "'eq-coin' (letters, digits, '.', '_', '-')")
        if symbol in first_seen:
            raise ArtemisConfigError(f"{name} line {number}: duplicate asset {symbol!r} (first on line "
                                     f"{first_seen[symbol]}); keep one row per asset")
        first_seen[symbol] = number
        wanted = []
        for metric, cell in zip(metrics, fields[1:], strict=True):
            mark = cell.lower()
            if mark in TRUE_MARKS:
                wanted.append(metric)
            elif mark not in FALSE_MARKS:
                raise ArtemisConfigError(
                    f"{name} line {number}: malformed row: {cell!r} in column {metric} of {symbol!r}; mark a pulled "
                    "metric with 'x' and leave the others empty")
        wanted = sorted(m for m in wanted if m not in excluded)
        if wanted:
            pairs[symbol] = tuple(wanted)
    return Matrix(pairs=pairs, symbols=tuple(first_seen),
                  excluded_columns=tuple(m for m in metrics if m in excluded))


def parse_entity_map(text: str, name: str = ENTITY_MAP_FILE) -> list[EntityLink]:
    rows = _lines(text)
    try:
        header_line, header = next(rows)
    except StopIteration:
        return []
    columns = [c.lower() for c in _fields(header)]
    missing = {"artemis_id", "defillama_slug"} - set(columns)
    if missing:
        raise ArtemisConfigError(f"{name} line {header_line}: the header lacks {sorted(missing)}; expected "
                                 "'artemis_id,defillama_slug,kind,note'")
    links: list[EntityLink] = []
    first_seen: dict[str, int] = {}
    for number, line in rows:
        fields = _fields(line)
        if len(fields) > len(columns):
            raise ArtemisConfigError(f"{name} line {number}: malformed row: {len(fields)} fields, the header has "
                                     f"{len(columns)}")
        row = dict(zip(columns, fields + [""] * (len(columns) - len(fields)), strict=True))
        artemis_id, slug, kind = row["artemis_id"].lower(), row["defillama_slug"].lower(), row.get("kind", "").lower()
        if not SYMBOL_RE.match(artemis_id):
            raise ArtemisConfigError(f"{name} line {number}: malformed artemis_id {row['artemis_id']!r}")
        if not SLUG_RE.match(slug):
            raise ArtemisConfigError(f"{name} line {number}: malformed defillama_slug {row['defillama_slug']!r}")
        if kind and kind not in ENTITY_KINDS:
            raise ArtemisConfigError(f"{name} line {number}: kind {kind!r} is not one of {sorted(ENTITY_KINDS)}")
        if artemis_id in first_seen:
            raise ArtemisConfigError(f"{name} line {number}: duplicate artemis_id {artemis_id!r} (first on line "
                                     f"{first_seen[artemis_id]})")
        first_seen[artemis_id] = number
        links.append(EntityLink(artemis_id, slug, kind or None, row.get("note", "")))
    return links


@dataclass(frozen=True)
class ArtemisConfig:
    matrix: Matrix
    excluded: frozenset[str]
    entity_links: list[EntityLink]


def load_config(matrix_path: str | os.PathLike | None = None, excluded_path: str | os.PathLike | None = None,
                entity_map_path: str | os.PathLike | None = None) -> ArtemisConfig:
    """Read and validate the three files (explicit paths win over the environment variables and the defaults)."""
    excluded_file = resolve(excluded_path, EXCLUDED_ENV, EXCLUDED_FILE)
    excluded = parse_exclusions(_read(excluded_file, EXCLUDED_ENV), name=str(excluded_file))
    matrix_file = resolve(matrix_path, MATRIX_ENV, MATRIX_FILE)
    matrix = parse_matrix(_read(matrix_file, MATRIX_ENV), excluded, name=str(matrix_file))
    map_file = resolve(entity_map_path, ENTITY_MAP_ENV, ENTITY_MAP_FILE)
    links = parse_entity_map(_read(map_file, ENTITY_MAP_ENV), name=str(map_file))
    return ArtemisConfig(matrix=matrix, excluded=excluded, entity_links=links)
