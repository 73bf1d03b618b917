"""Data-quality checks: SQL that fails loudly, per source, dataset and data interval.

Every ingest task ``ingest_<dataset>`` that has checks is followed by ``check_<dataset>``, and the ``candles`` DAG's
``refresh_candles`` by ``quality_checks``. The check task runs the dataset's checks on the rows its interval covers:

* ``freshness``: the newest row before the interval end is at most ``max_lag`` old;
* ``row_count``: the interval holds at least ``min_rows`` rows when its pull loaded valid records (derived candles:
  every traded minute has its candle);
* ``unique_keys``: no record stored twice under different keys;
* ``non_negative``: TVL, volumes, fees, supplies;
* ``ohlc``: ``low <= least(open, close)``, ``greatest(open, close) <= high``, prices above zero;
* ``jumps``: a value more than ``max_ratio`` times (or below 1/``max_ratio`` of) the previous one: a warning.

A check is the query of its offending rows (``include/sql/checks/<kind>.sql``) over a scope
(``include/sql/checks/scopes/<scope>.sql``: which rows of a table the interval covers). Every result, pass, warn or
fail, goes to ``check_results`` (replacing the interval's earlier results), then failures raise
``DataQualityCheckFailed``, an ``AirflowFailException``: no retries (a re-run finds the same rows), and the task's
failure alert names the offending rows. Thresholds are the defaults below, overridable per dataset with the Airflow
Variable ``cryptoflow_checks`` (JSON, see ``parse_overrides``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from psycopg import sql

from cryptoflow.paths import read_sql
from cryptoflow.warehouse import WAREHOUSE_CONN_ID, as_jsonb

log = logging.getLogger(__name__)

VARIABLE = "cryptoflow_checks"
PASS, WARN, FAIL, OFF = "pass", "warn", "fail", "off"
SAMPLE_SIZE = 20                 # offending rows stored per check
SHOWN_ROWS = 3                   # offending rows named in the error (and the alert)
STATEMENT_TIMEOUT = "10min"
# metrics that cannot be negative (revenue and net flows can); a case-insensitive regular expression
NON_NEGATIVE_METRICS = "TVL|VOLUME|FEES|SUPPLY|OPEN_INTEREST"
WSOL_MINT = "So11111111111111111111111111111111111111112"
DURATION_SETTINGS = frozenset({"max_lag", "horizon", "margin"})

HINTS = {
    "freshness": "the source delivered nothing new: read the ingest task's log and its pulls rows (errors, empty "
                 "answers), check the provider's status; if the data is late by design, raise max_lag",
    "row_count": "the pull loaded records that are not where the interval's rows belong (wrong timestamps, another "
                 "key, deleted since): compare pulls with the table, fix the loader, clear the ingest and check tasks",
    "row_count_trade_candles": "traded minutes have no candle: rebuild the range (python -m cryptoflow.candles "
                               "rebuild --from ... --to ...) or clear refresh_candles, then this task",
    "unique_keys": "one record is stored under two keys: delete the wrong rows named here, fix what wrote them, "
                   "clear this task",
    "non_negative": "a negative amount came from the source or the parser: look at raw_responses for the interval, "
                    "fix the parser (or delete the rows), clear the ingest and check tasks",
    "ohlc": "impossible candles: re-load the interval (delete its candles, clear the ingest task) or, for derived "
            "candles, fix the trades and rebuild; then clear this task",
    "jumps": "compare the values with the source; a real move needs nothing, a glitch needs a re-load",
}


class CheckConfigError(AirflowFailException):
    """The ``cryptoflow_checks`` Variable is wrong; the message says what to fix."""


class DataQualityCheckFailed(AirflowFailException):
    """One or more data-quality checks failed; the message names the checks and offending rows."""


class NothingToCheck(Exception):
    """The dataset has nothing configured (no watchlist tokens, no pools): its checks do not apply."""


@dataclass(frozen=True)
class Check:
    name: str                   # what it is (and its key in the Variable): freshness, row_count, ...
    table: str
    kind: str                   # include/sql/checks/<kind>.sql
    scope: str | None = None    # include/sql/checks/scopes/<scope>.sql, composed in as {scope}
    severity: str = FAIL
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # identifiers: series, ts, value, key, values
    settings: Mapping[str, Any] = field(default_factory=dict)              # thresholds (overridable)


@dataclass(frozen=True)
class DatasetChecks:
    source: str
    dataset: str
    checks: tuple[Check, ...]
    # the rows an interval's run covers, as [window_start, window_end) of the scopes
    window: Callable[[datetime, datetime], tuple[datetime, datetime]]
    # scope parameters read at run time (tokens, metrics); raises NothingToCheck when nothing is configured
    params: Callable[[psycopg.Connection], dict[str, Any]] = lambda conn: {}

    @property
    def label(self) -> str:
        return f"{self.source}.{self.dataset}"


@dataclass
class CheckResult:
    name: str
    table: str
    status: str
    offending_rows: int
    sample: list[dict[str, Any]]
    message: str
    settings: dict[str, Any]
    hint: str

    def line(self) -> str:
        return f"{self.name} on {self.table}: {self.message}"


@dataclass
class CheckReport:
    label: str
    interval_start: datetime
    interval_end: datetime
    results: list[CheckResult]
    dag_id: str = ""
    task_id: str = ""
    skipped: str | None = None

    def of_status(self, status: str) -> list[CheckResult]:
        return [r for r in self.results if r.status == status]

    def summary(self) -> dict[str, Any]:
        return {"checks": len(self.results), **{s: [f"{r.name}:{r.table}" for r in self.of_status(s)]
                                                for s in (FAIL, WARN)}, "skipped": self.skipped}

    def raise_for_failures(self) -> None:
        failed = self.of_status(FAIL)
        if not failed:
            return
        where = (f"SELECT * FROM check_results WHERE dag_id = '{self.dag_id}' AND task_id = '{self.task_id}' AND "
                 f"interval_end = '{self.interval_end.isoformat()}'")
        raise DataQualityCheckFailed(
            f"{self.label} [{self.interval_start}, {self.interval_end}): {len(failed)} data-quality check(s) failed. "
            + " | ".join(f"{r.line()}. To fix: {r.hint}" for r in failed)
            + f" | All results: {where}")


# -- the checks of each dataset -------------------------------------------------------------------------------------

def _metrics_checks(source: str, dataset: str, *, window, params, max_lag: timedelta,
                    max_per_day: int) -> DatasetChecks:
    series = {"series": ("asset", "metric"), "ts": ("ts",)}
    return DatasetChecks(source, dataset, window=window, params=params, checks=(
        Check("freshness", "metrics", "freshness", "metrics", columns=series,
              settings={"max_lag": max_lag, "horizon": max_lag * 10}),
        Check("row_count", "metrics", "row_count", "metrics", settings={"min_rows": 1}),
        Check("unique_keys", "metrics", "unique_keys_metrics", "metrics", settings={"max_per_day": max_per_day}),
        Check("non_negative", "metrics", "non_negative", "metrics",
              columns={"key": ("asset", "metric", "ts"), "values": ("value",)},
              settings={"metric_pattern": NON_NEGATIVE_METRICS}),
        Check("jumps", "metrics", "jumps", "metrics", WARN, columns={**series, "value": ("value",)},
              settings={"max_ratio": 10, "margin": timedelta(days=3), "metric_pattern": NON_NEGATIVE_METRICS}),
    ))


def _defillama_hourly(dataset: str) -> DatasetChecks:
    from cryptoflow.sources.defillama.config import METRICS

    specs = [spec for spec in METRICS.values() if spec.dataset == dataset]
    lookback = max(spec.lookback for spec in specs)
    metrics = sorted(spec.name for spec in specs)
    # TVL and supplies have a point every day (and a live intraday one); fees, volumes and flows are published for
    # the day after it ended, sometimes a day later
    max_lag = timedelta(hours=36) if dataset in ("chain_tvl", "protocol_tvl", "stablecoins") else timedelta(days=3)
    return _metrics_checks(
        "defillama", dataset, max_lag=max_lag, max_per_day=2,
        # the points a run (re)loads, and the intraday snapshot a live run keeps just after the interval end
        window=lambda start, end: (end - lookback, end + timedelta(hours=1)),
        params=lambda conn: {"source": "defillama", "metrics": metrics, "metric_pattern": ""})


def _artemis_metrics() -> DatasetChecks:
    def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
        midnight = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=3), midnight      # the 3 whole days before the run's day (lookback_days)

    def params(conn: psycopg.Connection) -> dict[str, Any]:
        from cryptoflow.sources import get_dataset

        return {"source": "artemis", "metrics": list(get_dataset("artemis", "metrics").load_config().matrix.metrics),
                "metric_pattern": ""}

    return _metrics_checks("artemis", "metrics", window=window, params=params, max_lag=timedelta(days=3),
                           max_per_day=1)


def _birdeye_ohlcv() -> DatasetChecks:
    def params(conn: psycopg.Connection) -> dict[str, Any]:
        from cryptoflow.sources import get_dataset
        from cryptoflow.sources.birdeye.hook import BirdeyeHook
        from cryptoflow.sources.birdeye.watchlist import load_watchlist

        try:
            chain = BirdeyeHook().chain
        except Exception:  # noqa: BLE001 - no connection: the addresses are checked as Solana mints
            chain = "solana"
        tokens, origin = load_watchlist(conn, chain, get_dataset("birdeye", "ohlcv").watchlist_path)
        if not tokens:
            raise NothingToCheck(f"no watchlist tokens in {origin}")
        return {"source": "birdeye", "tokens": [t.address for t in tokens],
                "intervals": sorted({tf.name for t in tokens for tf in t.timeframes})}

    candle = {"series": ("token", "interval"), "ts": ("bucket_start",)}
    return DatasetChecks("birdeye", "ohlcv", window=lambda start, end: (start, end), params=params, checks=(
        Check("freshness", "candles", "freshness", "closed_candles", columns=candle,
              settings={"max_lag": timedelta(minutes=30), "horizon": timedelta(hours=6)}),
        Check("row_count", "candles", "row_count", "closed_candles", settings={"min_rows": 1}),
        Check("unique_keys", "candles", "unique_keys_candles", "closed_candles"),
        Check("ohlc", "candles", "ohlc", "closed_candles"),
        Check("non_negative", "candles", "non_negative", "closed_candles",
              columns={"key": ("token", "interval", "bucket_start"), "values": ("volume", "volume_usd")}),
        Check("jumps", "candles", "jumps", "closed_candles", WARN, columns={**candle, "value": ("close",)},
              settings={"max_ratio": 1.5, "margin": timedelta(days=1)}),
    ))


def _helius_transactions() -> DatasetChecks:
    return DatasetChecks("helius", "transactions", window=lambda start, end: (start, end), checks=(
        Check("freshness", "wallet_transactions", "freshness", "wallet_transactions",
              columns={"series": ("type",), "ts": ("block_time",)},
              settings={"max_lag": timedelta(hours=1), "horizon": timedelta(days=1)}),
        Check("row_count", "wallet_transactions", "row_count", "wallet_transactions", settings={"min_rows": 1}),
        Check("unique_keys", "trades", "unique_keys_trades", "trades"),
        Check("non_negative", "trades", "non_negative", "trades",
              columns={"key": ("block_time", "signature", "event_index"),
                       "values": ("token_amount", "quote_amount", "price")}),
    ))


def _trade_candles() -> DatasetChecks:
    from cryptoflow.candles.refresh import INTERVALS

    candle = {"series": ("token", "interval"), "ts": ("bucket_start",)}
    return DatasetChecks(
        "trades", "candles", window=lambda start, end: (start, end),
        params=lambda conn: {"intervals": list(INTERVALS), "quote_mint": WSOL_MINT}, checks=(
            Check("row_count", "candles", "row_count_trade_candles"),
            Check("unique_keys", "candles", "unique_keys_candles", "trade_candles"),
            Check("ohlc", "candles", "ohlc", "trade_candles"),
            Check("non_negative", "candles", "non_negative", "trade_candles",
                  columns={"key": ("token", "interval", "bucket_start"), "values": ("volume", "volume_quote")}),
            Check("jumps", "candles", "jumps", "trade_candles", WARN, columns={**candle, "value": ("close",)},
                  settings={"max_ratio": 1.5, "margin": timedelta(days=1)}),
        ))


def _defillama_daily(dataset: str) -> DatasetChecks | None:
    day = lambda start, end: (start, end)  # noqa: E731 - the UTC day the run is for
    if dataset == "catalog":
        return DatasetChecks("defillama", "catalog", window=day, checks=(
            Check("non_negative", "chains", "non_negative", "chains",
                  columns={"key": ("slug",), "values": ("tvl",)}),
            Check("non_negative", "protocols", "non_negative", "protocols",
                  columns={"key": ("slug",), "values": ("tvl",)}),
            Check("non_negative", "protocol_daily_snapshots", "non_negative", "protocol_daily_snapshots",
                  columns={"key": ("protocol", "day"), "values": ("tvl",)}),
        ))
    if dataset == "pools":
        return DatasetChecks("defillama", "pools", window=day, params=lambda conn: {"endpoints": ["pools"]}, checks=(
            Check("non_negative", "pools", "non_negative", "pools",
                  columns={"key": ("pool",), "values": ("tvl_usd", "volume_usd_1d", "volume_usd_7d")}),
            Check("non_negative", "pool_daily_snapshots", "non_negative", "pool_daily_snapshots",
                  columns={"key": ("pool", "day"), "values": ("tvl_usd", "volume_usd_1d")}),
        ))
    if dataset == "pool_history":
        def params(conn: psycopg.Connection) -> dict[str, Any]:
            from cryptoflow.sources.defillama.config import load_entities

            if not any(e.kind == "pool" for e in load_entities()):
                raise NothingToCheck("no pool in include/config/defillama_entities.csv")
            return {"endpoints": ["chart"]}

        def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
            from cryptoflow.sources.defillama.catalog import PoolHistoryDataset

            return end - PoolHistoryDataset.lookback, end     # the days a run (re)loads

        pool = {"series": ("pool",), "ts": ("snapshot_at",)}
        return DatasetChecks("defillama", "pool_history", window=window, params=params, checks=(
            Check("freshness", "pool_daily_snapshots", "freshness", "pool_daily_snapshots", columns=pool,
                  settings={"max_lag": timedelta(days=3), "horizon": timedelta(days=30)}),
            Check("row_count", "pool_daily_snapshots", "row_count", "pool_daily_snapshots", settings={"min_rows": 1}),
            Check("non_negative", "pool_daily_snapshots", "non_negative", "pool_daily_snapshots",
                  columns={"key": ("pool", "day"), "values": ("tvl_usd",)}),
            Check("jumps", "pool_daily_snapshots", "jumps", "pool_daily_snapshots", WARN,
                  columns={**pool, "value": ("tvl_usd",)}, settings={"max_ratio": 10, "margin": timedelta(days=3)}),
        ))
    return None


def dataset_checks(source: str, dataset: str) -> DatasetChecks | None:
    """The checks of ``source.dataset``, or None when it has none (contract mappings, entity map)."""
    if source == "defillama":
        from cryptoflow.sources.defillama.config import HOURLY_DATASETS

        return _defillama_hourly(dataset) if dataset in HOURLY_DATASETS else _defillama_daily(dataset)
    builders = {("artemis", "metrics"): _artemis_metrics, ("birdeye", "ohlcv"): _birdeye_ohlcv,
                ("helius", "transactions"): _helius_transactions, ("trades", "candles"): _trade_candles}
    builder = builders.get((source, dataset))
    return builder() if builder else None


def has_checks(source: str, dataset: str) -> bool:
    return dataset_checks(source, dataset) is not None


# -- settings and their overrides -----------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any, where: str) -> timedelta:
    """``"45m"``, ``"2 hours"``, ``"3d"``, or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise CheckConfigError(f"{where}: {value!r} is not a duration; write e.g. \"45m\", \"2h\", \"3d\" or a number "
                               "of seconds")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()])


