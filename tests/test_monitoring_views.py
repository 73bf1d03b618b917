"""Monitoring views of migration 0009 against real rows: pull_metrics / v_pull_metrics_*, v_newest_data,
v_data_freshness (and v_sync_status, which they build on, unchanged)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def add_pull(conn, *, source="birdeye", dataset="ohlcv", started_at=T0, status="success", fetched=0, upserted=0,
             rejected=0, calls=0, cache_hits=0, errors=0, p50=None, p95=None, p99=None, interval_end=None,
             stale_after=None, dag_id=None) -> None:
    conn.execute(
        """INSERT INTO pulls (dag_id, task_id, run_id, source, dataset, interval_start, interval_end, status,
                              started_at, finished_at, records_fetched, records_upserted, records_rejected,
                              api_calls, cache_hits, http_errors, latency_p50_ms, latency_p95_ms, latency_p99_ms,
                              stale_after)
           VALUES (%s, %s, 'r', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (dag_id or f"{source}_dag", f"ingest_{dataset}", source, dataset,
         interval_end - timedelta(minutes=5) if interval_end else None, interval_end, status, started_at,
         None if status == "running" else started_at + timedelta(seconds=20), fetched, upserted, rejected, calls,
         cache_hits, errors, p50, p95, p99, stale_after))


def metrics_by_bucket(conn, bucket="5 minutes", since=None, until=None, view=None):
    if view:
        rows = conn.execute(f"SELECT * FROM {view} ORDER BY source, bucket_start").fetchall()
    else:
        rows = conn.execute("SELECT * FROM pull_metrics(%s::interval, %s, %s) ORDER BY source, bucket_start",
                            (bucket, since or T0 - timedelta(days=1), until or T0 + timedelta(days=1))).fetchall()
    columns = [c.name for c in conn.execute("SELECT * FROM pull_metrics('5 minutes') LIMIT 0").description]
    return {(r[0], r[1]): dict(zip(columns, r, strict=True)) for r in rows}


def test_pull_metrics_per_source_and_bucket(warehouse):
    # birdeye, bucket 10:00-10:05: two runs (one with 429s), one cache-only run, one still running
    add_pull(warehouse, started_at=T0 + timedelta(minutes=1), fetched=100, upserted=90, calls=10, errors=1,
             p50=100.0, p95=300.0, p99=500.0)
    add_pull(warehouse, started_at=T0 + timedelta(minutes=3), fetched=50, upserted=50, calls=30, errors=2,
             p50=200.0, p95=250.0, p99=900.0, status="failed")
    add_pull(warehouse, started_at=T0 + timedelta(minutes=4), fetched=25, upserted=0, calls=0, cache_hits=4)
    add_pull(warehouse, started_at=T0 + timedelta(minutes=4, seconds=30), status="running")
    # birdeye, bucket 10:10-10:15 (10:05 has nothing); defillama in 10:00
    add_pull(warehouse, started_at=T0 + timedelta(minutes=12), fetched=10, upserted=10, calls=5, p50=40.0,
             p95=80.0, p99=90.0)
    add_pull(warehouse, source="defillama", dataset="fees", started_at=T0 + timedelta(minutes=2), fetched=600,
             upserted=0, calls=0, cache_hits=3)

    got = metrics_by_bucket(warehouse)
    assert sorted(got) == [("birdeye", T0), ("birdeye", T0 + timedelta(minutes=10)), ("defillama", T0)]
    first = got[("birdeye", T0)]
    assert first["bucket_end"] == T0 + timedelta(minutes=5)
    assert (first["pulls"], first["failed_pulls"]) == (3, 1)                     # the running pull is left out
    assert (first["records_fetched"], first["records_upserted"]) == (175, 140)
    assert first["records_fetched_per_min"] == pytest.approx(175 / 5)
    assert first["records_upserted_per_min"] == pytest.approx(140 / 5)
    assert (first["api_calls"], first["http_errors"], first["cache_hits"]) == (40, 3, 4)
    assert first["error_rate"] == pytest.approx(3 / 40)
    assert first["latency_p50_ms"] == pytest.approx((100 * 10 + 200 * 30) / 40)   # weighted by calls
    assert (first["latency_p95_ms"], first["latency_p99_ms"]) == (300.0, 900.0)  # the worst run's
    later = got[("birdeye", T0 + timedelta(minutes=10))]
    assert later["error_rate"] == 0 and later["latency_p50_ms"] == pytest.approx(40.0)
    cached = got[("defillama", T0)]
    assert cached["records_fetched_per_min"] == pytest.approx(600 / 5)
    assert cached["error_rate"] is None and cached["latency_p50_ms"] is None      # no call, no rate

    hourly = metrics_by_bucket(warehouse, view="v_pull_metrics_hourly")
    assert hourly[("birdeye", T0)]["records_fetched"] == 185
    assert hourly[("birdeye", T0)]["records_fetched_per_min"] == pytest.approx(185 / 60)
    assert hourly[("birdeye", T0)]["latency_p99_ms"] == 900.0
    assert metrics_by_bucket(warehouse, view="v_pull_metrics_5m") == got


