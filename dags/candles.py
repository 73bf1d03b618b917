"""
### candles

1m, 5m, 1h, 6h and 24h candles (UTC) derived from `trades` into `candles` (source `trades`, prices in SOL per
token), run when the `trades` Airflow Asset changes (the live stream, Helius) and every 5 minutes.

* Every run recomputes the buckets whose trades were inserted, changed or deleted since the last successful run
  (the `candles_dirty` change log, written by a trigger on `trades`): late trades for old buckets included.
* A run with a data interval (schedule, backfill, clear/re-run) also rebuilds every bucket of its interval from the
  trades; trigger with params `rebuild_from`/`rebuild_to` to rebuild any range in one run.
* `check_candles` fails on inconsistent candles; `reconcile_with_birdeye` compares closes with Birdeye's candles
  (`candle_reconciliation`) and alerts when a token's share of mismatched buckets is above the threshold.
"""

from datetime import UTC, datetime

from cryptoflow.candles.dag import build_candles_dag

dag = build_candles_dag(
    dag_id="candles",
    cron="*/5 * * * *",
    start_date=datetime(2026, 11, 20, tzinfo=UTC),
    doc_md=__doc__,
)
