"""The ``candles`` DAG's task bodies, as plain functions of what the run knows (easy to call and test).

A run does two things to ``candles`` (source ``trades``):

1. with a data interval (the 5-minute schedule, a backfill, a re-run, a manual run with a logical date): a rebuild of
   the interval's buckets, so re-running or backfilling any date range rebuilds it from the trades; or, when the
   run's params ``rebuild_from``/``rebuild_to`` are given, a rebuild of that range;
2. always the incremental refresh: every bucket whose trades changed since the last refresh (the change log), which
   is all an asset-triggered run (no data interval) needs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptoflow.candles import refresh
from cryptoflow.candles.reconcile import ReconcileSettings, reconcile, window_for

log = logging.getLogger(__name__)


class CandleCheckFailed(ValueError):
    pass


def parse_moment(value: Any, name: str) -> datetime | None:
    """A param's date(-time): ISO text or a datetime; naive times are UTC. None when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not an ISO date or date-time (e.g. 2026-11-20 or "
                             "2026-11-20T10:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def requested_range(params: dict | None) -> tuple[datetime, datetime] | None:
    params = params or {}
    start, end = parse_moment(params.get("rebuild_from"), "rebuild_from"), parse_moment(params.get("rebuild_to"),
                                                                                          "rebuild_to")
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ValueError("give both rebuild_from and rebuild_to (or neither)")
    if end <= start:
        raise ValueError(f"rebuild_to ({end}) must be after rebuild_from ({start})")
    return start, end


def run_refresh(conn, *, interval_start: datetime | None, interval_end: datetime | None, params: dict | None,
                dag_id: str | None = None, run_id: str | None = None) -> dict:
    results = []
    rebuild = requested_range(params) or (
        (interval_start, interval_end) if interval_start is not None and interval_end is not None
        and interval_end > interval_start else None)
    if rebuild is not None:   # first: it takes the change-log rows of its range off the incremental refresh's hands
        results.append(refresh.rebuild_range(conn, *rebuild, dag_id=dag_id, run_id=run_id))
    results.append(refresh.refresh_incremental(conn, dag_id=dag_id, run_id=run_id))
    return {
        "refreshes": [r.as_dict() for r in results],
        "candles_written": sum(r.candles_written for r in results),
        "candles_deleted": sum(r.candles_deleted for r in results),
    }


def run_check(refreshed: dict) -> int:
    """Fail when the refresh wrote a candle that cannot be right (low above the open, no volume, ...): the candles
    are written anyway, so data keeps flowing while this task's failure alerts."""
    problems = [p for r in refreshed["refreshes"] for p in r["problems"]]
    if problems:
        raise CandleCheckFailed(f"{len(problems)} derived candle(s) are inconsistent: {'; '.join(problems[:5])}. "
                                "Look for trades with a wrong price or amount in those buckets; fix them (the change "
                                "log refreshes the buckets) and clear this task.")
    log.info("all %d recomputed minute bucket(s) gave consistent candles",
             sum(r["minutes"] for r in refreshed["refreshes"]))
    return 0


def reconcile_settings(params: dict | None) -> ReconcileSettings:
    params = params or {}
    defaults = ReconcileSettings()

    def number(name: str, default: Decimal) -> Decimal:
        value = params.get(name)
        return default if value in (None, "") else Decimal(str(value))

    return ReconcileSettings(tolerance=number("reconcile_tolerance", defaults.tolerance),
                             threshold=number("reconcile_threshold", defaults.threshold),
                             lookback=timedelta(minutes=float(params.get("reconcile_lookback_minutes") or 60)))


def run_reconcile(conn, interval_end: datetime, params: dict | None, *, dag_id: str | None = None,
                  run_id: str | None = None) -> dict:
    settings = reconcile_settings(params)
    start, end = window_for(interval_end, settings)
    return reconcile(conn, start, end, settings, dag_id=dag_id, run_id=run_id)


def refresh_logged(*, interval_start: datetime | None, interval_end: datetime | None, params: dict | None,
                   dag_id: str, task_id: str, run_id: str, try_number: int | None) -> dict:
    """``run_refresh`` with a ``pulls`` row (source ``trades``, dataset ``candles``), so ``v_sync_status`` shows
    how fresh the derived candles are."""
    from cryptoflow import warehouse
    from cryptoflow.hooks.base import CallStats
    from cryptoflow.runlog import PullLog
    from cryptoflow.secrets import redact_text

    with warehouse.connect() as conn, warehouse.connect() as log_conn:
        pull = PullLog(log_conn)
        pull.start(dag_id=dag_id, task_id=task_id, run_id=run_id, try_number=try_number, source="trades",
                   dataset="candles", interval_start=interval_start, interval_end=interval_end,
                   stale_after=timedelta(minutes=30))
        try:
            result = run_refresh(conn, interval_start=interval_start, interval_end=interval_end, params=params,
                                 dag_id=dag_id, run_id=run_id)
        except Exception as exc:
            pull.finish("failed", CallStats(), error=f"{type(exc).__name__}: {redact_text(exc)}")
            raise
        pull.finish("success", CallStats(), fetched=sum(r["minutes"] for r in result["refreshes"]),
                    upserted=result["candles_written"])
    return result
