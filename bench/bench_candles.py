"""Candles derived from trades: a full rebuild of every interval against one GROUP BY scan of the same table, and
the incremental refresh after 10k new trades on top of a big and a small history.

Trades are generated in SQL (``generate_series``) with the shape of the real ones: 25 tokens with a skewed share
of the activity, 70% of block times on whole seconds (Helius) and 30% with microseconds (the stream), so buckets
have ties to break. Both histories have the same density (trades per minute), so the small one covers a shorter
time: the incremental refresh should cost what the new trades cost, not what the history weighs.

* ``candles_rebuild_vs_scan``: rebuild of 1m, 5m, 1h, 6h and 24h into ``candles`` (source 'trades') over the time of
  ``SELECT mint, minute, min(price), max(price), sum(...), count(*) ... GROUP BY mint, minute`` of the same table,
  both materialised server-side, no parallel workers (the rebuild's INSERT cannot use them). Each repetition
  rebuilds into an empty ``candles`` table (a first build, as a backfill of new history). Target: <= 1.5.
* ``candles_rebuild_vs_ohlc_scan``: the same rebuild over the rebuild's own 1m query run alone (the GROUP BY plus
  the open/close order-key aggregates and the sort into key order, no candle written): what the other four
  intervals and the writes cost on top.
* ``candles_incremental_growth``: incremental refresh after 10k new trades (9k recent, 1k late into the last 40
  minutes' buckets) on top of the big history over the same on top of 100k trades, best of the rounds (each
  round inserts trades of its own). Target: <= 2.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg

from cryptoflow.candles import refresh

START = datetime(2026, 10, 1, tzinfo=UTC)
TRADES_PER_MINUTE = 2000   # over 25 tokens: 40 (coldest) to 400 (hottest) trades a minute each
TOKENS = 25

# trades g = first..last; trade g is at start + (g - origin) * step_us
GENERATE = """
INSERT INTO trades (signature, event_index, source, block_time, slot, trader, mint, side, token_amount, quote_mint,
                    quote_amount, price, time_is_receive_time, ingested_at)
SELECT sig, 0, 'bench', bt, 300000000 + g / 3, 'trader' || (g %% 5000), 'BenchMint' || lpad(m::text, 2, '0') || 'pump',
       CASE WHEN g %% 2 = 0 THEN 'buy' ELSE 'sell' END, tok, 'So11111111111111111111111111111111111111112',
       q, q / tok, false, now()
FROM (
    SELECT g, substr(md5(g::text) || md5((-g)::text) || md5((g * 7)::text), 1, 88) AS sig,
           CASE WHEN g %% 10 < 7 THEN date_trunc('second', t) ELSE t END AS bt,
           floor(%(tokens)s * power(r1, 2))::int AS m,
           round((1000 + r2 * 1000000)::numeric, 6) AS tok,
           round(((1000 + r2 * 1000000) * 0.0000003 * (1 + 0.2 * sin(g / 20000.0) + 0.01 * r1))::numeric, 9) AS q
    FROM (
        SELECT g, %(start)s::timestamptz + make_interval(secs => (g - %(origin)s) * %(step_us)s / 1e6) AS t,
               random() AS r1, random() AS r2
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
    ) s
) s
"""

# trades dropped at random times of the existing history: late trades for old buckets
LATE = """
INSERT INTO trades (signature, event_index, source, block_time, trader, mint, side, token_amount, quote_mint,
                    quote_amount, price, ingested_at)
SELECT 'late' || substr(md5(g::text || 'late' || %(round)s), 1, 84), 0, 'bench',
       %(start)s::timestamptz + random() * (%(end)s::timestamptz - %(start)s::timestamptz), 'latetrader',
       'BenchMint' || lpad(floor(%(tokens)s * power(random(), 2))::int::text, 2, '0') || 'pump', 'buy',
       1000, 'So11111111111111111111111111111111111111112', 0.0003, 0.0000003, now()
FROM generate_series(1, %(n)s) g
"""

BASELINE_PLAIN = """
CREATE TEMP TABLE bench_scan AS
SELECT mint, date_bin('1 minute', block_time, timestamptz '1970-01-01') AS minute, min(price) AS low,
       max(price) AS high, sum(token_amount) AS volume, sum(quote_amount) AS volume_quote, count(*) AS trades
FROM trades GROUP BY 1, 2
"""


def _baseline_ohlc() -> str:
    """The rebuild's own 1m query over the whole table, without writing candles: the floor of any exact OHLC."""
    from cryptoflow.paths import read_sql

    sql = read_sql("candles/minutes_from_range.sql")
    select = sql[sql.index("SELECT mint AS token"):]
    bounds = "block_time >= %(range_start)s AND block_time < %(range_end)s\n  AND "
    assert bounds in select, "minutes_from_range.sql changed: update the benchmark's OHLC baseline"
    return "CREATE TEMP TABLE bench_scan AS " + select.replace(bounds, "")


