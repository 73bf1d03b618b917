"""The run log: one ``pulls`` row per task run and dataset, written even when the task fails."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from cryptoflow.hooks.base import CallStats
from cryptoflow.secrets import redact_text


class PullLog:
    def __init__(self, conn: psycopg.Connection):
        self._conn = conn
        self._conn.autocommit = True
        self.id: int | None = None

    def start(self, *, dag_id: str, task_id: str, run_id: str, try_number: int | None, source: str, dataset: str,
              interval_start: datetime | None, interval_end: datetime | None,
              stale_after: timedelta | None) -> int:
        self.id = self._conn.execute(
            """INSERT INTO pulls (dag_id, task_id, run_id, try_number, source, dataset, interval_start, interval_end,
                                  status, stale_after)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'running', %s) RETURNING id""",
            (dag_id, task_id, run_id, try_number, source, dataset, interval_start, interval_end, stale_after),
        ).fetchone()[0]
        return self.id

    def finish(self, status: str, stats: CallStats, *, fetched: int = 0, upserted: int = 0, rejected: int = 0,
               error: str | None = None) -> None:
        self._conn.execute(
            """UPDATE pulls SET status = %s, finished_at = now(), records_fetched = %s, records_upserted = %s,
                   records_rejected = %s, api_calls = %s, cache_hits = %s, retries = %s, http_429s = %s,
                   http_errors = %s, latency_p50_ms = %s, latency_p95_ms = %s, latency_p99_ms = %s, error = %s
               WHERE id = %s""",
            (status, fetched, upserted, rejected, stats.api_calls, stats.cache_hits, stats.retries, stats.http_429s,
             stats.http_errors, stats.percentile(50), stats.percentile(95), stats.percentile(99),
             redact_text(error)[:4000] if error else None, self.id),
        )
