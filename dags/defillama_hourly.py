"""
### defillama_hourly (Airflow DAG)

DefiLlama time series into `metrics` (source `defillama`): chain TVL, fees, revenue and DEX / perps / options
volume; protocol TVL, fees, revenue, DEX and derivatives volume; stablecoin supply; and, with a Pro key, bridge
volume, net flows and open interest. Entities and metrics: `include/config/defillama_entities.csv`.

Each run upserts the points in `[data_interval_end - lookback, data_interval_end)` (2 days by default), so late and
restated values are picked up and a backfill loads exactly its range; the raw cache makes a backfill call each
history endpoint about once. One task per metric family: one failing endpoint does not block the others.
"""

from datetime import UTC, datetime, timedelta

from cryptoflow.dag_factory import build_ingest_dag

dag = build_ingest_dag(
    dag_id="defillama_hourly",
    source="defillama",
    datasets=["chain_tvl", "protocol_tvl", "fees", "volumes", "derivatives", "stablecoins", "bridges", "pro"],
    cron="5 * * * *",
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    doc_md=__doc__,
    deadline_after=timedelta(minutes=45),
    max_active_runs=4,
)
