"""Reconciliation of derived candles against Birdeye's: the share of buckets whose close differs by more than a
tolerance, per token and interval, stored in ``candle_reconciliation`` and alerted above a threshold.

A window's rows are replaced when it is re-checked. An alert names every (token, interval) above the threshold;
one that was already alerted within ``realert_after`` is left out, so a lasting disagreement pages once, not every
five minutes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg

from cryptoflow.alerts import Alert, send_alert
from cryptoflow.candles.refresh import WSOL_MINT
from cryptoflow.paths import read_sql

log = logging.getLogger(__name__)

COMPARED_INTERVALS = ("1m", "5m", "1h")    # the intervals both Birdeye (1m 5m 15m 1h) and the trades produce


@dataclass(frozen=True)
class ReconcileSettings:
    tolerance: Decimal = Decimal("0.02")      # a close more than 2% off Birdeye's is a mismatch
    threshold: Decimal = Decimal("0.10")      # alert when more than 10% of a token's buckets mismatch ...
    min_buckets: int = 10                     # ... out of at least this many compared buckets
    lookback: timedelta = timedelta(hours=1)  # the window: [end - settle - lookback, end - settle)
    settle: timedelta = timedelta(minutes=10)  # recent buckets may still get trades (Helius lags the stream)
    realert_after: timedelta = timedelta(hours=6)
    intervals: tuple[str, ...] = COMPARED_INTERVALS


@dataclass
class TokenResult:
    token: str
    interval: str
    buckets: int
    mismatched: int
    max_rel_diff: Decimal | None

    @property
    def share(self) -> Decimal:
        return Decimal(self.mismatched) / Decimal(self.buckets) if self.buckets else Decimal(0)


def window_for(interval_end: datetime, settings: ReconcileSettings) -> tuple[datetime, datetime]:
    end = interval_end - settings.settle
    return end - settings.lookback, end


def reconcile(conn: psycopg.Connection, window_start: datetime, window_end: datetime,
              settings: ReconcileSettings = ReconcileSettings(), *, dag_id: str | None = None,
              run_id: str | None = None) -> dict:
    """Compare, store and (maybe) alert for ``[window_start, window_end)``; returns a summary."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(read_sql("candles/reconcile.sql"), {
            "intervals": list(settings.intervals), "sol_mint": WSOL_MINT, "window_start": window_start,
            "window_end": window_end, "tolerance": settings.tolerance})
        results = [TokenResult(*row) for row in cur.fetchall()]
        cur.execute("DELETE FROM candle_reconciliation WHERE window_start = %s AND window_end = %s",
                    (window_start, window_end))
        above = [r for r in results if r.buckets >= settings.min_buckets and r.share > settings.threshold]
        for r in results:
            cur.execute(
                """INSERT INTO candle_reconciliation (window_start, window_end, token, interval, buckets, mismatched,
                       mismatch_share, max_rel_diff, tolerance, threshold, above_threshold, dag_id, run_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (window_start, window_end, r.token, r.interval, r.buckets, r.mismatched, r.share, r.max_rel_diff,
                 settings.tolerance, settings.threshold, r in above, dag_id, run_id))
        cur.execute(
            """SELECT DISTINCT token, interval FROM candle_reconciliation
               WHERE alerted_at > now() - %s AND NOT (window_start = %s AND window_end = %s)""",
            (settings.realert_after, window_start, window_end))
        recently_alerted = set(cur.fetchall())
        to_alert = [r for r in above if (r.token, r.interval) not in recently_alerted]
    alerted: list[str] = []
    if to_alert:
        alerted = send_alert(_alert(to_alert, window_start, window_end, settings, dag_id, run_id))
        if alerted:
            with conn.transaction():
                for r in to_alert:
                    conn.execute("""UPDATE candle_reconciliation SET alerted_at = now()
                                    WHERE window_start = %s AND window_end = %s AND token = %s AND interval = %s""",
                                 (window_start, window_end, r.token, r.interval))
    if not results:
        log.info("reconciliation [%s, %s): no bucket has both a derived and a Birdeye candle (and a Birdeye SOL "
                 "price to convert with)", window_start, window_end)
    for r in results:
        log.info("reconciliation %s %s: %d of %d buckets off by more than %s (max %.4f)%s", r.token, r.interval,
                 r.mismatched, r.buckets, settings.tolerance, r.max_rel_diff or 0,
                 "  <- above threshold" if r in above else "")
    return {"window_start": window_start.isoformat(), "window_end": window_end.isoformat(),
            "compared": len(results), "above_threshold": [f"{r.token} {r.interval}" for r in above],
            "alerted": [f"{r.token} {r.interval}" for r in to_alert] if alerted else [], "channels": alerted}


def _alert(rows: list[TokenResult], start: datetime, end: datetime, settings: ReconcileSettings,
           dag_id: str | None, run_id: str | None) -> Alert:
    lines = [f"{r.token} {r.interval}: {r.mismatched}/{r.buckets} buckets ({r.share:.0%}), max "
             f"{(r.max_rel_diff or 0):.2%} off" for r in rows]
    return Alert(
        kind="candles_mismatch",
        title=f"cryptoflow: derived candles disagree with Birdeye for {len(rows)} token interval(s)",
        fields={"DAG": dag_id, "Run": run_id, "Window": f"{start} -> {end}",
                "Tolerance": f"{settings.tolerance:.2%} on the close", "Threshold": f"{settings.threshold:.0%}",
                "Tokens": "; ".join(lines)},
        action="check the trade sources for these tokens: a stream gap not yet filled (stream_disconnects), "
               "Helius lagging, trades in another quote token, or Birdeye itself; candle_reconciliation has the "
               "numbers per window.")
