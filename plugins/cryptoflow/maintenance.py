"""Retention for the warehouse's own bookkeeping tables."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg

from cryptoflow.paths import read_sql

log = logging.getLogger(__name__)

DEFAULT_RETENTION = {
    "raw_responses": timedelta(days=30),
    "pulls": timedelta(days=180),
    "rejected_records": timedelta(days=180),
}


def prune(conn: psycopg.Connection, as_of: datetime, retention: dict[str, timedelta] | None = None) -> dict[str, int]:
    """Delete rows older than their table's retention, counted back from ``as_of`` (the run's interval end,
    never "now", so a re-run of the same interval deletes the same rows)."""
    retention = {**DEFAULT_RETENTION, **(retention or {})}
    deleted = {}
    with conn.transaction():
        for table in ("raw_responses", "pulls", "rejected_records"):
            cutoff = as_of - retention[table]
            cur = conn.execute(read_sql(f"maintenance/prune_{table}.sql"), {"cutoff": cutoff})
            deleted[table] = cur.rowcount
            log.info("%s: deleted %d rows older than %s", table, cur.rowcount, cutoff)
    return deleted


def analyze(conn: psycopg.Connection, tables: tuple[str, ...] = ("metrics", "trades", "candles", "raw_responses")):
    conn.autocommit = True
    for table in tables:
        conn.execute(f'ANALYZE "{table}"')
