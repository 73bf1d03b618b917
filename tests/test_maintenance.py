"""maintenance_weekly: warehouse retention (exactly the old rows, idempotent), ANALYZE, the candles change-log report,
and `airflow db clean` of the metadata database, both as dag.test() runs it and as a scheduler-run task (whose
environment has no metadata DB access) does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cryptoflow import maintenance
from cryptoflow.maintenance import MaintenanceError, Retention

ROOT = Path(__file__).resolve().parents[1]
# dag.test() runs the last complete interval before the logical date: [2026-11-08 03:00, 2026-11-15 03:00)
LOGICAL = datetime(2026, 11, 15, 3, 0, tzinfo=UTC)
EARLIER_LOGICAL = datetime(2026, 11, 8, 3, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 15, 3, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)   # older than any retention counted back from AS_OF


# --- warehouse rows ---------------------------------------------------------------------------------------------

def add_raw_response(conn, fetched_at) -> int:
    return conn.execute(
        """INSERT INTO raw_responses (source, conn_id, url, request_key, status, fetched_at)
           VALUES ('defillama', 'defillama', 'https://api.llama.fi/x', 'k', 200, %s) RETURNING id""",
        (fetched_at,)).fetchone()[0]


def add_pull(conn, started_at, source="defillama", dataset="tvl") -> int:
    return conn.execute(
        """INSERT INTO pulls (dag_id, task_id, run_id, source, dataset, status, started_at)
           VALUES ('d', 't', 'r', %s, %s, 'success', %s) RETURNING id""", (source, dataset, started_at)).fetchone()[0]


def add_rejected(conn, rejected_at) -> int:
    return conn.execute(
        """INSERT INTO rejected_records (source, dataset, reason, rejected_at)
           VALUES ('artemis', 'metrics', 'bad value', %s) RETURNING id""", (rejected_at,)).fetchone()[0]


def add_candle_refresh(conn, started_at) -> int:
    return conn.execute("INSERT INTO candle_refreshes (mode, started_at) VALUES ('incremental', %s) RETURNING id",
                        (started_at,)).fetchone()[0]


def add_reconciliation(conn, window_end, token="T") -> str:
    conn.execute(
        """INSERT INTO candle_reconciliation (window_start, window_end, token, interval, buckets, mismatched,
                                              mismatch_share, tolerance, threshold, above_threshold)
           VALUES (%s, %s, %s, '1m', 10, 0, 0, 0.02, 0.1, false)""",
        (window_end - timedelta(hours=1), window_end, token))
    return token


def add_check_result(conn, check_name, interval_end, checked_at) -> int:
    return conn.execute(
        """INSERT INTO check_results (dag_id, task_id, run_id, source, dataset, interval_start, interval_end,
                                      check_name, table_name, status, message, checked_at)
           VALUES ('defillama_hourly', 'check_tvl', 'r', 'defillama', 'tvl', %s, %s, %s, 'metrics', 'pass', 'ok', %s)
           RETURNING id""", (interval_end - timedelta(hours=1), interval_end, check_name, checked_at)).fetchone()[0]


def add_incident(conn, opened_at, resolved_at) -> int:
    return conn.execute(
        """INSERT INTO alert_incidents (kind, subject, opened_at, last_seen_at, resolved_at, opened_by)
           VALUES ('source_silent', %s, %s, %s, %s, 'watchdog') RETURNING id""",
        (f"feed-{opened_at.isoformat()}", opened_at, opened_at, resolved_at)).fetchone()[0]


def ids(conn, table) -> set:
    return {r[0] for r in conn.execute(f"SELECT id FROM {table}")}


def seed_warehouse(conn) -> dict:
    """Rows just before, exactly at, and after each table's default cutoff counted back from AS_OF."""
    day = timedelta(days=1)
    second = timedelta(seconds=1)
    raw_cut, checks_cut, long_cut = AS_OF - 30 * day, AS_OF - 90 * day, AS_OF - 180 * day
    rows = {
        "raw_old": [add_raw_response(conn, raw_cut - second), add_raw_response(conn, LONG_AGO)],
        "raw_kept": [add_raw_response(conn, raw_cut), add_raw_response(conn, raw_cut + second),
                     add_raw_response(conn, AS_OF + day)],
        # tvl: an old row and a recent one; fees: only old rows, the newest of which stays for v_sync_status
        "pulls_old": [add_pull(conn, long_cut - second), add_pull(conn, LONG_AGO, dataset="fees")],
        "pulls_kept": [add_pull(conn, long_cut), add_pull(conn, AS_OF - day),
                       add_pull(conn, long_cut - 2 * day, dataset="fees")],
        "rejected_old": [add_rejected(conn, long_cut - second)],
        "rejected_kept": [add_rejected(conn, long_cut), add_rejected(conn, AS_OF)],
        "refreshes_old": [add_candle_refresh(conn, long_cut - second)],
        "refreshes_kept": [add_candle_refresh(conn, long_cut + second)],
        # the latest result of each check stays, however old (v_check_status shows it)
        "checks_old": [add_check_result(conn, "freshness", datetime(2026, 1, 1, tzinfo=UTC), LONG_AGO),
                       add_check_result(conn, "freshness", datetime(2026, 1, 2, tzinfo=UTC), checks_cut - second)],
        "checks_kept": [add_check_result(conn, "freshness", datetime(2026, 11, 1, tzinfo=UTC), checks_cut),
                        add_check_result(conn, "row_count", datetime(2026, 1, 1, tzinfo=UTC), LONG_AGO)],
        # open incidents are never deleted
        "incidents_old": [add_incident(conn, LONG_AGO, long_cut - second)],
        "incidents_kept": [add_incident(conn, LONG_AGO, long_cut), add_incident(conn, LONG_AGO, None)],
    }
    add_reconciliation(conn, long_cut - second, token="OLD")
    add_reconciliation(conn, long_cut, token="KEPT")
    # pulls_kept's fees row must be the newest fees row by id: it was inserted last
    return rows


