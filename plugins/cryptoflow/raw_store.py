"""Raw landing: every API response as received, in ``raw_responses``; it doubles as the request cache."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import psycopg

from cryptoflow.warehouse import as_jsonb


class RawStore:
    """Writes each response on its own autocommit connection, so the record of what an API said survives a
    failed load. Thread-safe."""

    def __init__(self, conn: psycopg.Connection, dag_id: str | None = None, run_id: str | None = None):
        self._conn = conn
        self._conn.autocommit = True
        self._lock = threading.Lock()
        self.dag_id = dag_id
        self.run_id = run_id

    def store(self, *, source: str, dataset: str | None, conn_id: str, method: str, url: str, params: dict,
              request_key: str, status: int | None, body: Any, body_text: str | None,
              elapsed_ms: float) -> datetime:
        size = len(body_text.encode()) if body_text is not None else None
        with self._lock:
            return self._conn.execute(
                """INSERT INTO raw_responses (source, dataset, conn_id, method, url, params, request_key, status,
                                              elapsed_ms, bytes, body, body_text, dag_id, run_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   RETURNING fetched_at""",
                (source, dataset, conn_id, method, url, as_jsonb(params), request_key, status, elapsed_ms, size,
                 as_jsonb(body) if body is not None else None, body_text, self.dag_id, self.run_id),
            ).fetchone()[0]

    def lookup(self, request_key: str, fetched_at_or_after: datetime) -> tuple[Any, datetime] | None:
        """The newest 200 JSON answer to this request received at or after the given time, if any."""
        with self._lock:
            row = self._conn.execute(
                """SELECT body, fetched_at FROM raw_responses
                   WHERE request_key = %s AND status = 200 AND body IS NOT NULL AND fetched_at >= %s
                   ORDER BY fetched_at DESC LIMIT 1""",
                (request_key, fetched_at_or_after),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def close(self) -> None:
        self._conn.close()
