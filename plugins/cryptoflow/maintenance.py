"""Weekly housekeeping: retention of the warehouse's bookkeeping tables, Airflow's ``airflow db clean``, ANALYZE.

Every cutoff is counted back from the run's data interval end, never from "now", so a re-run of the same interval
deletes the same rows (and nothing more).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from cryptoflow.paths import read_sql
from cryptoflow.secrets import redact, register_secret

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    column: str                     # the row's time, compared with the cutoff
    days: int                       # default retention
    sql_file: str = "maintenance/prune_older_than.sql"


# table -> rule. A table that does not exist (yet) when the task runs is skipped, so a rule can be added here
# together with the migration that creates its table.
RETENTION: dict[str, Retention] = {
    "raw_responses": Retention("fetched_at", 30),
    "pulls": Retention("started_at", 180, "maintenance/prune_pulls.sql"),
    "rejected_records": Retention("rejected_at", 180),
    "candle_refreshes": Retention("started_at", 180),
    "candle_reconciliation": Retention("window_end", 180),
    "check_results": Retention("checked_at", 90, "maintenance/prune_check_results.sql"),
    "alert_incidents": Retention("resolved_at", 180),   # open incidents (resolved_at NULL) are never deleted
}
METADATA_RETENTION_DAYS = 90
METADATA_CONN_ID = "airflow_metadata_db"

# Tables whose planner statistics matter most; the ones that do not exist are skipped.
ANALYZE_TABLES = (
    "trades", "candles", "metrics", "raw_responses", "pulls", "rejected_records", "token_transfers",
    "wallet_transactions", "whale_movements", "pools", "pool_daily_snapshots", "protocol_daily_snapshots",
    "candles_dirty", "candle_refreshes", "candle_reconciliation", "check_results",
)

# What Airflow's task supervisor puts in a task's environment instead of the metadata DB's URL.
_BLOCKED_DB_URL = "airflow-db-not-allowed"


class MaintenanceError(RuntimeError):
    pass


def env_key(table: str) -> str:
    return f"CRYPTOFLOW_RETENTION_{table.upper()}_DAYS"


def _days(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise MaintenanceError(f"{what} must be a whole number of days >= 1, got {value!r}")
    try:
        days = int(str(value).strip())
    except ValueError:
        raise MaintenanceError(f"{what} must be a whole number of days >= 1, got {value!r}") from None
    if days < 1 or str(value).strip() != str(days):
        raise MaintenanceError(f"{what} must be a whole number of days >= 1, got {value!r}")
    return days


def default_retention_days(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """table -> days: ``CRYPTOFLOW_RETENTION_<TABLE>_DAYS`` where set, else the built-in default."""
    environ = os.environ if environ is None else environ
    return {table: _days(environ[env_key(table)], env_key(table)) if environ.get(env_key(table)) else rule.days
            for table, rule in RETENTION.items()}


def default_metadata_retention_days(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    key = env_key("airflow_metadata")
    return _days(environ[key], key) if environ.get(key) else METADATA_RETENTION_DAYS


def resolve_retention(overrides: Mapping[str, object] | None) -> dict[str, int]:
    """The retention of every table: ``overrides`` (a run's params) over the defaults. Unknown tables are errors."""
    unknown = sorted(set(overrides or {}) - set(RETENTION))
    if unknown:
        raise MaintenanceError(f"no retention rule for table(s) {', '.join(unknown)}; "
                               f"tables with one: {', '.join(RETENTION)}")
    days = default_retention_days()
    for table, value in (overrides or {}).items():
        days[table] = _days(value, f"retention of {table}")
    return days


def _existing_columns(conn: psycopg.Connection) -> dict[str, set[str]]:
    return {name: set(columns) for name, columns in conn.execute(read_sql("maintenance/table_columns.sql"))}


def prune(conn: psycopg.Connection, as_of: datetime, retention_days: Mapping[str, object] | None = None
          ) -> dict[str, int]:
    """Delete the rows older than their table's retention counted back from ``as_of`` (the run's interval end).

    Returns table -> rows deleted, for the tables that exist. One transaction per table.
    """
    days = resolve_retention(retention_days)
    columns = _existing_columns(conn)
    deleted: dict[str, int] = {}
    for table, rule in RETENTION.items():
        if table not in columns:
            log.info("%s: no such table here, skipped", table)
            continue
        if rule.column not in columns[table]:
            raise MaintenanceError(f"retention rule for {table} uses column {rule.column!r}, which the table lacks; "
                                   f"fix RETENTION in {__name__}")
        cutoff = as_of - timedelta(days=days[table])
        statement = sql.SQL(read_sql(rule.sql_file)).format(table=sql.Identifier(table),
                                                            column=sql.Identifier(rule.column))
        with conn.transaction():
            deleted[table] = conn.execute(statement, {"cutoff": cutoff}).rowcount
        log.info("%s: deleted %d rows with %s before %s (%d days)", table, deleted[table], rule.column,
                 cutoff.isoformat(), days[table])
    return deleted


def candles_dirty_backlog(conn: psycopg.Connection, as_of: datetime) -> dict:
    """Rows waiting in the candles change log: reported, never pruned (the candles DAG consumes them).

    Rows changed more than an hour before ``as_of`` mean the candles DAG is paused or failing: logged as a warning.
    """
    if "candles_dirty" not in _existing_columns(conn):
        return {"rows": 0, "oldest_changed_at": None}
    rows, oldest = conn.execute(read_sql("maintenance/candles_dirty_backlog.sql")).fetchone()
    if oldest is not None and oldest < as_of - timedelta(hours=1):
        log.warning("candles_dirty holds %d rows, the oldest changed at %s: the candles DAG is not consuming them "
                    "(paused or failing?); those candles are stale until it runs", rows, oldest.isoformat())
    return {"rows": rows, "oldest_changed_at": oldest.isoformat() if oldest else None}


def analyze(conn: psycopg.Connection, tables: tuple[str, ...] = ANALYZE_TABLES) -> list[str]:
    """ANALYZE each of ``tables`` that exists; returns the tables analyzed."""
    existing = _existing_columns(conn)
    conn.commit()
    previous, conn.autocommit = conn.autocommit, True
    done = []
    try:
        for table in tables:
            if table in existing:
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
                done.append(table)
    finally:
        conn.autocommit = previous
    log.info("analyzed %s", ", ".join(done))
    return done


def _usable_db_url(value: str | None) -> bool:
    return bool(value) and not value.startswith(_BLOCKED_DB_URL)


def _register_url_password(url: str) -> None:
    from sqlalchemy.engine import make_url

    try:
        register_secret(make_url(url).password)
    except Exception:  # not a URL SQLAlchemy can parse: Airflow itself will say so
        pass


def metadata_db_env(environ: Mapping[str, str] | None = None, conn_id: str = METADATA_CONN_ID) -> dict[str, str]:
    """The environment in which ``airflow db clean`` reaches Airflow's metadata database.

    A task run by the scheduler has no metadata DB access: the Task SDK's supervisor replaces
    ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` in the task's environment. Then the Airflow connection ``conn_id``
    (e.g. ``AIRFLOW_CONN_AIRFLOW_METADATA_DB``) says where it is. Where the variable is still usable (``dag.test()``,
    ``airflow tasks test``), it is used as it is.
    """
    # not the task process's private markers (supervisor sockets, process context): the CLI is a process of its own
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if not k.startswith(("_AIRFLOW", "__AIRFLOW"))}
    current = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if current is None or _usable_db_url(current):
        if current:
            _register_url_password(current)
        return env
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise MaintenanceError(
            f"this task cannot reach Airflow's metadata database (Airflow blocks it for tasks): define the "
            f"connection '{conn_id}' pointing at it, e.g. AIRFLOW_CONN_{conn_id.upper()}="
            f"postgresql://USER:PASSWORD@HOST:5432/airflow in the environment of the scheduler and workers") from None
    if conn.conn_type not in ("postgres", "postgresql"):
        raise MaintenanceError(f"connection '{conn_id}' has type {conn.conn_type!r}; only a PostgreSQL metadata "
                               f"database is supported")
    from sqlalchemy.engine import URL

    log.info("metadata database from the connection '%s' (tasks have no direct access)", conn_id)
    register_secret(conn.password)
    url = URL.create("postgresql+psycopg", username=conn.login or None, password=conn.password or None,
                     host=conn.host or None, port=conn.port or None, database=conn.schema or None)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url.render_as_string(hide_password=False)
    env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    return env