def check_pruned(conn, rows):
    assert ids(conn, "raw_responses") == set(rows["raw_kept"])
    assert ids(conn, "pulls") == set(rows["pulls_kept"])
    assert ids(conn, "rejected_records") == set(rows["rejected_kept"])
    assert ids(conn, "candle_refreshes") == set(rows["refreshes_kept"])
    assert {r[0] for r in conn.execute("SELECT token FROM candle_reconciliation")} == {"KEPT"}
    assert ids(conn, "check_results") == set(rows["checks_kept"])
    assert ids(conn, "alert_incidents") == set(rows["incidents_kept"])


def test_prune_deletes_exactly_the_rows_older_than_the_retention_and_is_idempotent(warehouse):
    rows = seed_warehouse(warehouse)
    deleted = maintenance.prune(warehouse, as_of=AS_OF)
    assert deleted == {"raw_responses": 2, "pulls": 2, "rejected_records": 1, "candle_refreshes": 1,
                       "candle_reconciliation": 1, "check_results": 2, "alert_incidents": 1}
    check_pruned(warehouse, rows)
    # the newest pull of (defillama, fees) is older than the retention and stays
    assert warehouse.execute("SELECT count(*) FROM pulls WHERE dataset = 'fees'").fetchone()[0] == 1

    assert maintenance.prune(warehouse, as_of=AS_OF) == dict.fromkeys(deleted, 0)
    check_pruned(warehouse, rows)


