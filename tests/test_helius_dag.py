"""helius_5min as Airflow runs it: dag.test() for one interval against the replay server, twice, and without a key."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helius_support import (
    END,
    KEY,
    START,
    TOKENS,
    WALLETS,
    fake_helius,
    set_alert_webhook,
    set_connection,
    whale_alerts_posted,
    write_config,
)
from tests.test_helius_ingest import TABLES, snapshot, sol_price

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "helius_5min.py"


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert not bag.import_errors
    dag = bag.dags["helius_5min"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    return dag


def test_dag_shape():
    dag = load_dag()
    assert dag.catchup and dag.max_active_runs == 1 and dag.start_date.tzinfo is not None
    assert dag.timetable.expression == "*/5 * * * *"
    assert [t.task_id for t in dag.tasks] == ["ingest_transactions", "check_transactions"]
    task = dag.task_dict["ingest_transactions"]
    assert task.retries >= 2 and "helius" in dag.tags


@pytest.mark.slow
def test_dag_test_loads_the_interval_and_a_rerun_changes_nothing(airflow_db, warehouse, replay_server, monkeypatch,
                                                                   tmp_path, capfd, caplog):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, page_limit=10, whale_threshold_usd=100)
    set_alert_webhook(monkeypatch, replay_server)
    sol_price(warehouse, START)
    fake_helius(replay_server)
    dag = load_dag()

    dr = dag.test(logical_date=END)   # a manual run covers the interval that ends at its logical date
    assert dr.state == "success"
    assert (dr.data_interval_start, dr.data_interval_end) == (START, END)
    assert warehouse.execute("SELECT count(*) FROM wallet_transactions").fetchone() == (30,)
    assert warehouse.execute("SELECT count(*) FROM trades").fetchone() == (3,)
    assert warehouse.execute("SELECT count(*) FROM whale_movements").fetchone() == (3,)
    assert len(whale_alerts_posted(replay_server)) == 3
    assert warehouse.execute("SELECT dag_id, task_id, status FROM pulls").fetchall() == [
        ("helius_5min", "ingest_transactions", "success")]
    first = snapshot(warehouse)

    dr = dag.test(logical_date=END)   # a manual run covers the interval that ends at its logical date
    assert dr.state == "success"
    assert snapshot(warehouse) == first and set(first) == set(TABLES)
    assert len(whale_alerts_posted(replay_server)) == 3
    out, err = capfd.readouterr()
    logs = "".join(p.read_text(errors="replace") for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*.log"))
    assert "helius: 30 transactions" in caplog.text   # the task's own log lines were captured
    assert KEY not in out + err + caplog.text + logs


@pytest.mark.slow
def test_dag_test_without_key_skips(airflow_db, warehouse, replay_server, monkeypatch, tmp_path, caplog):
    write_config(tmp_path, monkeypatch, WALLETS, TOKENS)
    set_connection(monkeypatch, replay_server, password=None)
    monkeypatch.delenv("HELIUS_API_KEY", raising=False)
    dr = load_dag().test(logical_date=END + timedelta(minutes=5))
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"ingest_transactions": "skipped", "check_transactions": "skipped"}
    assert warehouse.execute("SELECT status, error FROM pulls").fetchone()[0] == "skipped"
    assert "HELIUS_API_KEY" in warehouse.execute("SELECT error FROM pulls").fetchone()[0]
    assert replay_server.requests == []
