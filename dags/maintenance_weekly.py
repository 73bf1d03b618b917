"""
### maintenance_weekly

Weekly housekeeping (Sundays 03:00 UTC), every cutoff counted back from the run's interval end, so a re-run deletes
the same rows:

- `prune_bookkeeping`: deletes `raw_responses` older than 30 days, `pulls` and `rejected_records` older than 180
  (the newest `pulls` row of each source and dataset stays), `candle_refreshes` and `candle_reconciliation` older
  than 180; reports the `candles_dirty` backlog (never pruned).
- `clean_airflow_metadata`: `airflow db clean` of Airflow's metadata database (runs, task instances, logs, XComs,
  jobs, ...) older than 90 days, without archive tables.
- `analyze_tables`: ANALYZE of the big warehouse tables.

Retention: params `retention_days` (table -> days) and `metadata_retention_days` for one run; defaults from
`CRYPTOFLOW_RETENTION_<TABLE>_DAYS` / `CRYPTOFLOW_RETENTION_AIRFLOW_METADATA_DAYS`.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, task

from cryptoflow.dag_factory import build_dag
from cryptoflow.maintenance import RETENTION, default_metadata_retention_days, default_retention_days

with build_dag(
    dag_id="maintenance_weekly",
    cron="0 3 * * 0",
    start_date=datetime(2026, 1, 4, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["maintenance"],
    deadline_after=timedelta(hours=3),
    params={
        "retention_days": Param(
            default_retention_days(), type="object", title="Warehouse retention (days per table)",
            description="Rows older than this many days before the run's interval end are deleted.",
            propertyNames={"enum": list(RETENTION)}, additionalProperties={"type": "integer", "minimum": 1}),
        "metadata_retention_days": Param(
            default_metadata_retention_days(), type="integer", minimum=1, title="Airflow metadata retention (days)",
            description="airflow db clean deletes runs, task instances, logs, XComs older than this."),
    },
):

    @task
    def prune_bookkeeping(params=None, data_interval_end=None) -> dict:
        from cryptoflow import maintenance, warehouse

        if data_interval_end is None:
            raise ValueError("maintenance_weekly needs a data interval: trigger it with a logical date")
        with warehouse.connect() as conn:
            deleted = maintenance.prune(conn, as_of=data_interval_end, retention_days=params["retention_days"])
            backlog = maintenance.candles_dirty_backlog(conn, as_of=data_interval_end)
        return {"deleted": deleted, "candles_dirty_backlog": backlog}

    @task
    def clean_airflow_metadata(params=None, data_interval_end=None) -> dict:
        from cryptoflow import maintenance

        if data_interval_end is None:
            raise ValueError("maintenance_weekly needs a data interval: trigger it with a logical date")
        days = params["metadata_retention_days"]
        return maintenance.clean_metadata_db(data_interval_end - timedelta(days=days))

    @task
    def analyze_tables() -> list[str]:
        from cryptoflow import maintenance, warehouse

        with warehouse.connect() as conn:
            return maintenance.analyze(conn)

    prune_bookkeeping() >> analyze_tables()
    clean_airflow_metadata()