def test_retention_from_params_and_environment(warehouse, monkeypatch):
    ids_ = [add_raw_response(warehouse, AS_OF - timedelta(days=d)) for d in (3, 8, 20)]
    monkeypatch.setenv("CRYPTOFLOW_RETENTION_RAW_RESPONSES_DAYS", "10")
    assert maintenance.default_retention_days()["raw_responses"] == 10
    assert maintenance.prune(warehouse, as_of=AS_OF)["raw_responses"] == 1
    assert ids(warehouse, "raw_responses") == set(ids_[:2])
    assert maintenance.prune(warehouse, as_of=AS_OF, retention_days={"raw_responses": 5})["raw_responses"] == 1
    assert ids(warehouse, "raw_responses") == {ids_[0]}

    monkeypatch.setenv("CRYPTOFLOW_RETENTION_AIRFLOW_METADATA_DAYS", "45")
    assert maintenance.default_metadata_retention_days() == 45


@pytest.mark.parametrize(("overrides", "message"), [
    ({"raw_response": 3}, "no retention rule for table(s) raw_response; tables with one: raw_responses, pulls"),
    ({"pulls": 0}, "retention of pulls must be a whole number of days >= 1, got 0"),
    ({"pulls": "2.5"}, "retention of pulls must be a whole number of days >= 1, got '2.5'"),
])
def test_bad_retention_is_refused_before_anything_is_deleted(warehouse, overrides, message):
    kept = add_raw_response(warehouse, LONG_AGO)
    with pytest.raises(MaintenanceError) as error:
        maintenance.prune(warehouse, as_of=AS_OF, retention_days=overrides)
    assert message in str(error.value)
    assert ids(warehouse, "raw_responses") == {kept}


def test_bad_retention_in_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("CRYPTOFLOW_RETENTION_PULLS_DAYS", "half a year")
    with pytest.raises(MaintenanceError, match="CRYPTOFLOW_RETENTION_PULLS_DAYS must be a whole number"):
        maintenance.default_retention_days()


def test_rules_for_tables_that_do_not_exist_are_skipped_and_a_wrong_column_fails(warehouse, monkeypatch):
    monkeypatch.setitem(maintenance.RETENTION, "table_of_a_later_migration", Retention("created_at", 30))
    deleted = maintenance.prune(warehouse, as_of=AS_OF)
    assert "table_of_a_later_migration" not in deleted and "raw_responses" in deleted

    monkeypatch.setitem(maintenance.RETENTION, "pulls", Retention("created_at", 30))
    with pytest.raises(MaintenanceError, match="retention rule for pulls uses column 'created_at'"):
        maintenance.prune(warehouse, as_of=AS_OF)


def test_candles_change_log_is_reported_never_pruned(warehouse, caplog):
    assert maintenance.candles_dirty_backlog(warehouse, AS_OF) == {"rows": 0, "oldest_changed_at": None}
    warehouse.execute("""INSERT INTO candles_dirty (token, minute, changed_at) VALUES
                         ('T', '2026-11-01T00:00Z', '2026-11-01T00:00:30Z'), ('T', '2026-11-15T02:59Z', %s)""",
                      (AS_OF,))
    maintenance.prune(warehouse, as_of=AS_OF)
    backlog = maintenance.candles_dirty_backlog(warehouse, AS_OF)
    assert backlog == {"rows": 2, "oldest_changed_at": "2026-11-01T00:00:30+00:00"}
    assert "candles_dirty holds 2 rows" in caplog.text and "paused or failing" in caplog.text


def test_analyze_refreshes_statistics_of_the_big_tables(warehouse):
    def analyze_counts():
        warehouse.execute("SELECT pg_stat_clear_snapshot()")
        return dict(warehouse.execute(
            "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname IN ('trades', 'metrics', 'candles')"))

    before = analyze_counts()
    done = maintenance.analyze(warehouse)
    assert {"trades", "candles", "metrics", "raw_responses", "pulls", "token_transfers",
            "wallet_transactions"} <= set(done)
    after = analyze_counts()
    assert all(after[t] == before.get(t, 0) + 1 for t in ("trades", "metrics", "candles"))
    assert maintenance.analyze(warehouse, tables=("trades", "no_such_table")) == ["trades"]


# --- Airflow's metadata database ------------------------------------------------------------------------------

