"""DAG policy (the Astronomer pattern), per DAG file: imports, ids, serialisation, defaults, and parse-time I/O."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
DESIGN_DAG_IDS = {"defillama_hourly", "defillama_daily", "artemis_daily", "helius_5min", "birdeye_5min", "candles",
                  "maintenance_weekly"}
OPERATIONS_DAG_IDS = {"watchdog"}   # beyond DESIGN.md's table
NO_CATCHUP_DAG_IDS = {"maintenance_weekly", "watchdog"}   # about the present, not about data intervals

# Runs in a fresh interpreter: imports Airflow first (the DAG processor has it loaded), then forbids sockets,
# database drivers and Variables while the DAG file is executed.
PARSE_PROBE = r"""
import json, runpy, sys, time
import airflow.sdk
events = []
def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "sqlite3.connect"):
        events.append(f"{event} {args[1] if len(args) > 1 else args}")
def forbidden(what):
    def _raise(*a, **k):
        events.append(what)
        raise RuntimeError(f"{what} at parse time")
    return _raise
import psycopg, psycopg2
psycopg.connect = forbidden("psycopg.connect")
psycopg2.connect = forbidden("psycopg2.connect")
airflow.sdk.Variable.get = forbidden("Variable.get")
sys.addaudithook(audit)
from airflow.sdk.definitions._internal.contextmanager import DagContext
DagContext.current_autoregister_module_name = "dag_under_probe"
started = time.perf_counter()
namespace = runpy.run_path(sys.argv[1], run_name="dag_under_probe")
elapsed = time.perf_counter() - started
found = {v.dag_id for v in namespace.values() if isinstance(v, airflow.sdk.DAG)}
found |= {dag.dag_id for dag, _ in DagContext.autoregistered_dags}
dags = sorted(found)
print(json.dumps({"io": events, "dags": dags, "seconds": elapsed}))
"""


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def dags_in(dagbag, path):
    return [d for d in dagbag.dags.values() if Path(d.fileloc).resolve() == path.resolve()]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_defines_one_design_dag(dagbag, path):
    dags = dags_in(dagbag, path)
    assert [d.dag_id for d in dags] == [path.stem], "one DAG per file, named like the file"
    assert path.stem in DESIGN_DAG_IDS | OPERATIONS_DAG_IDS


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_policy(dagbag, path):
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.serialization.serialized_objects import DagSerialization

    from cryptoflow.alerts import task_success_resolve

    for dag in dags_in(dagbag, path):
        DagSerialization.to_dict(dag)
        assert dag.tags and "cryptoflow" in dag.tags
        assert dag.doc_md, "doc_md (shown in the UI) explains what the DAG keeps up to date"
        assert dag.max_active_runs is not None and dag.max_active_runs <= 16
        assert dag.deadline, "every DAG has a deadline alert"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{task.task_id} has no owner"
            assert task.retries >= 2, f"{task.task_id} retries {task.retries}"
            assert task.on_failure_callback, f"{task.task_id} has no failure alert"
            assert task_success_resolve in (task.on_success_callback or []), \
                f"{task.task_id} does not resolve its failure incident"
        timetable = dag.timetable
        if dag.dag_id != "candles":
            assert isinstance(timetable, CronDataIntervalTimetable), "scheduled DAGs use data intervals"
        else:
            assert "DataInterval" in type(getattr(timetable, "timetable", timetable)).__name__ or \
                   "Asset" in type(timetable).__name__


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_catchup_is_set_on_purpose(dagbag, path):
    # Airflow 3 defaults to catchup=False, so True proves it was set; housekeeping needs no catch-up of missed weeks,
    # the watchdog none of missed checks.
    for dag in dags_in(dagbag, path):
        assert dag.catchup is (dag.dag_id not in NO_CATCHUP_DAG_IDS)
        assert dag.start_date is not None and dag.start_date.tzinfo is not None


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_touches_no_network_database_or_variable(path):
    result = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["io"] == []
    assert report["dags"] == [path.stem]


@pytest.mark.parametrize("body, expected", [
    ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=0.1)\nexcept OSError:\n    pass\n",
     "socket.connect"),
    ("from airflow.sdk import Variable\ntry:\n    Variable.get('x')\nexcept RuntimeError:\n    pass\n", "Variable.get"),
    ("import psycopg\ntry:\n    psycopg.connect('')\nexcept RuntimeError:\n    pass\n", "psycopg.connect"),
])
def test_the_parse_probe_catches_io(tmp_path, body, expected):
    bad = tmp_path / "bad_dag.py"
    bad.write_text(body)
    result = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(bad)], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert any(event.startswith(expected) for event in report["io"])


def test_tasks_that_write_trades_update_the_trades_asset(dagbag):
    from cryptoflow.candles.assets import TRADES_ASSET_NAME

    task = dagbag.dags["helius_5min"].task_dict["ingest_transactions"]
    assert [getattr(o, "name", None) for o in task.outlets] == [TRADES_ASSET_NAME]
