"""A DAG whose only task fails with an error that mentions an API key, to test the failure alert end to end."""

from datetime import UTC, datetime, timedelta

from airflow.sdk import task

from cryptoflow.dag_factory import build_dag
from cryptoflow.secrets import register_secret
from tests.framework_support import TEST_KEY

with build_dag(dag_id="alert_test_failing", cron="0 * * * *", start_date=datetime(2026, 11, 1, tzinfo=UTC),
               doc_md=__doc__, tags=["test"], deadline_after=timedelta(minutes=45),
               default_args={"retries": 0}):

    @task
    def fetch_something():
        register_secret(TEST_KEY)
        raise RuntimeError(f"GET https://api.example.com/v0/tx?api-key={TEST_KEY} exploded")

    fetch_something()
