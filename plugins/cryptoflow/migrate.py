"""Versioned warehouse migrations: ``include/sql/migrations/NNNN_name.sql``, applied in order, each once.

Applied versions are recorded in ``schema_migrations`` with the file's checksum; an applied file that was edited
afterwards is an error (write a new migration instead). Safe to run concurrently (advisory lock) and repeatedly.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from pathlib import Path

import psycopg

from cryptoflow.paths import MIGRATIONS_DIR

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_ID = 72_410_001


class MigrationError(RuntimeError):
    pass


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_snake_case.sql")
        files.append((match.group(1), path))
    versions = [v for v, _ in files]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"duplicate migration numbers in {directory}: {versions}")
    return files


def apply_migrations(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations on ``conn``; returns the file names applied."""
    applied_now = []
    conn.autocommit = False
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for version, path in migration_files(directory):
            sql = path.read_text()
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in done:
                if done[version] != checksum:
                    raise MigrationError(
                        f"{path.name} was changed after it was applied; add a new migration instead of editing it")
                continue
            log.info("applying %s", path.name)
            try:
                conn.execute(sql)
            except psycopg.Error as exc:
                raise MigrationError(f"{path.name} failed: {exc}") from exc
            conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                         (version, path.name, checksum))
            applied_now.append(path.name)
    return applied_now


def warehouse_dsn(conn_id: str = "warehouse") -> str:
    """The DSN of an Airflow connection (env ``AIRFLOW_CONN_<ID>`` or the metadata DB)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook.get_connection(conn_id)
    return psycopg.conninfo.make_conninfo(
        host=conn.host or "localhost", port=conn.port or 5432, user=conn.login or None,
        password=conn.password or None, dbname=conn.schema or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="libpq connection string; default: the Airflow connection 'warehouse'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dsn = args.dsn or warehouse_dsn()
    try:
        with psycopg.connect(dsn) as conn:
            applied = apply_migrations(conn)
    except (MigrationError, psycopg.OperationalError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", warehouse up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
