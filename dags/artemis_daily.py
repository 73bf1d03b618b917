"""
### artemis_daily

Daily Artemis asset metrics for the assets x metrics matrix in `include/config/artemis_config.csv` into `metrics`
(source `artemis`, one point per UTC day), and the Artemis -> DefiLlama links of
`include/config/artemis_entity_map.csv` into `entity_map`. Each run reloads the 3 whole UTC days before its interval
end, so late and restated values are picked up. Requests cover whole calendar months and are cached, so a backfill
costs one request per month and batch. Needs `ARTEMIS_API_KEY` (the password of Airflow connection `artemis`);
without it the task is skipped.
"""

from datetime import UTC, datetime, timedelta

from cryptoflow.dag_factory import build_ingest_dag

dag = build_ingest_dag(
    dag_id="artemis_daily",
    source="artemis",
    datasets=["metrics"],
    cron="5 0 * * *",
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    max_active_runs=2,
    doc_md=__doc__,
    deadline_after=timedelta(hours=3),
)
