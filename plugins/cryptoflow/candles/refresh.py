"""Candles derived from ``trades`` (``candles.source = 'trades'``): 1m, 5m, 1h, 6h and 24h buckets in UTC.

Two ways in, one way out:

* ``refresh_incremental``: the buckets in the ``candles_dirty`` change log, which a trigger on ``trades`` fills in
  the same transaction as every insert, update or delete. The log is consumed in the refresh's own transaction, so
  a failed refresh leaves it for the next one, and a trade is never missed however late it arrives or whoever
  rewrites it (Helius overwriting a streamed trade moves it out of one bucket and into another: both are logged).
* ``rebuild_range``: every 1m bucket of a time range, read in one pass over ``trades`` (a backfill, a re-run).

Either way the targeted 1m buckets are recomputed from their trades (a bucket left without trades loses its
candle), then each coarser interval's touched buckets are rolled up from the stored finer candles (5m from 1m, 1h
from 5m, 6h from 1h, 24h from 6h). Open and close are the first and last trade in (block_time, signature,
event_index) order, VWAP is quote volume / base volume. The result does not depend on which way, or in how many
steps, the trades came in: an incremental refresh ends exactly where a full rebuild does (tested).

Only trades quoted in wrapped SOL with a positive price and token amount make candles, so prices are in SOL per
token; those trades carry ``trades.candle_key`` (migration 0010), whose min and max are the open and close trades.
Refreshes take an advisory lock: concurrent runs (a backfill next to the schedule) queue.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from cryptoflow.paths import read_sql

log = logging.getLogger(__name__)

WSOL_MINT = "So11111111111111111111111111111111111111112"
LOCK_ID = 72_410_006


@dataclass(frozen=True)
class Level:
    name: str            # candles.interval
    width: timedelta
    child: str | None    # the finer interval it is rolled up from

    @property
    def width_sql(self) -> str:
        return f"{int(self.width.total_seconds())} seconds"


LEVELS = (
    Level("1m", timedelta(minutes=1), None),
    Level("5m", timedelta(minutes=5), "1m"),
    Level("1h", timedelta(hours=1), "5m"),
    Level("6h", timedelta(hours=6), "1h"),
    Level("24h", timedelta(hours=24), "6h"),
)
INTERVALS = tuple(level.name for level in LEVELS)


@dataclass
class RefreshResult:
    mode: str
    range_start: datetime | None = None
    range_end: datetime | None = None
    dirty_rows: int = 0
    minutes: int = 0
    written: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)   # seconds per step, for the debug log and the benchmark
    problems: list[str] = field(default_factory=list)       # inconsistent candles written (at most 20 per interval)
    first_build: bool = False   # a range rebuild that found no derived candle stored on its days

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    @property
    def candles_written(self) -> int:
        return sum(self.written.values())

    @property
    def candles_deleted(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict:
        return {"mode": self.mode, "range_start": self.range_start.isoformat() if self.range_start else None,
                "range_end": self.range_end.isoformat() if self.range_end else None, "dirty_rows": self.dirty_rows,
                "minutes": self.minutes, "written": self.written, "deleted": self.deleted,
                "seconds": round(self.seconds, 3), "problems": self.problems}


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil_minute(moment: datetime) -> datetime:
    floor = _floor_minute(moment)
    return floor if floor == moment else floor + timedelta(minutes=1)


def _names(level: Level) -> dict[str, sql.Identifier]:
    return {"targets": sql.Identifier(f"_candle_targets_{level.name}"),
            "new": sql.Identifier(f"_candle_new_{level.name}")}


def _statement(name: str, **identifiers: sql.Identifier) -> sql.Composed | sql.SQL:
    text = sql.SQL(read_sql(f"candles/{name}.sql"))
    return text.format(**identifiers) if identifiers else text


def _timed(cur: psycopg.Cursor, result: RefreshResult, step: str, query, params=None) -> None:
    started = time.monotonic()
    cur.execute(query, params)
    result.steps[step] = result.steps.get(step, 0.0) + time.monotonic() - started


def _create_work_tables(cur: psycopg.Cursor, *, incremental: bool) -> None:
    for level in LEVELS:
        names = _names(level)
        cur.execute(sql.SQL("""CREATE TEMP TABLE {targets} (token text NOT NULL, bucket_start timestamptz NOT NULL,
                                   PRIMARY KEY (token, bucket_start)) ON COMMIT DROP""").format(**names))
        # The recomputed candles have a key only in an incremental refresh, where their few buckets are looked up one
        # by one; 1m gets it once it is filled (_key_minutes): one sort instead of an index insert per bucket. A range
        # rebuild joins its work tables in bulk, without a key. The keys of the first and last trade (or child) make
        # the next roll-up's open and close.
        key = sql.SQL(", PRIMARY KEY (token, bucket_start)" if incremental and level.child else "")
        cur.execute(sql.SQL("""CREATE TEMP TABLE {new} (token text NOT NULL, bucket_start timestamptz NOT NULL,
                                   open numeric, high numeric, low numeric, close numeric, volume numeric,
                                   volume_quote numeric, trade_count bigint, vwap numeric,
                                   open_key text COLLATE "C", close_key text COLLATE "C"{key}) ON COMMIT DROP"""
                            ).format(**names, key=key))


def _key_minutes(cur: psycopg.Cursor, result: RefreshResult) -> None:
    _timed(cur, result, "1m key", "ALTER TABLE _candle_new_1m ADD PRIMARY KEY (token, bucket_start)")


def _analyze(cur: psycopg.Cursor, table: sql.Identifier | str) -> None:
    """Statistics of a work table's key, for the joins that follow: row counts and distinct buckets, not values."""
    table = sql.Identifier(table) if isinstance(table, str) else table
    cur.execute(sql.SQL("ANALYZE {} (token, bucket_start)").format(table))


