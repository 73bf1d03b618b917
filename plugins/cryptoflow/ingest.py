"""Fetch, validate, load and log one dataset for one data interval.

A source describes each dataset as a ``Dataset`` subclass: the tables it writes and ``collect(ctx)``, which fetches
through ``ctx.hook``, validates through ``ctx.rejections`` and returns rows per table. ``run_dataset`` does the rest:
the ``pulls`` row, the reject threshold, and one warehouse transaction for the whole interval, so a failure leaves
nothing half-written and a re-run leaves the tables exactly as one run would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import psycopg
from airflow.sdk.exceptions import AirflowFailException

from cryptoflow import warehouse
from cryptoflow.hooks.base import CryptoflowHttpHook, MissingApiKey
from cryptoflow.raw_store import RawStore
from cryptoflow.runlog import PullLog
from cryptoflow.secrets import redact_text
from cryptoflow.validation import DEFAULT_MAX_REJECT_RATIO, Rejections, TooManyRejected
from cryptoflow.warehouse import TableSpec

log = logging.getLogger(__name__)


@dataclass
class IngestContext:
    """What a dataset's ``collect`` works with: the interval, the source hook, and where rejects go."""

    interval_start: datetime
    interval_end: datetime
    hook: CryptoflowHttpHook
    rejections: Rejections = field(default_factory=Rejections)
    dag_id: str = ""
    run_id: str = ""
    task_id: str = ""
    warehouse: psycopg.Connection | None = None   # read-only use in collect (e.g. config tables, prices)
    records_fetched: int | None = None            # set by collect when "fetched" is not what was validated
    state: dict[str, Any] = field(default_factory=dict)   # what collect hands to after_load

    def window(self, lookback: timedelta) -> tuple[datetime, datetime]:
        """``[interval_end - lookback, interval_end)``: the points a time-series dataset (re)loads."""
        return self.interval_end - lookback, self.interval_end


class Dataset:
    """One dataset of a source. Subclasses set the class attributes and implement ``collect``."""

    source: ClassVar[str]
    name: ClassVar[str]
    hook_class: ClassVar[type[CryptoflowHttpHook]]
    tables: ClassVar[tuple[TableSpec, ...]] = ()
    stale_after: ClassVar[timedelta] = timedelta(hours=2)
    max_reject_ratio: ClassVar[float] = DEFAULT_MAX_REJECT_RATIO

    def collect(self, ctx: IngestContext) -> dict[str, list[dict[str, Any]]]:
        raise NotImplementedError

    def after_load(self, ctx: IngestContext, cur: psycopg.Cursor, upserted: dict[str, int]) -> None:
        """Runs inside the load transaction, after the upserts (derived tables, alerts bookkeeping)."""

    @property
    def label(self) -> str:
        return f"{self.source}.{self.name}"


@dataclass
class IngestResult:
    source: str
    dataset: str
    status: str
    fetched: int = 0
    upserted: int = 0
    rejected: int = 0
    api_calls: int = 0
    cache_hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_dataset(
    dataset: Dataset,
    interval_start: datetime | None,
    interval_end: datetime | None,
    *,
    dag_id: str = "",
    task_id: str = "",
    run_id: str = "",
    try_number: int | None = None,
    conn_id: str | None = None,
    warehouse_conn_id: str = warehouse.WAREHOUSE_CONN_ID,
) -> IngestResult:
    if interval_start is None or interval_end is None:
        raise AirflowFailException(
            f"{dataset.label}: this run has no data interval (a manual trigger without a logical date?). Trigger it "
            "with a logical date, or backfill the date range.")
    if interval_end <= interval_start:
        raise AirflowFailException(f"{dataset.label}: empty data interval [{interval_start}, {interval_end})")

    # bookkeeping (run log, raw landing) commits on its own connection, so it survives a failed load
    log_conn = warehouse.connect(warehouse_conn_id)
    load_conn = warehouse.connect(warehouse_conn_id)
    pull = PullLog(log_conn)
    hook = dataset.hook_class(http_conn_id=conn_id) if conn_id else dataset.hook_class()
    hook.raw_store = RawStore(log_conn, dag_id=dag_id, run_id=run_id)
    hook.dataset = dataset.name
    ctx = IngestContext(interval_start=interval_start, interval_end=interval_end, hook=hook, dag_id=dag_id,
                        run_id=run_id, task_id=task_id, warehouse=load_conn)
    pull.start(dag_id=dag_id, task_id=task_id, run_id=run_id, try_number=try_number, source=dataset.source,
               dataset=dataset.name, interval_start=interval_start, interval_end=interval_end,
               stale_after=dataset.stale_after)
    result = IngestResult(source=dataset.source, dataset=dataset.name, status="running")
    try:
        if hook.requires_api_key:
            hook.require_api_key()
        rows_by_table = dataset.collect(ctx)
        load_conn.rollback()  # end any read transaction collect opened
        result.fetched = ctx.records_fetched if ctx.records_fetched is not None else ctx.rejections.seen
        result.rejected = len(ctx.rejections)
        try:
            ctx.rejections.check_ratio(max(result.fetched, result.rejected), dataset.max_reject_ratio, dataset.label)
        except TooManyRejected:
            with load_conn.transaction(), load_conn.cursor() as cur:
                _store_rejections(cur, dataset, ctx)
            raise
        unknown = set(rows_by_table) - {t.name for t in dataset.tables}
        if unknown:
            raise ValueError(f"{dataset.label} returned rows for undeclared table(s) {sorted(unknown)}")
        upserted: dict[str, int] = {}
        with load_conn.transaction(), load_conn.cursor() as cur:
            for spec in dataset.tables:
                upserted[spec.name] = warehouse.upsert_rows(
                    cur, spec.name, rows_by_table.get(spec.name, []), spec.key, spec.update_columns)
            _store_rejections(cur, dataset, ctx)
            dataset.after_load(ctx, cur, upserted)
        result.upserted = sum(upserted.values())
        result.status = "success"
        log.info("%s [%s, %s): fetched %d, upserted %s, rejected %d, %d API calls, %d from cache", dataset.label,
                 interval_start, interval_end, result.fetched, upserted, result.rejected, hook.stats.api_calls,
                 hook.stats.cache_hits)
        pull.finish("success", hook.stats, fetched=result.fetched, upserted=result.upserted, rejected=result.rejected)
    except MissingApiKey as exc:
        result.status = "skipped"
        pull.finish("skipped", hook.stats, error=str(exc))
        log.warning("%s", exc)
        raise
    except Exception as exc:
        result.status = "failed"
        pull.finish("failed", hook.stats, fetched=result.fetched, rejected=result.rejected,
                    error=f"{type(exc).__name__}: {redact_text(exc)}")
        raise
    finally:
        result.api_calls, result.cache_hits = hook.stats.api_calls, hook.stats.cache_hits
        for conn in (load_conn, log_conn):
            conn.close()
    return result


def _store_rejections(cur: psycopg.Cursor, dataset: Dataset, ctx: IngestContext) -> None:
    warehouse.replace_rejected_records(
        cur, source=dataset.source, dataset=dataset.name, interval_start=ctx.interval_start,
        interval_end=ctx.interval_end, rejected=ctx.rejections.items, dag_id=ctx.dag_id, run_id=ctx.run_id)
