"""Bulk upserts into the warehouse: COPY into a temporary stage, then one INSERT ... ON CONFLICT DO UPDATE.

Batches of new rows skip the stage: they are copied straight into the table, and merged through the stage only when a
key already exists. Rows are dicts keyed by column name. Within a batch, the last row for a key wins. Existing rows
are updated only when
a value changed, so re-loading the same data writes nothing and ``updated_at`` keeps meaning "last changed".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

WAREHOUSE_CONN_ID = "warehouse"
OPTIMISTIC_COPY_MIN_ROWS = 1000
def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_dumps(value: Any) -> str:
    """JSON for PostgreSQL: decimals and datetimes as strings, NaN and infinities (which JSON lacks) as null."""
    try:
        return json.dumps(value, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), default=str, allow_nan=False)


def as_jsonb(value: Any) -> Jsonb:
    """``value`` for a json/jsonb parameter; decimals and datetimes become strings."""
    return Jsonb(value, dumps=json_dumps)


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table a dataset writes: its natural key and, optionally, the columns it may update."""

    name: str
    key: tuple[str, ...]
    update_columns: tuple[str, ...] | None = None   # None: every non-key column given in the rows


def connect(conn_id: str = WAREHOUSE_CONN_ID) -> psycopg.Connection:
    """A new psycopg 3 connection to the warehouse from the Airflow connection ``conn_id``."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    if not isinstance(conn, psycopg.Connection):
        raise RuntimeError("cryptoflow needs psycopg 3 for the warehouse (pip install 'psycopg[binary]')")
    return conn


def _column_types(cur: psycopg.Cursor, table: str) -> dict[str, bool]:
    """Column name -> whether it is json/jsonb, for the columns of ``table``."""
    cur.execute(
        """SELECT a.attname, t.typname IN ('json', 'jsonb')
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped""",
        (table,),
    )
    return dict(cur.fetchall())


def _dedupe(rows: list[dict], key: Sequence[str]) -> list[dict]:
    key_of = itemgetter(*key)
    latest = {key_of(row): row for row in rows}
    return rows if len(latest) == len(rows) else list(latest.values())


def upsert_rows(
    cur: psycopg.Cursor,
    table: str,
    rows: Iterable[dict[str, Any]],
    key: Sequence[str],
    update_columns: Sequence[str] | None = None,
    touch_column: str | None = "updated_at",
) -> int:
    """Upsert ``rows`` into ``table`` by ``key`` inside the caller's transaction.

    Returns the number of rows inserted or changed (rows whose values were already there are not counted).
    """
    rows = list(rows)
    if not rows:
        return 0
    columns = list(rows[0].keys())
    missing = [k for k in key if k not in columns]
    if missing:
        raise ValueError(f"rows for {table} lack key column(s) {missing}")
    rows = _dedupe(rows, key)
    types = _column_types(cur, table)
    unknown = [c for c in columns if c not in types]
    if unknown:
        raise ValueError(f"{table} has no column(s) {unknown}")
    json_columns = {i for i, c in enumerate(columns) if types[c]}
    updates = [c for c in (update_columns if update_columns is not None else columns) if c not in key]

    stage = sql.Identifier(f"_stage_{table}")
    target = sql.Identifier(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))

    first_keys = rows[0].keys()
    if len(columns) > 1 and all(row.keys() == first_keys for row in rows):
        values_of = itemgetter(*columns)
    else:  # rows that leave out optional columns: those are NULL
        def values_of(row):
            return [row.get(c) for c in columns]

    def copy_into(relation: sql.Identifier) -> None:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(relation, cols)) as copy:
            for row in rows:
                values = values_of(row)
                if json_columns:
                    values = [as_jsonb(v) if i in json_columns and v is not None else v for i, v in enumerate(values)]
                copy.write_row(values)

    if len(rows) >= OPTIMISTIC_COPY_MIN_ROWS:
        # New rows (backfills, new event intervals) go straight in by COPY, as fast as PostgreSQL takes them. The
        # first key that already exists aborts the COPY (rolled back to the savepoint) and the rows are merged
        # through the stage instead; in a re-run that happens on the first row, so the attempt costs little.
        try:
            with cur.connection.transaction():
                copy_into(target)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass

    cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA")
                .format(stage, cols, target))
    cur.execute(sql.SQL("TRUNCATE {}").format(stage))
    copy_into(stage)

    conflict = sql.SQL(", ").join(map(sql.Identifier, key))
    if updates:
        assignments = [sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates]
        if touch_column and touch_column in types and touch_column not in columns:
            assignments.append(sql.SQL("{} = now()").format(sql.Identifier(touch_column)))
        old = sql.SQL(", ").join(sql.SQL("{}.{}").format(target, sql.Identifier(c)) for c in updates)
        new = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in updates)
        action = sql.SQL("DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(assignments), old, new)
    else:
        action = sql.SQL("DO NOTHING")
    cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}")
                .format(target, cols, cols, stage, conflict, action))
    return cur.rowcount


def replace_rejected_records(
    cur: psycopg.Cursor,
    *,
    source: str,
    dataset: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
    rejected: Iterable[tuple[str, Any]],
    dag_id: str | None = None,
    run_id: str | None = None,
) -> int:
    """Replace this interval's rejected records of a dataset, so a re-run leaves them as one run would."""
    cur.execute(
        """DELETE FROM rejected_records WHERE source = %s AND dataset = %s
           AND interval_start IS NOT DISTINCT FROM %s AND interval_end IS NOT DISTINCT FROM %s""",
        (source, dataset, interval_start, interval_end),
    )
    rows = [(source, dataset, dag_id, run_id, interval_start, interval_end, reason, as_jsonb(record))
            for reason, record in rejected]
    if rows:
        cur.executemany(
            """INSERT INTO rejected_records (source, dataset, dag_id, run_id, interval_start, interval_end, reason,
                                             record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            rows,
        )
    return len(rows)
