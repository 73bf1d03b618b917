"""A DAG whose only task fails unless the run's conf says {"succeed": true}: task failure incidents end to end."""

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, task

from cryptoflow.dag_factory import build_dag

with build_dag(dag_id="alert_test_flaky", cron="0 * * * *", start_date=datetime(2026, 11, 1, tzinfo=UTC),
               doc_md=__doc__, tags=["test"], deadline_after=timedelta(minutes=45), default_args={"retries": 0},
               params={"succeed": Param(False, type="boolean"), "error": Param("the API answered 500", type="string")}):

    @task
    def fetch_prices(params=None):
        if not params["succeed"]:
            raise RuntimeError(params["error"])
        return "fetched"

    fetch_prices()