def test_pull_metrics_window_starts_on_a_bucket_boundary(warehouse):
    add_pull(warehouse, started_at=T0 + timedelta(minutes=1), fetched=10, calls=1, p50=5.0)
    add_pull(warehouse, started_at=T0 + timedelta(minutes=7), fetched=20, calls=1, p50=5.0)
    add_pull(warehouse, started_at=T0 + timedelta(minutes=11), fetched=40, calls=1, p50=5.0)
    # from 10:03 to 10:11: the whole 10:00 bucket is in (not a partial one), 10:11 is not (the end is exclusive)
    got = metrics_by_bucket(warehouse, since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=11))
    assert {k[1]: v["records_fetched"] for k, v in got.items()} == {T0: 10, T0 + timedelta(minutes=5): 20}


def test_rate_of_the_bucket_in_progress_uses_the_minutes_so_far(warehouse):
    warehouse.execute(
        """INSERT INTO pulls (dag_id, task_id, run_id, source, dataset, status, started_at, finished_at,
                              records_fetched)
           VALUES ('d', 't', 'r', 'helius', 'transactions', 'success', now(), now(), 600)""")
    rate, elapsed_min = warehouse.execute(
        """SELECT records_fetched_per_min, extract(epoch FROM now() - bucket_start) / 60
           FROM pull_metrics('1 hour', now() - interval '2 hours', now() + interval '1 minute')""").fetchone()
    assert rate == pytest.approx(600 / max(float(elapsed_min), 1 / 60))
    assert rate >= 600 / 60