def _write_levels(cur: psycopg.Cursor, result: RefreshResult) -> None:
    """1m is already computed into its work table; write it, then roll up and write each coarser interval."""
    for level in LEVELS:
        names = _names(level)
        if level.child is not None:
            child_level = next(lv for lv in LEVELS if lv.name == level.child)
            child = _names(child_level)
            # wholly inside a rebuilt range every child was recomputed or deleted: no stored child is read there
            inside = {"inside_start": result.range_start, "inside_end": result.range_end}
            _timed(cur, result, f"{level.name} targets",
                   _statement("rollup_targets", targets=names["targets"], child_targets=child["targets"],
                              child_new=child["new"]),
                   {"width": level.width_sql, **inside})
            _analyze(cur, names["targets"])   # few rows (a range rebuild's are only those across its ends)
            _timed(cur, result, f"{level.name} rollup",
                   _statement("rollup", **names, child_new=child["new"], child_targets=child["targets"]),
                   {"child": level.child, "width": level.width_sql, "child_width": child_level.width_sql, **inside})
            if result.incremental:
                # row counts for the joins against candles below: a few rows take index lookups, not a scan (a
                # range rebuild's work tables are joined in bulk, where the planner's estimate from their size does)
                _analyze(cur, names["new"])
        cur.execute(_statement("check_consistency", new=names["new"]))
        result.problems += [f"{r[0]} {level.name} {r[1]:%Y-%m-%d %H:%M} o={r[2]} h={r[3]} l={r[4]} c={r[5]} v={r[6]} "
                            f"n={r[7]}" for r in cur.fetchall()]
        _timed(cur, result, f"{level.name} delete", _statement("delete_emptied", **names), {"interval": level.name})
        result.deleted[level.name] = cur.rowcount
        # a range's first build has nothing to compare with: its candles are inserted without a join
        write = "insert_new" if result.first_build else "upsert"
        _timed(cur, result, f"{level.name} write", _statement(write, new=names["new"]), {"interval": level.name})
        result.written[level.name] = cur.rowcount


def _raise_temp_buffers(conn: psycopg.Connection) -> None:
    """Room for the work tables in memory (the default 8MB spills a big rebuild's to disk). PostgreSQL takes it only
    before the session's first temporary table; a session that had one keeps the size it has."""
    try:
        with conn.transaction():
            conn.execute("""SELECT set_config('temp_buffers', '256MB', false)
                            WHERE pg_size_bytes(current_setting('temp_buffers')) < pg_size_bytes('256MB')""")
    except psycopg.errors.InvalidParameterValue:
        pass


def _refresh(conn: psycopg.Connection, result: RefreshResult, prepare, *, dag_id: str | None,
             run_id: str | None) -> RefreshResult:
    started = time.monotonic()
    _raise_temp_buffers(conn)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        cur.execute("SET LOCAL work_mem = '256MB'")
        if result.incremental:
            # a few index lookups per bucket: compiling them (JIT) would cost more than running them
            cur.execute("SET LOCAL jit = off")
        _create_work_tables(cur, incremental=result.incremental)
        prepare(cur)
        if result.minutes:
            _write_levels(cur, result)
        result.seconds = time.monotonic() - started
        cur.execute(
            """INSERT INTO candle_refreshes (mode, range_start, range_end, dag_id, run_id, finished_at, dirty_rows,
                                             minutes, candles_written, candles_deleted)
               VALUES (%s, %s, %s, %s, %s, clock_timestamp(), %s, %s, %s, %s)""",
            (result.mode, result.range_start, result.range_end, dag_id, run_id, result.dirty_rows, result.minutes,
             result.candles_written, result.candles_deleted))
        if result.candles_written + result.candles_deleted > 20_000:
            # a big rebuild changed the table a lot: without fresh statistics the next incremental refreshes scan
            # candles instead of looking their buckets up (measured: their cost then grows with the history). The
            # key's columns are what those plans need; autovacuum analyzes the rest.
            _timed(cur, result, "analyze", "ANALYZE candles (source, token, interval, bucket_start)")
    log.info("candles %s refresh%s: %d change-log rows, %d minute buckets, written %s, deleted %s in %.2fs",
             result.mode, f" [{result.range_start}, {result.range_end})" if result.range_start else "",
             result.dirty_rows, result.minutes, result.written, result.deleted, result.seconds)
    log.debug("candles refresh steps (s): %s", {k: round(v, 3) for k, v in result.steps.items()})
    if result.problems:
        log.error("%d inconsistent candle(s) written, e.g. %s", len(result.problems), "; ".join(result.problems[:3]))
    return result


