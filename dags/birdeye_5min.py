"""
### birdeye_5min

Every 5 minutes: Birdeye OHLCV candles of the watchlist tokens (1m, 5m, 15m, 1h unless a token lists its own) into
`candles` (source `birdeye`): the candles that closed in the run's interval, so re-runs change nothing and a
backfill loads what the live runs did, mostly from the raw cache. Skips without `BIRDEYE_API_KEY`.
One task instance at a time, backfills included: Birdeye's rate limit (1 request/s on the free tier) is per
account. Backfill from the Airflow UI or `make backfill DAG=birdeye_5min FROM=... TO=...`.
"""

from datetime import UTC, datetime, timedelta

from cryptoflow.dag_factory import build_ingest_dag

dag = build_ingest_dag(
    dag_id="birdeye_5min",
    source="birdeye",
    datasets=["ohlcv"],
    cron="*/5 * * * *",
    start_date=datetime(2026, 11, 20, tzinfo=UTC),
    doc_md=__doc__,
    deadline_after=timedelta(minutes=15),
    max_active_runs=1,
    default_args={"max_active_tis_per_dag": 1},
)
