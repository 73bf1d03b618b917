"""Builders for the DAG shapes, so each file in ``dags/`` is a few lines of configuration."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable

from cryptoflow.alerts import deadline_alert, task_failure_alert, task_success_resolve

OWNER = "data-platform"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": task_failure_alert,
    "on_success_callback": task_success_resolve,   # resolves the failure incident
}


def build_dag(
    *,
    dag_id: str,
    cron: str,
    start_date: datetime,
    doc_md: str | None,
    tags: Sequence[str],
    deadline_after: timedelta,
    max_active_runs: int = 4,
    catchup: bool = True,
    execution_timeout: timedelta = timedelta(minutes=30),
    default_args: dict[str, Any] | None = None,
    **kwargs: Any,
) -> DAG:
    """A DAG on a data-interval cron timetable (UTC) with our defaults, failure and deadline alerts."""
    return DAG(
        dag_id=dag_id,
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=start_date,
        catchup=catchup,
        max_active_runs=max_active_runs,
        default_args={**DEFAULT_ARGS, "execution_timeout": execution_timeout, **(default_args or {})},
        doc_md=doc_md,
        tags=["cryptoflow", *tags],
        deadline=deadline_alert(deadline_after, dag_label=dag_id),
        **kwargs,
    )


def build_ingest_dag(
    *,
    dag_id: str,
    source: str,
    datasets: Sequence[str],
    cron: str,
    start_date: datetime,
    doc_md: str | None,
    deadline_after: timedelta,
    max_active_runs: int = 4,
    tags: Sequence[str] = (),
    outlets: dict[str, list] | None = None,
    **kwargs: Any,
) -> DAG:
    """One ``ingest_<dataset>`` task per dataset of ``source``, each for the run's data interval.

    ``outlets`` maps a dataset to the Airflow Assets its task updates (e.g. ``trades``, which triggers ``candles``).
    A dataset with data-quality checks (``cryptoflow.checks``) gets ``check_<dataset>`` after its ingest task: it
    runs when the ingest succeeded, and is skipped with it (no API key) or not run when it failed.
    """
    from cryptoflow.checks import DataQualityCheckOperator, has_checks
    from cryptoflow.operators import IngestDatasetOperator

    with build_dag(dag_id=dag_id, cron=cron, start_date=start_date, doc_md=doc_md, tags=[source, *tags],
                   deadline_after=deadline_after, max_active_runs=max_active_runs, **kwargs) as dag:
        for name in datasets:
            ingest = IngestDatasetOperator(task_id=f"ingest_{name}", source=source, dataset=name,
                                           outlets=(outlets or {}).get(name, []))
            if has_checks(source, name):
                ingest >> DataQualityCheckOperator(task_id=f"check_{name}", source=source, dataset=name)
    return dag