def parse_overrides(raw: str | Mapping | None, spec: DatasetChecks) -> dict[str, dict[str, Any]]:
    """Check name -> settings for ``spec`` from the ``cryptoflow_checks`` Variable, e.g.

    ``{"birdeye.ohlcv": {"freshness": {"max_lag": "45m"}}, "defillama.*": {"jumps": {"severity": "off"}}}``

    Keys are ``*``, ``<source>.*`` or ``<source>.<dataset>`` (the more specific wins); settings are a check's
    thresholds plus ``severity`` (``fail``, ``warn`` or ``off``).
    """
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise CheckConfigError(f"Variable {VARIABLE} is not valid JSON ({exc}); fix it in Admin > Variables"
                                   ) from None
    if not isinstance(raw, Mapping):
        raise CheckConfigError(f"Variable {VARIABLE} must be a JSON object of \"<source>.<dataset>\" keys")
    by_name: dict[str, dict[str, Any]] = {}
    for check in spec.checks:
        by_name.setdefault(check.name, {}).update(check.settings)
    out: dict[str, dict[str, Any]] = {}
    for key in ("*", f"{spec.source}.*", spec.label):
        block = raw.get(key)
        if block is None:
            continue
        exact = key == spec.label
        if not isinstance(block, Mapping):
            raise CheckConfigError(f"Variable {VARIABLE}, {key!r}: expected an object of check name -> settings")
        for name, settings in block.items():
            where = f"Variable {VARIABLE}, {key!r}, {name!r}"
            if name not in by_name:
                if exact:
                    raise CheckConfigError(f"{where}: {spec.label} has no such check; it has {sorted(by_name)}")
                continue
            if not isinstance(settings, Mapping):
                raise CheckConfigError(f"{where}: expected an object of settings")
            for setting, value in settings.items():
                known = {"severity", *by_name[name]}
                if setting not in known:
                    raise CheckConfigError(f"{where}: unknown setting {setting!r}; known: {sorted(known)}")
                out.setdefault(name, {})[setting] = _setting(setting, value, f"{where}.{setting}")
    return out