def test_newest_data_and_freshness(warehouse):
    now = warehouse.execute("SELECT now()").fetchone()[0]
    newest_metric = now - timedelta(hours=3)
    for ts, source in ((newest_metric - timedelta(days=1), "defillama"), (newest_metric, "defillama"),
                       (now - timedelta(days=2), "artemis")):
        warehouse.execute("INSERT INTO metrics (source, asset, metric, ts, value) VALUES (%s, 'x', 'TVL', %s, 1)",
                          (source, ts))
    candle_start = now - timedelta(minutes=7)
    warehouse.execute(
        """INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close)
           VALUES ('birdeye', 'So11111111111111111111111111111111111111112', '1m', %s, 1, 1, 1, 1),
                  ('birdeye', 'So11111111111111111111111111111111111111112', '1m', %s, 1, 1, 1, 1)""",
        (candle_start - timedelta(minutes=1), candle_start))
    trade_time = now - timedelta(seconds=40)
    warehouse.execute(
        """INSERT INTO trades (signature, event_index, source, block_time, mint, side, token_amount, quote_mint,
                               quote_amount) VALUES ('sig1', 0, 'pumpportal', %s, 'm', 'buy', 1, 'q', 1)""",
        (trade_time,))
    warehouse.execute("""INSERT INTO pool_daily_snapshots (pool, day, snapshot_at, from_endpoint)
                         VALUES ('p', %s, now(), 'pools')""", (date(2026, 11, 19),))

    loaded_end = now - timedelta(hours=1)
    add_pull(warehouse, source="defillama", dataset="fees", started_at=now - timedelta(hours=2),
             interval_end=loaded_end - timedelta(hours=1))
    add_pull(warehouse, source="defillama", dataset="fees", started_at=now - timedelta(minutes=70),
             interval_end=loaded_end, stale_after=timedelta(hours=2))
    add_pull(warehouse, source="defillama", dataset="fees", started_at=now - timedelta(minutes=5),
             interval_end=now, status="failed")                       # not a success: not "loaded"
    add_pull(warehouse, source="birdeye", dataset="ohlcv", started_at=now - timedelta(minutes=3),
             interval_end=now - timedelta(minutes=5), stale_after=timedelta(minutes=15))
    add_pull(warehouse, source="defillama", dataset="contract_mappings", started_at=now - timedelta(days=3),
             interval_end=now - timedelta(days=3), stale_after=timedelta(days=1))
    add_pull(warehouse, source="defillama", dataset="pools", started_at=now - timedelta(hours=1),
             interval_end=now - timedelta(hours=1))

    newest = {(r[0], r[1]): r[2]
              for r in warehouse.execute("SELECT data_table, source, newest_data_at FROM v_newest_data")}
    assert newest == {
        ("metrics", "defillama"): newest_metric, ("metrics", "artemis"): now - timedelta(days=2),
        ("candles", "birdeye"): candle_start, ("trades", "pumpportal"): trade_time,
        ("pool_daily_snapshots", "defillama"): datetime(2026, 11, 19, tzinfo=UTC),
    }

    with warehouse.transaction():   # one now() for the view and for the expected ages
        query_now = warehouse.execute("SELECT now()").fetchone()[0]
        cur = warehouse.execute("SELECT * FROM v_data_freshness")
        columns = [c.name for c in cur.description]
        rows = {(r["source"], r["dataset"]): r for r in (dict(zip(columns, row, strict=True)) for row in cur)}
    assert set(rows) == {("defillama", "fees"), ("birdeye", "ohlcv"), ("defillama", "contract_mappings"),
                         ("defillama", "pools"), ("pumpportal", None), ("artemis", None)}
    fees = rows[("defillama", "fees")]
    assert fees["data_table"] == "metrics" and fees["newest_data_at"] == newest_metric
    assert fees["data_age"] == query_now - newest_metric
    assert fees["last_loaded_interval_end"] == loaded_end and fees["interval_lag"] == query_now - loaded_end
    assert fees["last_status"] == "failed" and fees["stale"] is False          # stale_after of the latest run
    birdeye = rows[("birdeye", "ohlcv")]
    assert birdeye["newest_data_at"] == candle_start and birdeye["stale"] is False
    mappings = rows[("defillama", "contract_mappings")]
    assert mappings["data_table"] is None and mappings["newest_data_at"] is None and mappings["stale"] is True
    assert rows[("defillama", "pools")]["newest_data_at"] == datetime(2026, 11, 19, tzinfo=UTC)
    stream = rows[("pumpportal", None)]
    assert stream["data_table"] == "trades" and stream["newest_data_at"] == trade_time
    assert stream["last_status"] is None and stream["stale"] is None
    assert rows[("artemis", None)]["newest_data_at"] == now - timedelta(days=2)   # data, but no run recorded


def test_views_are_empty_on_an_empty_warehouse(warehouse):
    for view in ("v_pull_metrics_5m", "v_pull_metrics_hourly", "v_newest_data", "v_data_freshness",
                 "v_sync_status"):
        assert warehouse.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view


