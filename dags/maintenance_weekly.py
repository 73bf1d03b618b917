"""
### maintenance_weekly

Weekly housekeeping of the warehouse: deletes `raw_responses` older than 30 days and `pulls` /
`rejected_records` older than 180 days (counted back from the run's interval end, so a re-run deletes the same
rows), then refreshes planner statistics of the big tables.
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import task

from cryptoflow.dag_factory import build_dag

with build_dag(
    dag_id="maintenance_weekly",
    cron="0 3 * * 0",
    start_date=datetime(2026, 1, 4, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["maintenance"],
    deadline_after=timedelta(hours=3),
):

    @task
    def prune_bookkeeping(data_interval_end=None) -> dict:
        from cryptoflow import maintenance, warehouse

        if data_interval_end is None:
            raise ValueError("maintenance_weekly needs a data interval: trigger it with a logical date")
        with warehouse.connect() as conn:
            return maintenance.prune(conn, as_of=data_interval_end)

    @task
    def analyze_tables() -> None:
        from cryptoflow import maintenance, warehouse

        with warehouse.connect() as conn:
            maintenance.analyze(conn)

    prune_bookkeeping() >> analyze_tables()
