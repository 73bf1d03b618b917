"""The ``candles`` DAG: runs when the ``trades`` Asset changes and every 5 minutes (``AssetOrTimeSchedule``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, task

from cryptoflow.alerts import deadline_alert
from cryptoflow.candles.assets import TRADES
from cryptoflow.checks import DataQualityCheckOperator
from cryptoflow.dag_factory import DEFAULT_ARGS

PARAMS = {
    "rebuild_from": Param(None, type=["null", "string"], title="Rebuild from (optional)",
                          description="With rebuild_to: rebuild the derived candles of this range instead of the "
                                      "run's interval (ISO date or date-time, UTC)."),
    "rebuild_to": Param(None, type=["null", "string"], title="Rebuild to (exclusive)"),
    "reconcile_tolerance": Param(0.02, type="number", minimum=0, title="Reconciliation tolerance",
                                 description="A derived close more than this share off Birdeye's is a mismatch."),
    "reconcile_threshold": Param(0.10, type="number", minimum=0, maximum=1, title="Alert threshold",
                                 description="Alert when a token's share of mismatched buckets is above this."),
    "reconcile_lookback_minutes": Param(60, type="integer", minimum=5, title="Reconciliation window (minutes)"),
}


def build_candles_dag(*, dag_id: str, cron: str, start_date: datetime, doc_md: str | None,
                      deadline_after: timedelta = timedelta(minutes=15), max_active_runs: int = 1) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=AssetOrTimeSchedule(timetable=CronDataIntervalTimetable(cron, timezone="UTC"), assets=[TRADES]),
        start_date=start_date,
        catchup=True,
        max_active_runs=max_active_runs,
        default_args={**DEFAULT_ARGS, "execution_timeout": timedelta(minutes=30)},
        doc_md=doc_md,
        tags=["cryptoflow", "candles", "trades"],
        deadline=deadline_alert(deadline_after, dag_label=dag_id),
        params=PARAMS,
    ) as dag:

        @task
        def refresh_candles(params=None, data_interval_start=None, data_interval_end=None, run_id=None,
                            ti=None) -> dict:
            from cryptoflow.candles.tasks import refresh_logged

            return refresh_logged(interval_start=data_interval_start, interval_end=data_interval_end,
                                  params=params, dag_id=dag_id, task_id="refresh_candles", run_id=run_id,
                                  try_number=ti.try_number if ti else None)

        @task
        def check_candles(refreshed: dict) -> int:
            from cryptoflow.candles.tasks import run_check

            return run_check(refreshed)

        @task
        def reconcile_with_birdeye(params=None, data_interval_end=None, run_id=None) -> dict:
            from airflow.sdk.exceptions import AirflowSkipException

            from cryptoflow import warehouse
            from cryptoflow.candles.tasks import run_reconcile

            if data_interval_end is None:
                raise AirflowSkipException("no data interval (an asset-triggered run): the scheduled runs reconcile")
            with warehouse.connect() as conn:
                return run_reconcile(conn, data_interval_end, params, dag_id=dag_id, run_id=run_id)

        refreshed = refresh_candles()
        check_candles(refreshed)
        refreshed >> reconcile_with_birdeye()
        # the data-quality checks of the interval's derived candles (cryptoflow.checks); skipped without an interval
        refreshed >> DataQualityCheckOperator(task_id="quality_checks", source="trades", dataset="candles")
    return dag