def test_sync_status_keeps_its_columns(warehouse):
    columns = [c.name for c in warehouse.execute("SELECT * FROM v_sync_status LIMIT 0").description]
    assert columns == ["source", "dataset", "last_status", "dag_id", "last_run_id", "last_started_at",
                       "last_finished_at", "last_error", "last_loaded_interval_end", "last_success_at",
                       "stale_after", "stale"]


def test_newest_data_reads_one_row_per_series_not_the_tables(warehouse):
    """The page reads v_newest_data on every load: it must cost index probes per series, not scans of metrics,
    candles and trades (which hold years of rows)."""
    from tests.query_cost import rows_read

    start = datetime(2026, 11, 1, tzinfo=UTC)
    warehouse.execute("""INSERT INTO metrics (source, asset, metric, ts, value)
                         SELECT s, a, 'TVL', %s + n * interval '1 hour', n
                         FROM unnest(ARRAY['defillama', 'artemis']) s, unnest(ARRAY['eth', 'sol', 'aave']) a,
                              generate_series(1, 1000) n""", (start,))
    warehouse.execute("""INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close)
                         SELECT s, t, '1m', %s + n * interval '1 minute', 1, 1, 1, 1
                         FROM unnest(ARRAY['birdeye', 'trades']) s, unnest(ARRAY['mintA', 'mintB']) t,
                              generate_series(1, 1500) n""", (start,))
    warehouse.execute("""INSERT INTO trades (signature, event_index, source, block_time, mint, side, token_amount,
                                             quote_mint, quote_amount)
                         SELECT s || n, 0, s, %s + n * interval '1 second', 'm', 'buy', 1, 'q', 1
                         FROM unnest(ARRAY['helius', 'pumpportal']) s, generate_series(1, 3000) n""", (start,))
    warehouse.execute("""INSERT INTO wallet_transactions (signature, slot, block_time, type, source, fee, fee_payer,
                                                          tracked_addresses)
                         SELECT 'tx' || n, n, %s + n * interval '1 minute', 'SWAP', 'JUPITER', 1, 'p', ARRAY['w']
                         FROM generate_series(1, 3000) n""", (start,))
    warehouse.execute("""INSERT INTO pool_daily_snapshots (pool, day, snapshot_at, from_endpoint)
                         SELECT 'p' || k, date '2026-01-01' + n, now(), 'pools'
                         FROM generate_series(1, 10) k, generate_series(1, 300) n""")
    for table in ("metrics", "candles", "trades", "wallet_transactions", "pool_daily_snapshots"):
        warehouse.execute(f"ANALYZE {table}")

    newest = {(r[0], r[1]): r[2] for r in warehouse.execute("SELECT * FROM v_newest_data")}
    hours, minutes, seconds = (lambda n: start + timedelta(hours=n), lambda n: start + timedelta(minutes=n),
                               lambda n: start + timedelta(seconds=n))
    assert newest == {
        ("metrics", "defillama"): hours(1000), ("metrics", "artemis"): hours(1000),
        ("candles", "birdeye"): minutes(1500), ("candles", "trades"): minutes(1500),
        ("trades", "helius"): seconds(3000), ("trades", "pumpportal"): seconds(3000),
        ("wallet_transactions", "helius"): minutes(3000),
        ("pool_daily_snapshots", "defillama"): datetime(2026, 10, 28, tzinfo=UTC),
    }
    read = rows_read(warehouse, "SELECT * FROM v_data_freshness")
    # 6 metric series, 4 candle series, 2 trade sources: a probe or two each
    assert read["metrics"] <= 2 * 6 and read["candles"] <= 2 * 4 and read["trades"] <= 2 * 2, read
    assert read["wallet_transactions"] <= 1 and read["pool_daily_snapshots"] <= 1, read
