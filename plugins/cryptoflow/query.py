"""``python -m cryptoflow query``: metrics and candles from the warehouse, as an aligned table or as CSV.

    cryptoflow query metrics --source defillama --asset ethereum --metric tvl --from 2026-11-01 --to 2026-11-08
    cryptoflow query candles --token SOL --interval 1h --source birdeye --from 2026-11-20 --csv sol.csv

Ranges are half-open, like the DAGs' data intervals: ``--from`` is included, ``--to`` is not, so one day is
``--from 2026-11-20 --to 2026-11-21``. A date is midnight UTC; a time without a zone is UTC. Rows go to stdout;
notes (row counts, how a symbol was resolved, an empty result) go to stderr. Exit codes: 0 (also for an empty
result), 1 (the warehouse cannot be reached), 2 (bad arguments, unknown names).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cryptoflow.candles.refresh import INTERVALS as TRADES_INTERVALS
from cryptoflow.paths import PROJECT_ROOT, read_sql

PROG = "cryptoflow query"
CANDLE_SOURCES = ("trades", "birdeye")
# Birdeye's timeframes as stored in candles.interval (cryptoflow.sources.birdeye.models.TIMEFRAMES; importing it
# would load Airflow, which makes the CLI slow to start; a test keeps the two equal).
BIRDEYE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "24h")
ALL_INTERVALS = tuple(sorted(set(TRADES_INTERVALS) | set(BIRDEYE_INTERVALS),
                             key=lambda i: int(i[:-1]) * (60 if i.endswith("h") else 1)))
TABLE_LIMIT = 1000
LIST_ALL_UP_TO = 30

METRIC_COLUMNS = ("source", "asset", "metric", "ts", "value")
CANDLE_COLUMNS = ("source", "token", "interval", "bucket_start", "open", "high", "low", "close", "volume",
                  "volume_quote", "volume_usd", "vwap", "trade_count")
CANDLE_TABLE_COLUMNS = tuple(c for c in CANDLE_COLUMNS if c not in ("token", "interval"))


class UsageError(Exception):
    """Bad arguments or unknown names: exit code 2."""


class WarehouseError(Exception):
    """The warehouse cannot be reached or is not migrated: exit code 1."""


# --- the warehouse DSN ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dsn:
    value: str
    origin: str

    def describe(self) -> str:
        """user@host:port/dbname, never the password."""
        try:
            parts = conninfo_to_dict(self.value)
        except psycopg.Error:
            return f"(unparseable connection string from {self.origin})"
        user = f"{parts['user']}@" if parts.get("user") else ""
        port = f":{parts['port']}" if parts.get("port") else ""
        return f"{user}{parts.get('host', 'localhost')}{port}/{parts.get('dbname', '')}"

    def redact(self, text: str) -> str:
        text = text.replace(self.value, self.describe())
        try:
            password = conninfo_to_dict(self.value).get("password")
        except psycopg.Error:
            password = None
        if password:
            text = text.replace(password, "***")
        return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", re.sub(r"(password\s*=\s*)\S+", r"\1***", text))


def _conn_value_to_dsn(value: str) -> str:
    """An ``AIRFLOW_CONN_*`` value (URI or JSON) as a libpq connection string."""
    value = value.strip()
    if value.startswith("{"):
        conn = json.loads(value)
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra or "{}")
        return make_conninfo(host=conn.get("host") or "localhost", port=conn.get("port") or 5432,
                             user=conn.get("login") or None, password=conn.get("password") or None,
                             dbname=conn.get("schema") or None, sslmode=extra.get("sslmode"))
    return value


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        if len(words) == 1 and "=" in words[0]:
            key, _, value = words[0].partition("=")
            values[key] = value
    return values


def resolve_dsn(cli_dsn: str | None, environ: dict[str, str] | None = None, root: Path | None = None) -> Dsn:
    """The warehouse: ``--dsn``, ``$WAREHOUSE_DSN``, ``$AIRFLOW_CONN_WAREHOUSE``, what ``make run`` wrote to
    ``.local/airflow.env`` (``$CRYPTOFLOW_LOCAL``), or the Airflow connection ``warehouse`` (when Airflow is
    configured here)."""
    environ = os.environ if environ is None else environ
    root = PROJECT_ROOT if root is None else root
    if cli_dsn:
        return Dsn(cli_dsn, "--dsn")
    if environ.get("WAREHOUSE_DSN"):
        return Dsn(environ["WAREHOUSE_DSN"], "$WAREHOUSE_DSN")
    try:
        if environ.get("AIRFLOW_CONN_WAREHOUSE"):
            return Dsn(_conn_value_to_dsn(environ["AIRFLOW_CONN_WAREHOUSE"]), "$AIRFLOW_CONN_WAREHOUSE")
        env_file = Path(environ.get("CRYPTOFLOW_LOCAL") or root / ".local") / "airflow.env"
        if env_file.is_file():
            values = _read_env_file(env_file)
            if values.get("WAREHOUSE_DSN"):
                return Dsn(values["WAREHOUSE_DSN"], str(env_file))
            if values.get("AIRFLOW_CONN_WAREHOUSE"):
                return Dsn(_conn_value_to_dsn(values["AIRFLOW_CONN_WAREHOUSE"]), str(env_file))
    except OSError as exc:
        raise WarehouseError(f"cannot read {exc.filename}: {exc.strerror}; pass --dsn or set WAREHOUSE_DSN") from None
    except (ValueError, AttributeError) as exc:   # malformed JSON or shell quoting
        raise WarehouseError(f"the warehouse connection is malformed ({type(exc).__name__}); "
                             f"pass --dsn or set WAREHOUSE_DSN") from None
    if environ.get("AIRFLOW_HOME") or environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        try:
            from cryptoflow.migrate import warehouse_dsn

            return Dsn(warehouse_dsn(), "the Airflow connection 'warehouse'")
        except Exception:  # noqa: BLE001 - not defined there either: the message below says what to do
            pass
    raise WarehouseError("no warehouse connection found: start the local setup with `make run`, or pass --dsn "
                         "(e.g. --dsn postgresql://user@host:5432/warehouse), or set WAREHOUSE_DSN")


def connect(dsn: Dsn) -> psycopg.Connection:
    try:
        conn = psycopg.connect(dsn.value, connect_timeout=10)
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot connect to the warehouse {dsn.describe()} (from {dsn.origin}): "
                             f"{dsn.redact(str(exc)).strip()}\nIs it running (`make run`)? "
                             f"Otherwise pass --dsn or set WAREHOUSE_DSN.") from None
    conn.read_only = True
    return conn


# --- arguments ------------------------------------------------------------------------------------------------

def parse_moment(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] "
                         f"(UTC unless it ends with Z or +HH:MM)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_range(start_text: str | None, end_text: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_moment(start_text, "--from"), parse_moment(end_text, "--to")
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--from {start_text} is not before --to {end_text}: the range is [from, to), to "
                         f"excluded, so one day is --from 2026-11-20 --to 2026-11-21")
    return start, end


def describe_range(start: datetime | None, end: datetime | None) -> str:
    if start and end:
        return f"in [{start.isoformat()}, {end.isoformat()})"
    if start:
        return f"from {start.isoformat()} on"
    if end:
        return f"before {end.isoformat()}"
    return "at any time"


def normalize_interval(text: str) -> str:
    """``1h``/``1H`` -> ``1h``, ``1d``/``1D`` -> ``24h``; ``1M`` (Birdeye's month) is not a minute."""
    match = re.fullmatch(r"\s*(\d+)([mhHdD])\s*", text)
    if match:
        number, unit = match.groups()
        name = f"{number}{unit.lower()}" if unit != "d" and unit != "D" else f"{int(number) * 24}h"
        if name in ALL_INTERVALS:
            return name
    raise UsageError(f"unknown interval {text!r}; candles are stored at {', '.join(ALL_INTERVALS)} "
                     f"(minutes are a lower-case m; 1d means 24h)")


def closest(text: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The candidates most like ``text``, case-insensitively (an exact match but for case comes first)."""
    by_lower: dict[str, list[str]] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), []).append(candidate)
    matches = difflib.get_close_matches(text.lower(), list(by_lower), n=n, cutoff=0.6)
    return [c for m in matches for c in sorted(by_lower[m])][:n]


def _choices(kind: str, text: str, candidates: Sequence[str]) -> str:
    candidates = sorted(set(candidates))
    if not candidates:
        return f"there are no {kind}s yet"
    if len(candidates) <= LIST_ALL_UP_TO:
        near = closest(text, candidates, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        return f"valid {kind}s: {', '.join(candidates)}{hint}"
    near = closest(text, candidates)
    if near:
        return f"closest of the {len(candidates)} {kind}s: {', '.join(near)}"
    return f"none of the {len(candidates)} {kind}s is close"


# --- metrics ----------------------------------------------------------------------------------------------------

def check_metric_filters(conn: psycopg.Connection, source: str | None, asset: str | None,
                         metric: str | None) -> None:
    if source is None and asset is None and metric is None:
        return
    sources = [r[0] for r in conn.execute(read_sql("query/metric_sources.sql"))]
    if not sources:
        raise UsageError("the metrics table is empty: no DAG has loaded metrics yet (defillama_hourly, "
                         "artemis_daily)")
    if source is not None and source not in sources:
        raise UsageError(f"unknown source {source!r} in metrics; {_choices('source', source, sources)}")
    if asset is not None:
        pairs = conn.execute(read_sql("query/metric_assets.sql")).fetchall()
        sources_of_asset = sorted({s for s, a in pairs if a == asset})
        if source is not None and sources_of_asset and source not in sources_of_asset:
            raise UsageError(f"asset {asset!r} has no metrics from source {source!r}; it has metrics from "
                             f"{', '.join(sources_of_asset)}")
        if not sources_of_asset:
            scope = [a for s, a in pairs if source is None or s == source]
            where = f" for source {source!r}" if source else ""
            raise UsageError(f"unknown asset {asset!r}{where}; {_choices('asset', asset, scope)}")
    if metric is not None:
        names = [r[0] for r in conn.execute(read_sql("query/metric_names.sql"))]
        if metric not in names:
            raise UsageError(f"unknown metric {metric!r}; {_choices('metric', metric, names)}")


def query_metrics(conn: psycopg.Connection, args: argparse.Namespace) -> tuple[list[str], Any, str]:
    start, end = args.range
    check_metric_filters(conn, args.source, args.asset, args.metric)
    params = {"source": args.source, "asset": args.asset, "metric": args.metric, "start": start, "end": end}
    filters = " ".join(f"{k}={v}" for k, v in params.items() if k in ("source", "asset", "metric") and v)
    empty = f"no metrics match{' ' + filters if filters else ''} {describe_range(start, end)}"
    return list(METRIC_COLUMNS), (read_sql("query/metrics.sql"), params), empty


# --- candles ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    mint: str
    symbol: str | None
    name: str | None

    def __str__(self) -> str:
        return f"{self.symbol} ({self.mint})" if self.symbol and self.symbol != self.mint else self.mint


def resolve_token(conn: psycopg.Connection, text: str) -> Token:
    """A mint, or a symbol of the watchlist or `tokens`; ambiguous symbols must be given as a mint."""
    rows = conn.execute(read_sql("query/token_lookup.sql"), {"text": text, "sources": list(CANDLE_SOURCES)}).fetchall()
    found: dict[str, dict[str, Any]] = {}
    for mint, symbol, name, in_watchlist, has_candles in rows:
        entry = found.setdefault(mint, {"symbol": None, "name": None, "watchlist": False, "candles": has_candles})
        if in_watchlist or entry["symbol"] is None:
            entry["symbol"] = symbol or entry["symbol"]
            entry["name"] = name or entry["name"]
        entry["watchlist"] |= in_watchlist

    def token(mint: str) -> Token:
        return Token(mint, found[mint]["symbol"], found[mint]["name"])

    if text in found:
        return token(text)
    for narrowed in ([m for m in found if found[m]["watchlist"]], [m for m in found if found[m]["candles"]],
                     list(found)):
        if len(narrowed) == 1:
            return token(narrowed[0])
        if len(narrowed) > 1:
            listed = "; ".join(f"{m} ({found[m]['name'] or found[m]['symbol']})" for m in sorted(narrowed)[:10])
            more = f" and {len(narrowed) - 10} more" if len(narrowed) > 10 else ""
            raise UsageError(f"symbol {text!r} names {len(narrowed)} tokens: {listed}{more}; pass the mint "
                             f"with --token")
    names = conn.execute(read_sql("query/token_names.sql")).fetchall()
    labels = {symbol: mint for symbol, mint in names if symbol}
    near = closest(text, list(labels))
    hint = (f"; closest: {', '.join(f'{s} ({labels[s]})' for s in near)}" if near
            else "; known symbols: " + (", ".join(sorted(labels)[:LIST_ALL_UP_TO]) or "none"))
    raise UsageError(f"unknown token {text!r}: not a mint or symbol of the watchlist, the tokens table or the "
                     f"candles{hint}")


def query_candles(conn: psycopg.Connection, args: argparse.Namespace) -> tuple[list[str], Any, str]:
    (start, end), interval = args.range, args.interval
    token = resolve_token(conn, args.token)
    if token.mint != args.token:
        print(f"token {args.token} is {token}", file=sys.stderr)
    sources = [args.source] if args.source else list(CANDLE_SOURCES)
    params = {"token": token.mint, "interval": interval, "sources": sources, "start": start, "end": end}
    empty = (f"no {interval} candles of {token} from {' or '.join(sources)} {describe_range(start, end)}")
    return list(CANDLE_COLUMNS), (read_sql("query/candles.sql"), params), empty


# --- output -----------------------------------------------------------------------------------------------------

def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    texts = [[cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows) and
               any(row[i] is not None for row in rows) for i in range(len(columns))]
    widths = [max([len(c), *(len(t[i]) for t in texts)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(t) for t in texts]
    return "\n".join(out) + "\n"


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        count += 1
    return count


def _fetch(conn: psycopg.Connection, query: tuple[str, dict], limit: int | None) -> Iterable[tuple]:
    """Rows streamed through a server-side cursor (the whole result never sits in memory)."""
    sql, params = query
    with conn.cursor(name="cryptoflow_query") as cur:
        cur.itersize = 2000
        cur.execute(sql, {**params, "limit": limit})
        yield from cur


def check_arguments(args: argparse.Namespace) -> None:
    """What can be checked without the warehouse; normalizes ``args.interval`` and sets ``args.range``."""
    args.range = parse_range(args.start, args.end)
    if args.what == "candles":
        args.interval = normalize_interval(args.interval)
        if args.source is not None and args.source not in CANDLE_SOURCES:
            raise UsageError(f"unknown candle source {args.source!r}; choose {' or '.join(CANDLE_SOURCES)}")
        if args.source == "trades" and args.interval not in TRADES_INTERVALS:
            raise UsageError(f"source 'trades' has no {args.interval} candles: it derives "
                             f"{', '.join(TRADES_INTERVALS)}")


def run(args: argparse.Namespace, stdout: IO[str]) -> int:
    check_arguments(args)
    dsn = resolve_dsn(args.dsn)
    with connect(dsn) as conn:
        try:
            columns, query, empty = (query_metrics if args.what == "metrics" else query_candles)(conn, args)
            if args.csv is not None:
                return _output_csv(conn, columns, query, empty, args)
            limit = args.limit or TABLE_LIMIT
            rows = list(_fetch(conn, query, limit + 1))
        except psycopg.errors.UndefinedTable as exc:
            raise WarehouseError(f"the warehouse {dsn.describe()} is not migrated ({exc.diag.message_primary}): "
                                 f"run `make migrate`") from None
        except psycopg.Error as exc:
            raise WarehouseError(f"query failed on the warehouse {dsn.describe()}: "
                                 f"{dsn.redact(str(exc)).strip()}") from None
    if not rows:
        print(empty, file=sys.stderr)
        return 0
    if args.what == "candles":
        keep = [columns.index(c) for c in CANDLE_TABLE_COLUMNS]
        columns, rows = list(CANDLE_TABLE_COLUMNS), [[row[i] for i in keep] for row in rows]
    stdout.write(render_table(columns, rows[:limit]))
    if len(rows) > limit:
        print(f"(first {limit} rows; more match: narrow the range, raise --limit, or use --csv)", file=sys.stderr)
    else:
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", file=sys.stderr)
    return 0


def _output_csv(conn, columns, query, empty, args) -> int:
    if args.csv == "-":
        count = write_csv(columns, _fetch(conn, query, args.limit), sys.stdout)
    else:
        target = Path(args.csv)
        partial = target.with_name(f".{target.name}.partial")
        try:
            with partial.open("w", newline="") as out:
                count = write_csv(columns, _fetch(conn, query, args.limit), out)
            partial.replace(target)
        except OSError as exc:
            raise UsageError(f"cannot write {target}: {exc.strerror}") from None
        finally:
            partial.unlink(missing_ok=True)
        print(f"wrote {count} row{'s' if count != 1 else ''} to {target}", file=sys.stderr)
    if count == 0:
        print(empty, file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                     epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True, metavar="{metrics,candles}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--from", dest="start", metavar="DATE", help="start, included (YYYY-MM-DD[THH:MM], UTC)")
        p.add_argument("--to", dest="end", metavar="DATE", help="end, excluded")
        p.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                       help="CSV instead of a table, to FILE or to stdout without one")
        p.add_argument("--limit", type=_positive_int, help=f"at most this many rows (tables: {TABLE_LIMIT})")
        p.add_argument("--dsn", help="warehouse connection string (default: $WAREHOUSE_DSN, "
                                     "$AIRFLOW_CONN_WAREHOUSE, or what `make run` set up)")

    metrics = sub.add_parser("metrics", help="DefiLlama / Artemis metric points",
                             description="Metric points (table metrics) by source, asset, metric and ts range.")
    metrics.add_argument("--source", help="defillama, artemis, ...")
    metrics.add_argument("--asset", help="e.g. ethereum, sol")
    metrics.add_argument("--metric", help="e.g. tvl, PRICE")
    common(metrics)
    candles = sub.add_parser("candles", help="OHLCV candles of a token",
                             description="Candles of one token and interval whose bucket starts in the range.")
    candles.add_argument("--token", required=True, help="mint, or a symbol of the watchlist / tokens table")
    candles.add_argument("--interval", required=True, help=", ".join(ALL_INTERVALS))
    candles.add_argument("--source", help="trades (derived) or birdeye; default both")
    common(candles)
    return parser


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, sys.stdout)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except WarehouseError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:   # e.g. piped into `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