def refresh_incremental(conn: psycopg.Connection, *, dag_id: str | None = None,
                        run_id: str | None = None) -> RefreshResult:
    """Recompute the buckets of every trade inserted, changed or deleted since the last refresh."""
    result = RefreshResult(mode="incremental")

    def prepare(cur: psycopg.Cursor) -> None:
        _timed(cur, result, "consume", _statement("consume_dirty"))
        result.dirty_rows, result.minutes = cur.fetchone()
        if result.minutes:
            _analyze(cur, "_candle_targets_1m")
            _timed(cur, result, "1m compute", _statement("minutes_from_targets"))
            _key_minutes(cur, result)
            _analyze(cur, "_candle_new_1m")

    return _refresh(conn, result, prepare, dag_id=dag_id, run_id=run_id)


def rebuild_range(conn: psycopg.Connection, start: datetime, end: datetime, *, dag_id: str | None = None,
                  run_id: str | None = None) -> RefreshResult:
    """Recompute every 1m bucket of ``[start, end)`` (widened to whole minutes) and the coarser buckets around them."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("rebuild_range needs time-zone aware bounds")
    if end <= start:
        raise ValueError(f"empty range [{start}, {end})")
    result = RefreshResult(mode="range", range_start=_floor_minute(start), range_end=_ceil_minute(end))
    params = {"range_start": result.range_start, "range_end": result.range_end}

    def prepare(cur: psycopg.Cursor) -> None:
        _timed(cur, result, "consume", _statement("range_consume_dirty"), params)
        result.dirty_rows = cur.rowcount
        # one statement over many trades: compiling it pays off, inlining into it measured slower than not
        cur.execute("SET LOCAL jit_inline_above_cost = -1")
        _timed(cur, result, "1m compute", _statement("minutes_from_range"), params)
        result.minutes = cur.rowcount
        # the rest reads the work tables and candles, not trades: compiling each statement would cost more than it saves
        cur.execute("SET LOCAL jit = off")
        # no statistics for the work tables here either (see _create_work_tables): the planner's estimate from a
        # table's size is enough for joins in bulk
        cur.execute("CREATE TEMP TABLE _candle_range_tokens (token text PRIMARY KEY) ON COMMIT DROP")
        _timed(cur, result, "1m tokens", _statement("range_tokens"), params)
        # no derived candle on the range's days, so none of any interval whose bucket meets the range: built for the
        # first time, its candles are plainly inserted
        result.first_build = cur.rowcount == 0
        if not result.first_build:
            cur.execute("ANALYZE _candle_range_tokens")
            _timed(cur, result, "1m targets", _statement("range_targets"), params)
            result.minutes += cur.rowcount
        _analyze(cur, "_candle_targets_1m")

    return _refresh(conn, result, prepare, dag_id=dag_id, run_id=run_id)


def trades_time_range(conn: psycopg.Connection) -> tuple[datetime, datetime] | None:
    """``[first trade, last trade + 1 minute)``: the range a full rebuild covers; None without trades."""
    row = conn.execute("SELECT min(block_time), max(block_time) FROM trades").fetchone()
    conn.rollback()
    if row is None or row[0] is None:
        return None
    return row[0], row[1] + timedelta(minutes=1)


def rebuild_all(conn: psycopg.Connection, **kwargs) -> RefreshResult:
    """Every derived candle, from all trades (derived candles of times without trades are deleted too)."""
    bounds = trades_time_range(conn)
    existing = conn.execute(
        "SELECT min(bucket_start), max(bucket_start) FROM candles WHERE source = 'trades' AND interval = '1m'"
    ).fetchone()
    conn.rollback()
    moments = [m for m in (*(bounds or ()), *(existing or ())) if m is not None]
    if not moments:
        return RefreshResult(mode="range")
    return rebuild_range(conn, min(moments), max(moments) + timedelta(minutes=1), **kwargs)