@pytest.fixture
def metadata(pg_cluster, airflow_db):
    with psycopg.connect(pg_cluster.dsn("airflow_meta"), autocommit=True) as conn:
        yield conn


def add_audit_log(metadata_conn, event: str, dttm: datetime) -> int:
    """A row of Airflow's audit log (table ``log``), written through Airflow's own model."""
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        row = Log(event=event, dag_id="maintenance_weekly")
        session.add(row)
        session.flush()
        row_id = row.id
    metadata_conn.execute("UPDATE log SET dttm = %s WHERE id = %s", (dttm, row_id))
    return row_id


def audit_log_ids(metadata_conn, event: str) -> set[int]:
    return {r[0] for r in metadata_conn.execute("SELECT id FROM log WHERE event = %s", (event,))}


BLOCKED_TASK = r"""
import json, sys
from datetime import datetime
import airflow.settings
from airflow.sdk.execution_time.supervisor import block_orm_access
block_orm_access()   # what the Task SDK's supervisor does before a scheduled task's code runs
from cryptoflow import maintenance
print(json.dumps(maintenance.clean_metadata_db(datetime.fromisoformat(sys.argv[1]))))
"""


def run_as_scheduled_task(cutoff: datetime, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_AIRFLOW_METADATA_DB"}
    env.update(PYTHONPATH=str(ROOT / "plugins"), **env_changes)
    return subprocess.run([sys.executable, "-c", BLOCKED_TASK, cutoff.isoformat()], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_db_clean_from_a_task_without_metadata_db_access_uses_the_connection(pg_cluster, metadata):
    old = add_audit_log(metadata, "maintenance_test_blocked", LONG_AGO)
    recent = add_audit_log(metadata, "maintenance_test_blocked", AS_OF + timedelta(days=1))

    missing = run_as_scheduled_task(AS_OF)
    assert missing.returncode != 0
    assert "define the connection 'airflow_metadata_db'" in missing.stderr
    assert "AIRFLOW_CONN_AIRFLOW_METADATA_DB=" in missing.stderr
    assert audit_log_ids(metadata, "maintenance_test_blocked") == {old, recent}

    password = "pw-should-never-show-1234"
    unreachable = run_as_scheduled_task(
        AS_OF, AIRFLOW_CONN_AIRFLOW_METADATA_DB=f"postgresql://nobody:{password}@127.0.0.1:1/airflow_meta")
    assert unreachable.returncode != 0 and "airflow db clean failed" in unreachable.stderr
    assert password not in unreachable.stdout + unreachable.stderr

    done = run_as_scheduled_task(AS_OF, AIRFLOW_CONN_AIRFLOW_METADATA_DB=pg_cluster.dsn("airflow_meta"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"clean_before": AS_OF.isoformat()}
    assert audit_log_ids(metadata, "maintenance_test_blocked") == {recent}


# --- the DAG, end to end -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "maintenance_weekly.py"))
    assert bag.import_errors == {}
    dag = bag.dags["maintenance_weekly"]
    dag.deadline = None   # Airflow 3.3.2 bug #73428: dag.test() crashes on DAGs with deadline= after success
    return dag


def test_dag_shape_and_params(dag):
    assert {t.task_id for t in dag.tasks} == {"prune_bookkeeping", "clean_airflow_metadata", "analyze_tables"}
    assert dag.get_task("prune_bookkeeping").downstream_task_ids == {"analyze_tables"}
    assert dag.params["retention_days"] == {"raw_responses": 30, "pulls": 180, "rejected_records": 180,
                                            "candle_refreshes": 180, "candle_reconciliation": 180,
                                            "check_results": 90, "alert_incidents": 180}
    assert dag.params["metadata_retention_days"] == 90


def backdate_run(metadata_conn, run_id: str, to: datetime) -> None:
    """Make a finished maintenance_weekly run look as if it ran at ``to`` (its run, task instances, XComs)."""
    metadata_conn.execute("UPDATE dag_run SET start_date = %s, end_date = %s WHERE run_id = %s AND dag_id = %s",
                          (to, to, run_id, "maintenance_weekly"))
    metadata_conn.execute("UPDATE task_instance SET start_date = %s, end_date = %s WHERE run_id = %s AND dag_id = %s",
                          (to, to, run_id, "maintenance_weekly"))
    metadata_conn.execute("UPDATE xcom SET timestamp = %s WHERE run_id = %s AND dag_id = %s",
                          (to, run_id, "maintenance_weekly"))


def run_rows(metadata_conn, run_id: str) -> dict[str, int]:
    counts = {}
    for table in ("dag_run", "task_instance", "xcom"):
        counts[table] = metadata_conn.execute(
            f"SELECT count(*) FROM {table} WHERE dag_id = 'maintenance_weekly' AND run_id = %s",
            (run_id,)).fetchone()[0]
    return counts


@pytest.fixture
def execution_api(monkeypatch, pg_cluster, airflow_db):
    """A real Airflow API server, so dag.test(use_executor=True) runs tasks as the scheduler does: in processes
    forked by the Task SDK's supervisor, whose environment has no metadata DB access."""
    from cryptoflow.local_postgres import free_port

    port = free_port()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{port}/execution/")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "maintenance-test-jwt-secret-" + "0" * 64)
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_METADATA_DB", pg_cluster.dsn("airflow_meta"))
    log = Path(os.environ["AIRFLOW_HOME"]) / "maintenance-test-api-server.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1",
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API server did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(1)
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def task_log(run_id: str, task_id: str) -> str:
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs" / "dag_id=maintenance_weekly" / f"run_id={run_id}"
    return "\n".join(p.read_text() for p in sorted((logs / f"task_id={task_id}").glob("attempt=*.log")))


def test_weekly_run_prunes_the_warehouse_and_cleans_airflow_metadata(dag, warehouse, metadata, execution_api):
    earlier = dag.test(logical_date=EARLIER_LOGICAL)   # tasks in-process: the metadata DB URL is in the environment
    assert earlier.state == "success"
    before = run_rows(metadata, earlier.run_id)
    assert before["dag_run"] == 1 and before["task_instance"] == 3 and before["xcom"] > 0
    backdate_run(metadata, earlier.run_id, LONG_AGO)
    old_log = add_audit_log(metadata, "maintenance_test_dag", LONG_AGO)
    recent_log = add_audit_log(metadata, "maintenance_test_dag", AS_OF + timedelta(days=1))
    rows = seed_warehouse(warehouse)

    run = dag.test(logical_date=LOGICAL, use_executor=True)   # as scheduled: through the executor and supervisor
    assert run.state == "success"
    assert run.data_interval_end == AS_OF
    assert "metadata database from the connection 'airflow_metadata_db'" in task_log(run.run_id,
                                                                                     "clean_airflow_metadata")
    check_pruned(warehouse, rows)
    assert run_rows(metadata, earlier.run_id) == {"dag_run": 0, "task_instance": 0, "xcom": 0}
    assert run_rows(metadata, run.run_id) == {**before, "dag_run": 1}
    assert audit_log_ids(metadata, "maintenance_test_dag") == {recent_log}
    assert old_log not in audit_log_ids(metadata, "maintenance_test_dag")
    deleted = metadata.execute(
        """SELECT value FROM xcom WHERE dag_id = 'maintenance_weekly' AND run_id = %s AND task_id = 'prune_bookkeeping'
                                   AND key = 'deleted'""", (run.run_id,)).fetchone()[0]
    assert deleted == {"raw_responses": 2, "pulls": 2, "rejected_records": 1, "candle_refreshes": 1,
                       "candle_reconciliation": 1, "check_results": 2, "alert_incidents": 1}

    again = dag.test(logical_date=LOGICAL)   # a re-run of the same interval deletes nothing more
    assert again.state == "success"
    check_pruned(warehouse, rows)
    assert audit_log_ids(metadata, "maintenance_test_dag") == {recent_log}
