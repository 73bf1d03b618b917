"""Test harness: a throwaway PostgreSQL cluster (Airflow metadata + warehouse) on a free port, for the session.

The environment is set in ``pytest_configure``, before anything imports Airflow, so Airflow reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
_state: dict = {}


def pytest_configure(config):
    sys.path.insert(0, str(ROOT / "plugins"))
    from cryptoflow.local_postgres import LocalPostgres, free_port

    base = Path(tempfile.mkdtemp(prefix="cryptoflow-test-"))
    os.chmod(base, 0o755)
    cluster = LocalPostgres(datadir=base / "pg", port=free_port())
    cluster.init()
    cluster.start(fast=True)
    cluster.wait_ready()
    for db in ("airflow_meta", "warehouse"):
        cluster.create_database(db)
    _state.update(base=base, cluster=cluster)

    airflow_home = base / "airflow"
    airflow_home.mkdir()
    os.environ.update(
        {
            "CRYPTOFLOW_HOME": str(ROOT),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": cluster.dsn("airflow_meta").replace(
                "postgresql://", "postgresql+psycopg://"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # dag.test() only runs DAGs of a configured bundle: the product's, and the test suite's own
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([
                {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                 "kwargs": {"path": str(ROOT / "dags")}},
                {"name": "test-dags", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                 "kwargs": {"path": str(ROOT / "tests" / "dags")}},
            ]),
            "AIRFLOW_CONN_WAREHOUSE": cluster.dsn("warehouse"),
            "WAREHOUSE_DSN": cluster.dsn("warehouse"),
            "TEST_PG_ADMIN_DSN": cluster.dsn("postgres"),
        }
    )
    # API keys from the developer's own .env must never reach the tests
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CONN_") and k != "AIRFLOW_CONN_WAREHOUSE"]:
        del os.environ[key]

    import psycopg

    from cryptoflow.migrate import apply_migrations

    with psycopg.connect(cluster.dsn("warehouse")) as conn:
        apply_migrations(conn)


def pytest_unconfigure(config):
    if "airflow.settings" in sys.modules:
        sys.modules["airflow.settings"].dispose_orm()   # close Airflow's pool before its database goes away
    cluster = _state.get("cluster")
    if cluster is not None:
        cluster.destroy()
    if _state.get("base"):
        shutil.rmtree(_state["base"], ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster():
    return _state["cluster"]


@pytest.fixture(scope="session")
def warehouse_dsn(pg_cluster) -> str:
    return pg_cluster.dsn("warehouse")


def _truncate_all(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@pytest.fixture
def warehouse(warehouse_dsn):
    """A psycopg connection to an empty, migrated warehouse (autocommit)."""
    import psycopg

    _truncate_all(warehouse_dsn)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database, migrated once per session (needed by dag.test())."""
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    result = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return True


@pytest.fixture
def replay_server():
    """A ReplayServer of recorded API responses on 127.0.0.1 and a free port, stopped after the test."""
    from cryptoflow.replay import ReplayServer

    with ReplayServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
def alert_webhook(monkeypatch, replay_server):
    """The replay server, answering the alert webhook (the `alerts_webhook` connection) at /hooks/alerts."""
    replay_server.add("/hooks/alerts", json={"ok": True}, method="POST")
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": replay_server.url, "extra": {"endpoint": "/hooks/alerts"}}))
    return replay_server
