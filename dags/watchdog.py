"""
### watchdog

Every 5 minutes, as of the run's interval end (it is about the present, so no catch-up), pages when:

* a source has delivered nothing for longer than its threshold (5 minutes for `helius_5min`, `birdeye_5min` and the
  live trade stream, 1 h 45 min for `defillama_hourly`, 27 h for the daily DAGs; a source without an API key skips
  on purpose and is not watched),
* more than 10% of a source's API calls in the last hour failed (from at least 20 calls),
* an API key was rejected.

Each condition is an incident in `alert_incidents`: one message when it opens, none while it stays open, one when it
resolves. Late runs (the DAGs' deadline alerts) are incidents too, opened by the deadline callback: the watchdog
resolves one once no run of that DAG missed its deadline for an hour (or two of its intervals).
Thresholds: `AIRFLOW__CRYPTOFLOW__*` settings, see the README, "Alerts and what to do".
"""

from datetime import UTC, datetime, timedelta

from airflow.sdk import task

from cryptoflow.dag_factory import build_dag

with build_dag(
    dag_id="watchdog",
    cron="*/5 * * * *",
    start_date=datetime(2026, 11, 20, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["alerts"],
    deadline_after=timedelta(minutes=15),
    execution_timeout=timedelta(minutes=4),
):

    @task
    def check_sources(data_interval_end=None, run_id=None) -> dict:
        from cryptoflow.watchdog import run_task

        return run_task(data_interval_end, run_id)

    check_sources()
