"""Derived candles against a pandas computation of the same trades, for every interval; the incremental refresh
against a full rebuild after random late, rewritten and deleted trades."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from cryptoflow.candles import refresh
from tests.candles_support import (
    MINTS,
    START,
    USDC,
    TradeFactory,
    assert_matches_pandas,
    insert_trades,
    snapshot,
)


def test_full_rebuild_matches_pandas_for_every_interval(warehouse):
    trades = TradeFactory(seed=1).batch(1500)
    insert_trades(warehouse, trades)
    result = refresh.rebuild_all(warehouse)
    assert result.mode == "range" and result.minutes > 500
    assert assert_matches_pandas(warehouse) == result.candles_written
    # ties are really there: buckets whose first trades share a time, several trades per transaction
    assert warehouse.execute("""SELECT count(*) FROM (SELECT 1 FROM trades GROUP BY mint, block_time
                                HAVING count(*) > 1) t""").fetchone()[0] > 50
    # a second rebuild changes nothing
    again = refresh.rebuild_all(warehouse)
    assert again.candles_written == 0 and again.candles_deleted == 0


def test_incremental_equals_full_rebuild_after_random_late_trades(warehouse):
    factory = TradeFactory(seed=2)
    rng = random.Random(3)
    trades = factory.batch(1200)
    insert_trades(warehouse, trades)
    first = refresh.refresh_incremental(warehouse)
    assert first.mode == "incremental" and first.dirty_rows > 0
    assert_matches_pandas(warehouse)

    for step in range(4):
        # late trades for old buckets (around existing trades, hours back), ...
        late = factory.batch(60, around=rng.choice(trades).block_time)
        insert_trades(warehouse, late)
        trades += late
        # ... a Helius overwrite that moves streamed trades to their real block time and amounts, ...
        for t in rng.sample(trades, 15):
            moved = t.block_time + timedelta(seconds=rng.randrange(-400, 400), microseconds=rng.randrange(0, 10**6))
            warehouse.execute("""UPDATE trades SET block_time = %s, quote_amount = quote_amount * 2,
                                 price = price * 2 WHERE signature = %s AND event_index = %s""",
                              (moved, t.signature, t.event_index))
        # ... and deleted trades, some of them the only trade of their bucket
        for t in rng.sample(trades, 10):
            warehouse.execute("DELETE FROM trades WHERE signature = %s AND event_index = %s",
                              (t.signature, t.event_index))
        result = refresh.refresh_incremental(warehouse)
        assert result.minutes > 0, f"step {step}"
    incremental = snapshot(warehouse)
    assert_matches_pandas(warehouse)

    warehouse.execute("DELETE FROM candles WHERE source = 'trades'")
    refresh.rebuild_all(warehouse)
    assert snapshot(warehouse) == incremental


def test_incremental_recomputes_only_the_touched_buckets(warehouse):
    factory = TradeFactory(seed=4)
    insert_trades(warehouse, factory.batch(800))
    refresh.refresh_incremental(warehouse)
    before = {r[0]: r for r in warehouse.execute(
        "SELECT token || interval || bucket_start, updated_at FROM candles WHERE source = 'trades'").fetchall()}

    old = START + timedelta(hours=3, minutes=7, seconds=5)   # hours in the past: a late trade
    insert_trades(warehouse, [factory.trade(block_time=old, mint=MINTS[0]),
                              factory.trade(block_time=old + timedelta(seconds=1), mint=MINTS[0]),
                              factory.trade(block_time=old + timedelta(hours=5), mint=MINTS[1])])
    result = refresh.refresh_incremental(warehouse)
    assert (result.dirty_rows, result.minutes) == (3, 2)   # one change-log row per INSERT statement
    after = dict(warehouse.execute(
        "SELECT token || interval || bucket_start, updated_at FROM candles WHERE source = 'trades'").fetchall())
    changed = {k for k in after if k not in before or before[k][1] != after[k]}
    assert len(changed) == 10   # one bucket per interval for each of the two minutes, nothing else
    assert_matches_pandas(warehouse)
    logged = warehouse.execute("SELECT mode, dirty_rows, minutes FROM candle_refreshes ORDER BY id").fetchall()
    assert logged[-1] == ("incremental", 3, 2)


def test_a_trade_committed_during_a_refresh_is_picked_up_by_the_next(warehouse, warehouse_dsn):
    """What a timestamp watermark gets wrong: a transaction that started before the refresh commits after it."""
    factory = TradeFactory(seed=5)
    insert_trades(warehouse, factory.batch(50))
    slow = factory.trade(block_time=START + timedelta(minutes=30), mint=MINTS[2])
    with psycopg.connect(warehouse_dsn) as writer:
        insert_trades(writer, [slow])            # inserted (and logged), not committed yet
        refresh.refresh_incremental(warehouse)   # does not see it
        writer.commit()
    bucket = slow.block_time.replace(second=0, microsecond=0)
    assert warehouse.execute("""SELECT count(*) FROM candles WHERE source = 'trades' AND token = %s
                                AND interval = '1m' AND bucket_start = %s""", (slow.mint, bucket)).fetchone() == (0,)
    result = refresh.refresh_incremental(warehouse)
    assert result.minutes == 1
    assert_matches_pandas(warehouse)


def test_rebuild_range_rebuilds_its_buckets_and_drops_emptied_ones(warehouse):
    factory = TradeFactory(seed=6)
    insert_trades(warehouse, factory.batch(600))
    result = refresh.rebuild_all(warehouse)
    assert result.dirty_rows == 600   # the change log of the range is done by the rebuild
    # lose a bucket's trades without going through the change log (as if it had been truncated)
    minute = warehouse.execute("""SELECT mint, date_bin('1 minute', block_time, 'epoch') FROM trades
                                  GROUP BY 1, 2 ORDER BY 2 LIMIT 1 OFFSET 100""").fetchone()
    warehouse.execute("ALTER TABLE trades DISABLE TRIGGER trades_candles_dirty_delete")
    try:
        warehouse.execute("DELETE FROM trades WHERE mint = %s AND block_time >= %s AND block_time < %s",
                          (minute[0], minute[1], minute[1] + timedelta(minutes=1)))
    finally:
        warehouse.execute("ALTER TABLE trades ENABLE TRIGGER trades_candles_dirty_delete")
    assert refresh.refresh_incremental(warehouse).minutes == 0
    result = refresh.rebuild_range(warehouse, minute[1] - timedelta(minutes=2), minute[1] + timedelta(seconds=30))
    assert result.range_end == minute[1] + timedelta(minutes=1) and result.deleted["1m"] == 1
    assert_matches_pandas(warehouse)


def test_range_rebuilds_repair_changes_the_change_log_never_saw(warehouse):
    """Random ranges (not aligned to any interval) whose trades were added, rewritten and deleted behind the change
    log's back: each range rebuild alone brings every interval back to what the trades give, its coarser buckets
    across the range's ends included (there stored children from outside the range meet recomputed ones)."""
    factory = TradeFactory(seed=23)
    rng = random.Random(24)
    insert_trades(warehouse, factory.batch(1500))
    refresh.rebuild_all(warehouse)
    warehouse.execute("ALTER TABLE trades DISABLE TRIGGER USER")
    try:
        for step in range(5):
            start = START + timedelta(minutes=rng.randrange(0, 29 * 60), seconds=rng.randrange(0, 60))
            end = start + timedelta(minutes=rng.randrange(1, 300), seconds=rng.randrange(0, 60))
            inside = "block_time >= %s AND block_time < %s"
            warehouse.execute(f"""DELETE FROM trades WHERE ({inside}) AND random() < 0.2""", (start, end))
            warehouse.execute(f"""UPDATE trades SET quote_amount = quote_amount * 3, price = price * 3
                                  WHERE ({inside}) AND random() < 0.2""", (start, end))
            added = [t for t in factory.batch(80, around=start + (end - start) / 2) if start <= t.block_time < end]
            insert_trades(warehouse, added)
            assert refresh.refresh_incremental(warehouse).minutes == 0, "the change log saw something"
            result = refresh.rebuild_range(warehouse, start, end)
            assert not result.first_build and result.candles_written > 0, f"step {step}"
            assert_matches_pandas(warehouse)
    finally:
        warehouse.execute("ALTER TABLE trades ENABLE TRIGGER USER")


