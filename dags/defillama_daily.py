"""
### defillama_daily (Airflow DAG)

Runs at 00:00 UTC for the UTC day that just ended. The DefiLlama catalog (`chains`, `protocols`, `pools`), that
day's `protocol_daily_snapshots` and
`pool_daily_snapshots`, `contract_mappings` and `entity_map`. `/v2/chains`, `/protocols` and yields `/pools` only
give the present: a backfill refreshes the catalog but cannot write snapshots of past days (it logs that). Pools
listed in `include/config/defillama_entities.csv` get day-by-day history from yields `/chart` (`pool_history`).
The mapping tasks wait for the catalog and pools tasks, so each large answer is fetched once and then cached.
"""

from datetime import UTC, datetime, timedelta

from cryptoflow.dag_factory import build_ingest_dag

dag = build_ingest_dag(
    dag_id="defillama_daily",
    source="defillama",
    datasets=["catalog", "pools", "pool_history", "contract_mappings", "entity_map"],
    cron="0 0 * * *",
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    doc_md=__doc__,
    deadline_after=timedelta(hours=3),
    max_active_runs=2,
)
tasks = dag.task_dict
tasks["ingest_catalog"] >> [tasks["ingest_contract_mappings"], tasks["ingest_entity_map"]]
tasks["ingest_pools"] >> tasks["ingest_contract_mappings"]
