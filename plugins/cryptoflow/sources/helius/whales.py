"""Whale movements of an interval and their alerts, inside the load transaction.

Exactly once: the alert of a movement is claimed by inserting its ``whale_alerts`` row in the same transaction that
loads the interval, and sent right after, as the last step before the commit. A concurrent or later run of the
interval finds the row (the primary key makes a concurrent claim wait for the first transaction) and sends nothing.
The one window left is a commit that fails after the alert went out: the claim rolls back with the load and the
retry sends again. That is preferred over claiming, committing and sending afterwards, where a crash between commit
and send loses the alert for good. Movements older than ``alert_max_age_min`` when the run sees them (backfills,
late re-runs) are recorded as ``suppressed_stale`` instead of paging anyone about the past.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cryptoflow import warehouse
from cryptoflow.alerts import Alert, send_alert
from cryptoflow.paths import read_sql
from cryptoflow.sources.helius.hook import HeliusSettings
from cryptoflow.sources.helius.parsing import USDC, USDT, WSOL

log = logging.getLogger(__name__)
EXPLORER_TX = "https://solscan.io/tx/{}"
KNOWN_SYMBOLS = {WSOL: "SOL", USDC: "USDC", USDT: "USDT"}


def interval_movements(cur: psycopg.Cursor, start: datetime, end: datetime,
                       settings: HeliusSettings) -> list[dict[str, Any]]:
    with cur.connection.cursor(row_factory=dict_row) as dcur:
        dcur.execute(read_sql("helius/whale_movements.sql"), {
            "start": start, "end": end, "threshold": settings.whale_threshold_usd,
            "max_age": f"{settings.price_max_age_min} minutes"})
        return dcur.fetchall()


def store_movements(cur: psycopg.Cursor, start: datetime, end: datetime, rows: Sequence[dict[str, Any]]) -> int:
    """Make ``whale_movements`` of ``[start, end)`` exactly ``rows`` (unchanged rows are not rewritten)."""
    cur.execute(
        """DELETE FROM whale_movements WHERE block_time >= %s AND block_time < %s
           AND (signature, transfer_index) NOT IN (SELECT * FROM unnest(%s::text[], %s::int[]))""",
        (start, end, [r["signature"] for r in rows], [r["transfer_index"] for r in rows]))
    return warehouse.upsert_rows(cur, "whale_movements", rows, ("signature", "transfer_index"))


def _amount(value: Decimal | None) -> str:
    if value is None:
        return "?"
    value = value.normalize()
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:f}"


def build_alert(movement: dict[str, Any], labels: dict[str, str | None], symbols: dict[str, str | None]) -> Alert:
    def who(address: str | None) -> str:
        if not address:
            return "?"
        label = labels.get(address)
        return f"{label} ({address})" if label else address

    def token(mint: str | None) -> str:
        symbol = symbols.get(mint) or KNOWN_SYMBOLS.get(mint or "")
        return symbol or f"{(mint or '?')[:6]}…"

    wallet, mint = movement["wallet"], movement["mint"]
    name = labels.get(wallet) or f"{wallet[:6]}…"
    amount = f"{_amount(movement['amount'])} {token(mint)}"
    usd = f"${movement['usd_value']:,.0f}"
    if movement["kind"] == "swap":
        verb = "bought" if movement["side"] == "buy" else "sold"
        quote = f"{_amount(movement['quote_amount'])} {token(movement['quote_mint'])}"
        title = f"cryptoflow: whale {verb} {amount} for {quote} ({usd}): {name}"
    else:
        verb = "sent" if movement["direction"] == "out" else "received"
        title = f"cryptoflow: whale {verb} {amount} ({usd}): {name}"
    return Alert(
        kind="whale_movement",
        title=title,
        fields={
            "Wallet": who(wallet),
            "Movement": f"{movement['kind']} {movement['side'] or movement['direction']}",
            "Token": f"{token(mint)} ({mint})",
            "Amount": amount,
            "Quote": f"{_amount(movement['quote_amount'])} {token(movement['quote_mint'])}"
            if movement["kind"] == "swap" else None,
            "Counterparty": who(movement["counterparty"]) if movement["counterparty"] else None,
            "USD value": f"{usd} (price {movement['price_usd']} from {movement['price_source']} at "
                         f"{movement['price_ts']:%Y-%m-%d %H:%M:%S}Z)",
            "Time": f"{movement['block_time']:%Y-%m-%d %H:%M:%S}Z",
            "Transaction": EXPLORER_TX.format(movement["signature"]),
        },
    )


def alert_movements(cur: psycopg.Cursor, movements: Sequence[dict[str, Any]], settings: HeliusSettings, *,
                    dag_id: str = "", run_id: str = "", now: Callable[[], datetime] = lambda: datetime.now(UTC),
                    sender: Callable[[Alert], list[str]] = send_alert) -> dict[str, int]:
    """Claim, send and record the alert of each movement not alerted before; returns counts per outcome."""
    counts = {"sent": 0, "undelivered": 0, "suppressed_stale": 0, "already": 0}
    if not movements:
        return counts
    max_age = timedelta(minutes=settings.alert_max_age_min) if settings.alert_max_age_min > 0 else None
    wallets = sorted({m["wallet"] for m in movements} | {m["counterparty"] for m in movements if m["counterparty"]})
    labels = dict(cur.execute("SELECT address, label FROM wallets WHERE address = ANY(%s)", (wallets,)).fetchall())
    mints = sorted({m["mint"] for m in movements} | {m["quote_mint"] for m in movements if m["quote_mint"]})
    symbols = dict(cur.execute(
        """SELECT mint, symbol FROM tokens WHERE mint = ANY(%(m)s) AND symbol IS NOT NULL
           UNION ALL SELECT address, symbol FROM watchlist WHERE address = ANY(%(m)s) AND symbol IS NOT NULL""",
        {"m": mints}).fetchall())
    for m in sorted(movements, key=lambda r: (r["block_time"], r["signature"], r["transfer_index"])):
        stale = max_age is not None and now() - m["block_time"] > max_age
        claimed = cur.execute(
            """INSERT INTO whale_alerts (signature, transfer_index, wallet, block_time, usd_value, status, dag_id,
                                         run_id)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (signature, transfer_index) DO UPDATE
                   SET status = EXCLUDED.status, usd_value = EXCLUDED.usd_value, dag_id = EXCLUDED.dag_id,
                       run_id = EXCLUDED.run_id, decided_at = now()
                   WHERE whale_alerts.status = 'undelivered'
               RETURNING status""",
            (m["signature"], m["transfer_index"], m["wallet"], m["block_time"], m["usd_value"],
             "suppressed_stale" if stale else "undelivered", dag_id, run_id)).fetchone()
        if claimed is None:
            counts["already"] += 1
        elif stale:
            counts["suppressed_stale"] += 1
        else:
            reached = sender(build_alert(m, labels, symbols))
            status = "sent" if reached else "undelivered"
            cur.execute("""UPDATE whale_alerts SET status = %s, channels = %s
                           WHERE signature = %s AND transfer_index = %s""",
                        (status, reached, m["signature"], m["transfer_index"]))
            counts[status] += 1
    if any(counts.values()):
        log.info("helius whale alerts: %s", counts)
    return counts