def test_a_five_minute_rebuild_reads_its_own_candles_not_the_history(warehouse, monkeypatch):
    """Every scheduled run rebuilds its 5 minutes: what that reads of candles and trades must not grow with the
    history. Each writing statement runs under EXPLAIN ANALYZE (it still runs) and its scans' rows are summed."""
    from tests.query_cost import rows_in_plan

    insert_trades(warehouse, TradeFactory(seed=21, hours=30).batch(3000))
    refresh.rebuild_all(warehouse)
    # a long history: 200k derived 1m candles of other tokens on the days before
    warehouse.execute("""INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close, volume,
                                              volume_quote, trade_count, vwap)
                         SELECT 'trades', 'HistoryMint' || (g %% 40), '1m',
                                %s - interval '1 minute' * (g / 40 + 1), 1, 1, 1, 1, 1, 1, 1, 1
                         FROM generate_series(0, 199999) g""", (START,))
    warehouse.execute("ANALYZE candles")
    stored = warehouse.execute("SELECT count(*) FROM candles WHERE source = 'trades'").fetchone()[0]
    window = (START + timedelta(hours=20, minutes=5), START + timedelta(hours=20, minutes=10))
    in_window = warehouse.execute("""SELECT count(*) FROM trades WHERE block_time >= %s AND block_time < %s""",
                                  window).fetchone()[0]
    read: Counter = Counter()
    execute = psycopg.Cursor.execute

    def explained(cur, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(cur)
        statement = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()
        if statement.split()[0].upper() not in ("INSERT", "MERGE", "DELETE"):
            return execute(cur, query, params, **kwargs)
        execute(cur, "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        read.update(rows_in_plan(cur.fetchone()[0]))
        return cur

    monkeypatch.setattr(psycopg.Cursor, "execute", explained)
    refresh.rebuild_range(warehouse, *window)
    monkeypatch.undo()
    assert stored > 200_000 and in_window > 0
    # the 1m candles of the window, and each coarser bucket's stored children around it (24h: its 6h ones, ...)
    assert read["candles"] < 300, read
    assert read["trades"] <= 2 * in_window, read
    warehouse.execute("DELETE FROM candles WHERE token LIKE 'HistoryMint%'")
    assert_matches_pandas(warehouse)


@pytest.mark.parametrize("autocommit", [True, False])
def test_a_session_that_already_had_temporary_tables_refreshes_too(warehouse_dsn, warehouse, autocommit):
    """The refresh asks for more temp_buffers, which PostgreSQL refuses once a session had a temporary table."""
    insert_trades(warehouse, TradeFactory(seed=22).batch(200))
    with psycopg.connect(warehouse_dsn, autocommit=autocommit) as conn:
        conn.execute("CREATE TEMP TABLE earlier (i int)")
        conn.execute("INSERT INTO earlier VALUES (1)")
        if not autocommit:
            conn.commit()
        before = conn.execute("SHOW temp_buffers").fetchone()[0]
        result = refresh.rebuild_all(conn)
        assert conn.execute("SHOW temp_buffers").fetchone()[0] == before   # refused, and nothing else broke
        assert result.candles_written > 0
    with psycopg.connect(warehouse_dsn, autocommit=True) as fresh:   # a fresh session gets the room
        refresh.refresh_incremental(fresh)
        assert fresh.execute("SHOW temp_buffers").fetchone()[0] == "256MB"
    assert_matches_pandas(warehouse)


@pytest.mark.parametrize("start, end, message", [
    ("2026-11-20T10:00:00+00:00", "2026-11-20T09:00:00+00:00", "empty range"),
])
def test_rebuild_range_refuses_an_empty_range(warehouse, start, end, message):
    from datetime import datetime

    with pytest.raises(ValueError, match=message):
        refresh.rebuild_range(warehouse, datetime.fromisoformat(start), datetime.fromisoformat(end))


def test_trades_in_other_quotes_or_without_price_make_no_candles(warehouse):
    factory = TradeFactory(seed=7)
    base = factory.trade(block_time=START, mint=MINTS[0])
    insert_trades(warehouse, [base,
                              factory.trade(block_time=START, mint=MINTS[1], quote_mint=USDC),
                              replace(factory.trade(block_time=START, mint=MINTS[2]), token_amount=Decimal(0))])
    refresh.refresh_incremental(warehouse)
    assert warehouse.execute("SELECT DISTINCT token FROM candles WHERE source = 'trades'").fetchall() == [(MINTS[0],)]


def test_candle_order_key_sorts_as_time_signature_event_index_and_keeps_the_price(warehouse):
    """The key behind open/close: its byte order is (block_time, signature byte-wise, event_index) order, also for a
    signature that is a prefix of another, microsecond times and large event indexes; the price comes back exact."""
    rng = random.Random(5)
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    rows = []
    for _ in range(400):
        signature = "".join(rng.choice(alphabet) for _ in range(rng.choice((1, 2, 3, 88))))
        rows.append((START + timedelta(microseconds=rng.choice((0, 1, 999_999, 1_000_000, 86_400_000_001))),
                     signature, rng.choice((0, 1, 9, 10, 2_147_483_647)),
                     Decimal(rng.choice(("1E-18", "0.000000312500000", "12345678901234567890.5", "7", "7.000")))))
    rows += [(START, "abc", 1, Decimal("1")), (START, "abcd", 0, Decimal("2")), (START, "ab", 5, Decimal("3"))]
    keyed = warehouse.execute(
        """SELECT t.block_time, t.signature, t.event_index, t.price, candle_order_key_price(k.key)
           FROM unnest(%s::timestamptz[], %s::text[], %s::int[], %s::numeric[]) AS t(block_time, signature,
                                                                                     event_index, price)
           CROSS JOIN LATERAL (SELECT candle_order_key(t.block_time, t.signature, t.event_index, t.price)
                                      COLLATE "C" AS key) k
           ORDER BY k.key""", [list(column) for column in zip(*rows, strict=True)]).fetchall()
    expected = sorted(rows, key=lambda r: (r[0], r[1].encode(), r[2]))
    assert [r[:3] for r in keyed] == [r[:3] for r in expected]
    assert all(r[3] == r[4] and str(r[3]) == str(r[4]) for r in keyed)