def _setting(name: str, value: Any, where: str) -> Any:
    if name == "severity":
        if value not in (FAIL, WARN, OFF):
            raise CheckConfigError(f"{where}: {value!r} is not one of fail, warn, off")
        return value
    if name in DURATION_SETTINGS:
        return parse_duration(value, where)
    if name == "metric_pattern":
        try:
            re.compile(str(value))
        except re.error as exc:
            raise CheckConfigError(f"{where}: not a regular expression ({exc})") from None
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CheckConfigError(f"{where}: {value!r} is not a non-negative number")
    if name in ("min_rows", "max_per_day") and value != int(value):
        raise CheckConfigError(f"{where}: {value!r} is not a whole number")
    return int(value) if name in ("min_rows", "max_per_day") else value


# -- running --------------------------------------------------------------------------------------------------------

def _identifiers(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def compose(check: Check) -> sql.Composed:
    """The query of ``check``'s offending rows wrapped in evaluate.sql: (offending row count, sample)."""
    parts: dict[str, sql.Composable] = {}
    if check.scope:
        parts["scope"] = sql.SQL(read_sql(f"checks/scopes/{check.scope}.sql").strip())
    for name in ("series", "ts", "value", "key"):
        if name in check.columns:
            parts[name] = _identifiers(check.columns[name])
    if "values" in check.columns:
        parts["negative"] = sql.SQL(" OR ").join(sql.SQL("{} < 0").format(sql.Identifier(c))
                                                for c in check.columns["values"])
    query = sql.SQL(read_sql(f"checks/{check.kind}.sql").strip()).format(**parts)
    return sql.SQL(read_sql("checks/evaluate.sql").strip()).format(check=query)


def _values(check: Check, settings: Mapping[str, Any], params: Mapping[str, Any], window: tuple[datetime, datetime],
            interval: tuple[datetime, datetime], pull: tuple[str, str]) -> dict[str, Any]:
    start, end = interval
    window_start, window_end = window
    values: dict[str, Any] = {"metric_pattern": "", **params, **settings, "interval_start": start,
                              "interval_end": end, "pull_source": pull[0], "pull_dataset": pull[1],
                              "sample_size": SAMPLE_SIZE, "report_from": window_start}
    if check.kind == "freshness":
        window_start, window_end = end - settings["horizon"], end
    elif check.kind == "jumps":
        window_start -= settings["margin"]
    values.update(window_start=window_start, window_end=window_end)
    return values


def _describe(rows: Sequence[Mapping[str, Any]], limit: int = SHOWN_ROWS) -> str:
    shown = ["(" + ", ".join(f"{k}={v}" for k, v in row.items() if v is not None) + ")" for row in rows[:limit]]
    return "; ".join(shown) + ("; ..." if len(rows) > limit else "")


def _message(check: Check, status: str, offending: int, sample: list[dict], settings: Mapping[str, Any],
             values: Mapping[str, Any]) -> str:
    end = values["interval_end"]
    if check.kind == "freshness":
        if status == PASS:
            return f"a row at most {settings['max_lag']} older than the interval end {end}"
        if sample[0].get("newest") is None:
            return f"no row at all in the {settings['horizon']} before the interval end {end}"
        return (f"the newest row is from {sample[0]['newest']}, {sample[0]['age']} before the interval end {end} "
                f"(allowed: {settings['max_lag']}); newest per series: {_describe(sample)}")
    if check.kind == "row_count":
        if status == PASS:
            return f"at least {settings['min_rows']} row(s) for the interval, or no valid record pulled"
        row = sample[0]
        return (f"the interval's pull (pulls.id {row['pull_id']}) loaded {row['valid_records']} valid record(s), but "
                f"the table holds {row['row_count']} row(s) for the interval (at least {row['min_rows']} expected)")
    if status == PASS:
        return "no offending rows"
    what = {"row_count_trade_candles": "traded minute(s) without a 1m candle",
            "unique_keys_metrics": "point group(s) stored under more than one key",
            "unique_keys_candles": "candle bucket(s) off the grid or stored twice",
            "unique_keys_trades": "trade(s) stored under more than one key",
            "non_negative": "row(s) with a negative amount",
            "ohlc": "candle(s) whose low/high do not bracket open and close (or a price <= 0)",
            "jumps": "jump(s) above the ratio"}.get(check.kind, "offending row(s)")
    return f"{offending} {what}: {_describe(sample)}"


def run_checks(conn: psycopg.Connection, spec: DatasetChecks, interval_start: datetime, interval_end: datetime, *,
               dag_id: str, task_id: str, run_id: str, try_number: int | None = None,
               overrides: str | Mapping | None = None) -> CheckReport:
    """Run ``spec``'s checks for the interval and store every result (replacing the interval's earlier ones), in
    one transaction. Does not raise for failed checks: see ``CheckReport.raise_for_failures``."""
    settings_of = parse_overrides(overrides, spec)
    interval = (interval_start, interval_end)
    report = CheckReport(spec.label, interval_start, interval_end, [], dag_id=dag_id, task_id=task_id)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT)))
        try:
            params = spec.params(conn)
        except NothingToCheck as exc:
            report.skipped = str(exc)
            params = None
        for check in spec.checks if params is not None else ():
            settings = {**check.settings, **settings_of.get(check.name, {})}
            severity = settings.pop("severity", check.severity)
            if severity == OFF:
                continue
            values = _values(check, settings, params, spec.window(*interval), interval, (spec.source, spec.dataset))
            cur.execute(compose(check), values)
            offending, sample = cur.fetchone()
            status = PASS if offending == 0 else severity
            report.results.append(CheckResult(
                name=check.name, table=check.table, status=status, offending_rows=offending, sample=sample,
                message=_message(check, status, offending, sample, settings, values),
                settings={k: str(v) if isinstance(v, timedelta) else v for k, v in {**settings,
                                                                                     "severity": severity}.items()},
                hint=HINTS.get(check.kind, HINTS.get(check.name, ""))))
        ids = {"dag_id": dag_id, "task_id": task_id, "interval_start": interval_start, "interval_end": interval_end}
        cur.execute(read_sql("checks/delete_results.sql"), ids)
        for r in report.results:
            cur.execute(read_sql("checks/insert_result.sql"), {
                **ids, "run_id": run_id, "try_number": try_number, "source": spec.source, "dataset": spec.dataset,
                "check_name": r.name, "table_name": r.table, "status": r.status, "offending_rows": r.offending_rows,
                "sample": as_jsonb(r.sample), "message": r.message, "settings": as_jsonb(r.settings)})
    if report.skipped:
        log.info("%s: checks not run: %s", spec.label, report.skipped)
    for r in report.results:
        level = logging.INFO if r.status == PASS else logging.WARNING if r.status == WARN else logging.ERROR
        log.log(level, "%s [%s, %s) %s: %s", spec.label, interval_start, interval_end, r.status.upper(), r.line())
    return report


