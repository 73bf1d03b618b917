"""
### helius_5min

Every 5 minutes: the Helius enhanced transactions of the tracked whale wallets (`include/config/whale_wallets.csv`)
and the swaps of the watchlist tokens (`include/config/watchlist.csv`) whose block time lies in the run's interval,
into `wallet_transactions`, `token_transfers` and `trades`; then `whale_movements` above the USD threshold (one alert
each, never twice), and the FIFO win rates of the wallets that traded (`wallet_stats`). Skips without
`HELIUS_API_KEY`. One run at a time: the Helius rate limit (2 requests/s on the free plan) is per account, so an
Airflow backfill works through its intervals one after the other.
"""

from datetime import UTC, datetime, timedelta

from cryptoflow.candles.assets import TRADES
from cryptoflow.dag_factory import build_ingest_dag

dag = build_ingest_dag(
    dag_id="helius_5min",
    source="helius",
    datasets=["transactions"],
    cron="*/5 * * * *",
    start_date=datetime(2026, 11, 20, tzinfo=UTC),
    doc_md=__doc__,
    deadline_after=timedelta(minutes=15),
    max_active_runs=1,
    default_args={"max_active_tis_per_dag": 1},
    outlets={"transactions": [TRADES]},
)
