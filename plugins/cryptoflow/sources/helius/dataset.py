"""``helius.transactions``: the interval's enhanced transactions of every tracked wallet and watchlist token.

Writes ``wallets`` and ``watchlist`` (from the config files), ``wallet_transactions``, ``token_transfers``,
``trades`` (Helius is authoritative: its upsert overwrites times and amounts a stream wrote first) and ``tokens``
(decimals); then, in the same transaction, ``whale_movements``, the FIFO stats of the wallets that traded in the
interval, and the whale alerts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import psycopg

from cryptoflow.ingest import Dataset, IngestContext
from cryptoflow.sources.helius import config, fifo, whales
from cryptoflow.sources.helius.config import HeliusConfigError, Wallet, WatchedToken
from cryptoflow.sources.helius.fetch import AddressQuery, AddressResult, fetch_interval
from cryptoflow.sources.helius.hook import HeliusHook, HeliusSettings
from cryptoflow.sources.helius.models import EnhancedTransaction
from cryptoflow.sources.helius.parsing import (
    QUOTE_MINTS,
    derive_trades,
    trade_rows,
    transaction_row,
    transfer_rows,
)
from cryptoflow.warehouse import TableSpec

log = logging.getLogger(__name__)
TRADE_UPDATES = ("block_time", "slot", "trader", "mint", "side", "token_amount", "quote_mint", "quote_amount", "price",
                 "time_is_receive_time")


@dataclass
class _Run:
    """What collect learned that after_load needs."""

    wallets: list[Wallet]
    watchlist: list[WatchedToken]
    settings: HeliusSettings


class HeliusTransactions(Dataset):
    source: ClassVar[str] = "helius"
    name: ClassVar[str] = "transactions"
    hook_class: ClassVar[type[HeliusHook]] = HeliusHook
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec("wallets", key=("address",)),
        TableSpec("watchlist", key=("address",)),
        TableSpec("wallet_transactions", key=("signature",)),
        TableSpec("token_transfers", key=("signature", "transfer_index")),
        TableSpec("trades", key=("signature", "event_index"), update_columns=TRADE_UPDATES),
        TableSpec("tokens", key=("mint",), update_columns=("decimals",)),
    )
    stale_after: ClassVar[timedelta] = timedelta(minutes=30)

    def __init__(self, wallets_path: str | None = None, watchlist_path: str | None = None,
                 sleep=time.sleep, now=lambda: datetime.now(UTC)):
        self.wallets_path = wallets_path      # None: $CRYPTOFLOW_WHALE_WALLETS or include/config/whale_wallets.csv
        self.watchlist_path = watchlist_path  # None: $CRYPTOFLOW_WATCHLIST or include/config/watchlist.csv
        self._sleep = sleep
        self._now = now

    def queries(self, wallets: list[Wallet], watchlist: list[WatchedToken],
                settings: HeliusSettings) -> list[AddressQuery]:
        out = [AddressQuery(w.address, "wallet") for w in wallets]
        tracked = {w.address for w in wallets}
        out += [AddressQuery(t.address, "token", settings.token_type_filter) for t in watchlist
                if t.address not in tracked and (settings.fetch_quote_mints or t.address not in QUOTE_MINTS)]
        return out

    def _wait_for_finality(self, ctx: IngestContext, settings: HeliusSettings) -> datetime:
        """The time from which answers for the interval are final; waits for it when it is near."""
        ready = ctx.interval_end + timedelta(seconds=settings.finality_lag_s)
        wait = (ready - self._now()).total_seconds()
        if wait > settings.finality_lag_s + 1:
            raise HeliusConfigError(
                f"helius: the interval [{ctx.interval_start}, {ctx.interval_end}) has not ended yet; run it after "
                f"{ready} (Airflow schedules it then; a manual run needs a past logical date)")
        if wait > 0:
            log.info("helius: waiting %.0f s for the interval's last blocks to be finalized", wait)
            self._sleep(wait)
        return ready

    def collect(self, ctx: IngestContext) -> dict[str, list[dict[str, Any]]]:
        hook: HeliusHook = ctx.hook  # type: ignore[assignment]
        wallets = config.load_wallets(self.wallets_path)
        watchlist = config.load_watchlist(self.watchlist_path)
        settings = hook.settings
        ctx._helius = _Run(wallets, watchlist, settings)  # type: ignore[attr-defined]
        queries = self.queries(wallets, watchlist, settings)
        ready = self._wait_for_finality(ctx, settings)
        log.info("helius: %d wallets and %d watchlist tokens (%d queried by mint) for [%s, %s)", len(wallets),
                 len(watchlist), sum(q.kind == "token" for q in queries), ctx.interval_start, ctx.interval_end)

        results: list[AddressResult] = hook.map_concurrently(
            lambda q: fetch_interval(hook, q, ctx.interval_start, ctx.interval_end, ready), queries)

        raw: dict[str, dict[str, Any]] = {}
        tracked_by: dict[str, set[str]] = {}
        unkeyed: list[Any] = []
        for result in results:
            if result.gap_before:
                ctx.rejections.add(
                    {"address": result.query.address, "kind": result.query.kind, "before": result.gap_before},
                    f"helius page limit: the search of {result.query.kind} {result.query.address} in this interval "
                    f"stopped at {settings.max_pages_per_address} pages (or "
                    f"{settings.token_search_max_continuations} type-filter continuations); transactions older than "
                    f"{result.gap_before} were not loaded. Raise "
                    "max_pages_per_address / token_search_max_continuations in the helius connection extra and "
                    "clear the task")
            for tx in result.transactions:
                signature = tx.get("signature") if isinstance(tx, dict) else None
                if not isinstance(signature, str):
                    unkeyed.append(tx)
                    continue
                raw.setdefault(signature, tx)
                tracked_by.setdefault(signature, set()).add(result.query.address)

        transactions = ctx.rejections.validate([*raw.values(), *unkeyed], EnhancedTransaction)
        tx_rows, transfer_rows_, trades_, decimals = [], [], [], {}
        for tx in sorted(transactions, key=lambda t: (t.timestamp, t.slot, t.signature)):
            tx_rows.append(transaction_row(tx, tracked_by[tx.signature]))
            rows = transfer_rows(tx)
            transfer_rows_.extend(rows)
            decimals.update({r["mint"]: r["decimals"] for r in rows if r["decimals"] is not None})
            trades_.extend(trade_rows(tx, derive_trades(tx)))
        ctx.records_fetched = len(raw) + len(unkeyed)
        listed = {t.address: t for t in watchlist}
        log.info("helius: %d transactions, %d transfers, %d trades from %d requests", len(tx_rows),
                 len(transfer_rows_), len(trades_), sum(r.requests for r in results))
        return {
            "wallets": [{"address": w.address, "label": w.label, "tags": list(w.tags)} for w in wallets],
            "watchlist": [{"address": t.address, "symbol": t.symbol, "name": t.name,
                           "timeframes": list(t.timeframes) if t.timeframes else None} for t in watchlist],
            "wallet_transactions": tx_rows,
            "token_transfers": transfer_rows_,
            "trades": trades_,
            "tokens": [{"mint": mint, "decimals": d, "symbol": listed[mint].symbol if mint in listed else None,
                        "name": listed[mint].name if mint in listed else None} for mint, d in sorted(decimals.items())],
        }

    def after_load(self, ctx: IngestContext, cur: psycopg.Cursor, upserted: dict[str, int]) -> None:
        run: _Run = ctx._helius  # type: ignore[attr-defined]
        cur.execute("DELETE FROM wallets WHERE address <> ALL(%s)", ([w.address for w in run.wallets],))
        cur.execute("DELETE FROM watchlist WHERE address <> ALL(%s)", ([t.address for t in run.watchlist],))

        movements = whales.interval_movements(cur, ctx.interval_start, ctx.interval_end, run.settings)
        whales.store_movements(cur, ctx.interval_start, ctx.interval_end, movements)

        touched = [r[0] for r in cur.execute(
            """SELECT DISTINCT t.trader FROM trades t JOIN wallets w ON w.address = t.trader
               WHERE t.block_time >= %s AND t.block_time < %s""",
            (ctx.interval_start, ctx.interval_end)).fetchall()]
        fifo.recompute_wallet_stats(cur, touched, run.settings.price_max_age_min)
        log.info("helius: %d whale movements, stats of %d wallets recomputed", len(movements), len(touched))

        # last, so that only the commit can still fail after an alert went out (see whales.py)
        whales.alert_movements(cur, movements, run.settings, dag_id=ctx.dag_id, run_id=ctx.run_id, now=self._now)