def check_interval(source: str, dataset: str, interval_start: datetime, interval_end: datetime, *, dag_id: str,
                   task_id: str, run_id: str, try_number: int | None = None, overrides: str | Mapping | None = None,
                   warehouse_conn_id: str = WAREHOUSE_CONN_ID) -> CheckReport:
    """Run and store the checks of ``source.dataset`` for the interval; raise ``DataQualityCheckFailed`` if any
    failed."""
    from cryptoflow import warehouse

    spec = dataset_checks(source, dataset)
    if spec is None:
        raise ValueError(f"{source}.{dataset} has no data-quality checks")
    with warehouse.connect(warehouse_conn_id) as conn:
        report = run_checks(conn, spec, interval_start, interval_end, dag_id=dag_id, task_id=task_id, run_id=run_id,
                            try_number=try_number, overrides=overrides)
    report.raise_for_failures()
    return report


# a run without a data interval (asset-triggered, manual without a logical date) has no such context keys at all
_BOUND = "{{{{ {0} if {0} is defined else '' }}}}"


class DataQualityCheckOperator(BaseOperator):
    """Run the data-quality checks of one dataset for the run's data interval; fails (without retries) when one
    fails, warns in the log and ``check_results`` for the rest."""

    template_fields: Sequence[str] = ("interval_start", "interval_end")
    ui_color = "#fdf3e8"

    def __init__(self, *, source: str, dataset: str, interval_start: str = _BOUND.format("data_interval_start"),
                 interval_end: str = _BOUND.format("data_interval_end"), warehouse_conn_id: str = WAREHOUSE_CONN_ID,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.dataset = dataset
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context) -> dict[str, Any]:
        from airflow.sdk import Variable

        from cryptoflow.operators import parse_interval_bound

        start, end = parse_interval_bound(self.interval_start), parse_interval_bound(self.interval_end)
        if start is None or end is None or end <= start:
            raise AirflowSkipException("no data interval (an asset-triggered or manual run without a logical date): "
                                       "the scheduled runs check their intervals")
        ti = context["ti"]
        report = check_interval(self.source, self.dataset, start, end, dag_id=ti.dag_id, task_id=ti.task_id,
                                run_id=context["run_id"], try_number=ti.try_number,
                                overrides=Variable.get(VARIABLE, default=None),
                                warehouse_conn_id=self.warehouse_conn_id)
        return report.summary()
