"""The birdeye_5min DAG: its shape, and whole runs with dag.test() against the replay server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cryptoflow.sources.birdeye.demo import FakeBirdeye
from tests.test_birdeye_ingest import KEY, expected_rows, loaded_rows, ohlcv_requests, set_connection

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "birdeye"
LOGICAL_DATE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "birdeye_5min.py"))
    assert bag.import_errors == {}
    dag = bag.dags["birdeye_5min"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    return dag


def test_dag_shape():
    from airflow.sdk import CronDataIntervalTimetable

    dag = load_dag()
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "*/5 * * * *"
    assert dag.catchup is True and dag.start_date == datetime(2026, 11, 20, tzinfo=UTC)
    assert dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == ["ingest_ohlcv", "check_ohlcv"]
    task = dag.task_dict["ingest_ohlcv"]
    assert dag.task_dict["check_ohlcv"].upstream_task_ids == {"ingest_ohlcv"}   # data-quality checks after the load
    assert task.retries == 2
    assert task.max_active_tis_per_dag == 1   # one at a time, backfills included: the rate limit is per account
    assert "BIRDEYE_API_KEY" in dag.doc_md


@pytest.fixture
def dag_env(airflow_db, warehouse, replay_server, monkeypatch):
    monkeypatch.setenv("CRYPTOFLOW_WATCHLIST", str(FIXTURES / "watchlist.csv"))
    return FakeBirdeye(api_key=KEY).register(replay_server)


def test_dag_test_loads_the_closed_candles_of_its_interval_and_a_rerun_changes_nothing(
        dag_env, warehouse, replay_server, monkeypatch):
    set_connection(monkeypatch, replay_server)
    dag = load_dag()

    t0 = time.perf_counter()
    dr = dag.test(logical_date=LOGICAL_DATE)
    print("dag.test", time.perf_counter() - t0)

    assert dr.state == "success"
    start, end = dr.data_interval_start, dr.data_interval_end
    print(dr.logical_date, start, end)
    # dag.test() infers the interval that ends at the logical date: 11:55 to 12:00, when the 1h candle closes
    assert (start, end) == (datetime(2026, 11, 20, 11, 55, tzinfo=UTC), datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    rows = loaded_rows(warehouse)
    assert rows and rows == expected_rows(dag_env, start, end)
    before = warehouse.execute("SELECT *, xmin::text FROM candles ORDER BY 1, 2, 3, 4").fetchall()
    calls = len(ohlcv_requests(replay_server))

    again = load_dag().test(logical_date=LOGICAL_DATE)

    assert again.state == "success"
    assert warehouse.execute("SELECT *, xmin::text FROM candles ORDER BY 1, 2, 3, 4").fetchall() == before
    assert len(ohlcv_requests(replay_server)) == calls
    pulls = warehouse.execute(
        "SELECT dag_id, task_id, status, records_upserted, api_calls FROM pulls ORDER BY id").fetchall()
    assert pulls == [("birdeye_5min", "ingest_ohlcv", "success", len(rows), calls),
                     ("birdeye_5min", "ingest_ohlcv", "success", 0, 0)]


def test_a_rejected_key_fails_the_task_once_and_alerts_without_the_key(dag_env, warehouse, replay_server,
                                                                       monkeypatch):
    bad_key = "wrong-key-5a4b3c2d"
    set_connection(monkeypatch, replay_server, password=bad_key)
    replay_server.add("/alerts", method="POST", json={"ok": True})
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": replay_server.url, "extra": {"endpoint": "/alerts"}}))

    dr = load_dag().test(logical_date=LOGICAL_DATE)

    assert dr.state == "failed"
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    ti = tis["ingest_ohlcv"]
    assert ti.state == "failed" and ti.try_number == 1            # no Airflow retry
    assert tis["check_ohlcv"].state == "upstream_failed"         # nothing to check, no second alert
    assert len(ohlcv_requests(replay_server)) == 1                # no HTTP retry either
    [alert] = [r for r in replay_server.requests if r.path == "/alerts"]
    text = alert.json()["text"]
    assert "ApiKeyRejected" in text and "BIRDEYE_API_KEY" in text and "HTTP 401" in text
    assert bad_key not in alert.body.decode()
    assert warehouse.execute("SELECT count(*) FROM candles").fetchone()[0] == 0


def test_without_a_key_the_task_is_skipped(dag_env, warehouse, replay_server, monkeypatch):
    set_connection(monkeypatch, replay_server, password=None)

    dr = load_dag().test(logical_date=LOGICAL_DATE)

    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"ingest_ohlcv": "skipped", "check_ohlcv": "skipped"}   # a skipped load is not a failed check
    assert ohlcv_requests(replay_server) == []
    status, error = warehouse.execute("SELECT status, error FROM pulls").fetchone()
    assert status == "skipped" and "BIRDEYE_API_KEY" in error