def clean_metadata_db(before: datetime, *, env: Mapping[str, str] | None = None, batch_size: int | None = 10_000,
                      timeout: timedelta = timedelta(minutes=25)) -> dict:
    """``airflow db clean`` of everything older than ``before``, without archive tables, failing on any error.

    Runs the Airflow CLI of this interpreter in a subprocess with ``env`` (default: ``metadata_db_env()``).
    """
    if before.tzinfo is None:
        raise MaintenanceError("clean_metadata_db needs an aware datetime (UTC)")
    command = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp", before.isoformat(),
               "--skip-archive", "--error-on-cleanup-failure", "--yes"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    env = dict(metadata_db_env() if env is None else env)
    log.info("running: %s", " ".join(command[1:]))
    try:
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=timeout.total_seconds())
    except subprocess.TimeoutExpired:
        raise MaintenanceError(f"airflow db clean did not finish in {timeout}: look for locks on the metadata "
                               f"database, or lower the metadata retention to clean less per run") from None
    lines = [redact(line) for line in result.stdout.splitlines() if line.strip()]
    for line in lines:
        log.info("airflow db clean: %s", line)
    if result.returncode != 0:
        raise MaintenanceError(f"airflow db clean failed (exit code {result.returncode}):\n" + "\n".join(lines[-30:]))
    return {"clean_before": before.isoformat()}