def _load(dsn: str, n: int, *, bulk: bool) -> tuple[datetime, datetime]:
    """``n`` trades from START at TRADES_PER_MINUTE; returns the history's [start, end)."""
    step_us = 60_000_000 / TRADES_PER_MINUTE
    end = START + timedelta(microseconds=n * step_us)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        if bulk:   # load fast: without indexes and the change-log trigger, then build the indexes once
            indexes = conn.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'trades'
                                      AND indexname <> 'trades_pkey'""").fetchall()
            conn.execute("ALTER TABLE trades DROP CONSTRAINT trades_pkey")
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            conn.execute("ALTER TABLE trades DISABLE TRIGGER USER")
        chunk = 2_000_000
        for first in range(1, n + 1, chunk):
            conn.execute(GENERATE, {"first": first, "last": min(n, first + chunk - 1), "origin": 1, "start": START,
                                    "step_us": step_us, "tokens": TOKENS})
        if bulk:
            conn.execute("ALTER TABLE trades ENABLE TRIGGER USER")
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("ALTER TABLE trades ADD PRIMARY KEY (signature, event_index)")
            for _, definition in indexes:
                conn.execute(definition)
        conn.execute("VACUUM ANALYZE trades")
        conn.execute("TRUNCATE candles_dirty")
    return START, end


def _timed(dsn: str, sql: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SET work_mem = '256MB'")
        started = time.perf_counter()
        conn.execute(sql)
        return time.perf_counter() - started


def _rebuild(dsn: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        # the same start for every repetition, a first build: the bench warehouse holds derived candles only
        assert conn.execute("SELECT count(*) FROM candles WHERE source <> 'trades'").fetchone()[0] == 0
        conn.execute("TRUNCATE candles")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        started = time.perf_counter()
        refresh.rebuild_all(conn)
        return time.perf_counter() - started


def _incremental_after_new_trades(dsn: str, history: tuple[datetime, datetime], new: int,
                                  late_window: timedelta, round_: int) -> tuple[float, int]:
    """Insert ``new`` trades (90% just after the history at the same pace, 10% late: into the history's last
    ``late_window``, the same for both histories so both refreshes have the same buckets to redo), refresh, time it.
    Each round inserts trades of its own (signatures differ) over the same times."""
    late = new // 10
    step_us = 60_000_000 / TRADES_PER_MINUTE
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.7)")
        first = 10**9 + round_ * 10**7
        conn.execute(GENERATE, {"first": first, "last": first + new - late - 1, "origin": first,
                                "start": history[1], "step_us": step_us, "tokens": TOKENS})
        conn.execute(LATE, {"n": late, "start": history[1] - late_window, "end": history[1], "tokens": TOKENS,
                            "round": round_})
        conn.execute("ANALYZE trades")
        started = time.perf_counter()
        result = refresh.refresh_incremental(conn)
        return time.perf_counter() - started, result.minutes


def run(ctx) -> dict[str, float]:
    big_n = 200_000 if ctx.quick else 10_000_000
    small_n = 20_000 if ctx.quick else 100_000
    new_n = 2_000 if ctx.quick else 10_000
    reps = 2 if ctx.quick else 5   # best of each: the machine is shared and its speed varies by 10-20%

    big = ctx.fresh_warehouse("bench_candles_big")
    started = time.perf_counter()
    big_history = _load(big, big_n, bulk=True)
    print(f"   generated {big_n:,} trades in {time.perf_counter() - started:.0f} s", flush=True)

    plain, ohlc, rebuild = [], [], []
    for _ in range(reps):   # interleaved
        plain.append(_timed(big, BASELINE_PLAIN + ";DROP TABLE bench_scan"))
        ohlc.append(_timed(big, _baseline_ohlc() + ";DROP TABLE bench_scan"))
        rebuild.append(_rebuild(big))
    with psycopg.connect(big) as conn:
        candles = conn.execute("SELECT count(*) FROM candles WHERE source = 'trades'").fetchone()[0]

    small = ctx.fresh_warehouse("bench_candles_small")
    small_history = _load(small, small_n, bulk=False)
    with psycopg.connect(small, autocommit=True) as conn:
        refresh.rebuild_all(conn)
    late_window = min(timedelta(minutes=40), small_history[1] - small_history[0])
    inc_big, inc_small = [], []
    for round_ in range(reps):   # interleaved, best of each
        inc_big.append(_incremental_after_new_trades(big, big_history, new_n, late_window, round_))
        inc_small.append(_incremental_after_new_trades(small, small_history, new_n, late_window, round_))
    (inc_big, minutes_big), (inc_small, minutes_small) = min(inc_big), min(inc_small)

    return {
        "candles_rebuild_vs_scan": min(rebuild) / min(plain),
        "candles_rebuild_vs_ohlc_scan": min(rebuild) / min(ohlc),
        "candles_incremental_growth": inc_big / inc_small,
        "candles_rebuild_s": min(rebuild),
        "candles_group_by_scan_s": min(plain),
        "candles_ohlc_scan_s": min(ohlc),
        "candles_rebuild_rows": candles,
        "candles_history_trades": big_n,
        "candles_incremental_big_s": inc_big,
        "candles_incremental_small_s": inc_small,
        "candles_incremental_minutes_big": minutes_big,
        "candles_incremental_minutes_small": minutes_small,
    }
