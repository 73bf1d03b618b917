"""``artemis.metrics``: the assets x metrics matrix into ``metrics``, and the Artemis -> DefiLlama links into
``entity_map``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import psycopg

from cryptoflow.ingest import Dataset, IngestContext
from cryptoflow.paths import read_sql
from cryptoflow.sources.artemis.config import ArtemisConfig, load_config
from cryptoflow.sources.artemis.fetch import (
    Parsed,
    Problem,
    Request,
    day_window,
    month_windows,
    parse_answer,
    plan_batches,
)
from cryptoflow.sources.artemis.hook import ArtemisHook
from cryptoflow.sources.artemis.models import ArtemisPoint
from cryptoflow.warehouse import TableSpec

log = logging.getLogger(__name__)

SOURCE = "artemis"
ENTITY_EVIDENCE = "include/config/artemis_entity_map.csv"


class ArtemisMetrics(Dataset):
    """Each run (re)loads the matrix's pairs for the ``lookback_days`` whole UTC days before its interval end.

    Config paths: the constructor's arguments, else the ``ARTEMIS_*`` environment variables, else
    ``include/config/`` (see ``config.py``).
    """

    source = SOURCE
    name = "metrics"
    hook_class = ArtemisHook
    tables = (TableSpec("metrics", key=("source", "asset", "metric", "ts")),
              TableSpec("entity_map", key=("source", "source_id")))
    stale_after = timedelta(hours=28)   # daily at 00:05, plus a few hours of grace
    fill_wait_s: ClassVar[float] = 600.0

    def __init__(self, lookback_days: int = 3, matrix_path: str | os.PathLike | None = None,
                 excluded_path: str | os.PathLike | None = None,
                 entity_map_path: str | os.PathLike | None = None) -> None:
        if lookback_days < 1:
            raise ValueError("lookback_days must be at least 1")
        self.lookback_days = lookback_days
        self.matrix_path, self.excluded_path, self.entity_map_path = matrix_path, excluded_path, entity_map_path

    def load_config(self) -> ArtemisConfig:
        return load_config(self.matrix_path, self.excluded_path, self.entity_map_path)

    def requests_for(self, config: ArtemisConfig, hook: ArtemisHook, interval_end: datetime) -> list[Request]:
        first, end = day_window(interval_end, self.lookback_days)
        batches = plan_batches(config.matrix, hook.symbols_per_request, hook.metrics_per_request)
        return [Request(batch, window) for window in month_windows(first, end) for batch in batches]

    def collect(self, ctx: IngestContext) -> dict[str, list[dict[str, Any]]]:
        config = self.load_config()
        hook: ArtemisHook = ctx.hook  # type: ignore[assignment]
        first, end = day_window(ctx.interval_end, self.lookback_days)
        wanted = config.matrix.pair_set
        requests = self.requests_for(config, hook, ctx.interval_end)
        if config.matrix.excluded_columns:
            log.info("artemis: not pulling excluded metric column(s) %s", ", ".join(config.matrix.excluded_columns))
        log.info("artemis: %d pairs of %d symbols, days [%s, %s), %d request(s)", len(wanted),
                 len(config.matrix.pairs), first, end, len(requests))

        def fetch(request: Request) -> Parsed:
            with _fill_lock(ctx.warehouse, request, self.fill_wait_s):
                body = hook.get_json(request.endpoint, request.params, serves_until=ctx.interval_end)
            return parse_answer(body, request, wanted, first, end)

        answers = hook.map_concurrently(fetch, requests)
        problems: dict[tuple, Problem] = {}
        records: list[dict[str, Any]] = []
        for parsed in answers:
            records.extend(parsed.records)
            for problem in parsed.problems:
                problems.setdefault(problem.key, problem)   # the same problem in both months of a run counts once
        for problem in problems.values():
            ctx.rejections.add(problem.record, problem.reason)
        points = ctx.rejections.validate(records, ArtemisPoint)
        ctx.records_fetched = ctx.rejections.seen + len(problems)
        if problems:
            log.warning("artemis: %d pair(s) or symbol(s) without data, e.g. %s", len(problems),
                        next(iter(problems.values())).reason)
        metrics = [{"source": SOURCE, "asset": p.symbol, "metric": p.metric,
                    "ts": datetime(p.date.year, p.date.month, p.date.day, tzinfo=UTC), "value": p.val}
                   for p in points]
        links = [{"source": SOURCE, "source_id": link.artemis_id, "entity": link.defillama_slug, "kind": link.kind,
                  "evidence": f"{ENTITY_EVIDENCE}: {link.note}" if link.note else ENTITY_EVIDENCE}
                 for link in config.entity_links]
        # handed to after_load on the run's own context (the Dataset instance is shared by concurrent runs)
        ctx.state["linked_ids"] = [link.artemis_id for link in config.entity_links]
        return {"metrics": metrics, "entity_map": links}

    def after_load(self, ctx: IngestContext, cur: psycopg.Cursor, upserted: dict[str, int]) -> None:
        # The file is the whole truth about Artemis links: a row deleted from it goes from entity_map too.
        cur.execute(read_sql("artemis/delete_stale_entity_links.sql"),
                    {"source": SOURCE, "kept": ctx.state["linked_ids"]})
        if cur.rowcount:
            log.info("artemis: removed %d entity_map link(s) no longer in the file", cur.rowcount)


def _lock_id(request: Request) -> int:
    canonical = json.dumps([SOURCE, request.endpoint, request.params], sort_keys=True)
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def _fill_lock(conn: psycopg.Connection | None, request: Request, max_wait_s: float):
    """Only one run at a time fetches a given month request: concurrent runs of a backfill wait for the first one
    and then get its answer from the raw cache instead of asking Artemis again. A session-level advisory lock,
    released at the end (or when the connection dies); after ``max_wait_s`` a run fetches anyway."""
    if conn is None:
        yield
        return
    lock_id = _lock_id(request)
    deadline = time.monotonic() + max_wait_s
    acquired = False
    while True:
        acquired = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()[0]
        if acquired or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if not acquired:
        log.warning("artemis: another run held the fetch lock of %s for %.0f s; fetching anyway", request.label,
                    max_wait_s)
    try:
        yield
    finally:
        if acquired:
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
            except psycopg.Error as exc:   # the lock goes with the connection anyway
                log.warning("artemis: could not release the fetch lock of %s: %s", request.label, exc)
