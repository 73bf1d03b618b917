"""FIFO cost basis, realized PnL and win rates of tracked wallets, from every stored trade.

Per (wallet, mint), trades in time order: a buy adds a lot (its token amount, its cost in its quote token and in
USD); a sell consumes the oldest lots first. The matched part of a sell realizes ``proceeds - cost`` (pro rata by
token amount, in quote and in USD). The part of a sell beyond what was bought since tracking began has no known
cost: it is counted in ``unmatched_sell_amount`` and realizes nothing.

A position opens with a buy when nothing is held and closes when a sell leaves nothing. A closed position is a
**win** when its realized PnL is positive and a **loss** when negative, measured in its quote token when all its
matched trades used one quote token (SOL for most memecoin trades), else in USD; a breakeven position, or a mixed
quote one whose USD value is unknown, is closed but neither. Win rate = wins / (wins + losses).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

import psycopg

from cryptoflow import warehouse
from cryptoflow.paths import read_sql

ZERO = Decimal(0)


@dataclass(frozen=True)
class FifoTrade:
    wallet: str
    mint: str
    block_time: datetime
    side: str                   # 'buy' or 'sell'
    token_amount: Decimal
    quote_mint: str
    quote_amount: Decimal
    quote_usd: Decimal | None   # USD price of the quote token at the trade, None when unknown

    @property
    def usd(self) -> Decimal | None:
        return None if self.quote_usd is None else self.quote_amount * self.quote_usd


@dataclass
class _Lot:
    amount: Decimal
    cost: Decimal
    quote_mint: str
    cost_usd: Decimal | None


@dataclass
class _Position:
    pnl_quote: Decimal = ZERO
    pnl_usd: Decimal | None = ZERO
    quotes: set[str] = field(default_factory=set)

    def outcome(self) -> int:
        """1 win, -1 loss, 0 neither."""
        pnl = self.pnl_quote if len(self.quotes) == 1 else self.pnl_usd
        if pnl is None or pnl == 0:
            return 0
        return 1 if pnl > 0 else -1


@dataclass
class TokenStats:
    wallet: str
    mint: str
    quote_mints: set[str] = field(default_factory=set)
    trades: int = 0
    buys: int = 0
    sells: int = 0
    bought_amount: Decimal = ZERO
    sold_amount: Decimal = ZERO
    unmatched_sell_amount: Decimal = ZERO
    realized_pnl_quote: Decimal = ZERO
    realized_pnl_usd: Decimal = ZERO
    usd_complete: bool = True
    closed_positions: int = 0
    wins: int = 0
    losses: int = 0
    first_trade_at: datetime | None = None
    last_trade_at: datetime | None = None
    lots: deque[_Lot] = field(default_factory=deque)

    @property
    def quote_mint(self) -> str | None:
        return next(iter(self.quote_mints)) if len(self.quote_mints) == 1 else None

    @property
    def win_rate(self) -> Decimal | None:
        scored = self.wins + self.losses
        return None if scored == 0 else (Decimal(self.wins) / Decimal(scored)).quantize(Decimal("0.0001"))

    def row(self) -> dict[str, Any]:
        open_amount = sum((lot.amount for lot in self.lots), ZERO)
        single = self.quote_mint
        open_usd = [lot.cost_usd for lot in self.lots]
        return {
            "wallet": self.wallet, "mint": self.mint, "quote_mint": single, "trades": self.trades,
            "buys": self.buys, "sells": self.sells, "bought_amount": self.bought_amount,
            "sold_amount": self.sold_amount, "unmatched_sell_amount": self.unmatched_sell_amount,
            "open_amount": open_amount,
            "open_cost_quote": sum((lot.cost for lot in self.lots), ZERO) if single else None,
            "open_cost_usd": None if any(c is None for c in open_usd) else sum(open_usd, ZERO),
            "realized_pnl_quote": self.realized_pnl_quote if single else None,
            "realized_pnl_usd": self.realized_pnl_usd, "usd_complete": self.usd_complete,
            "closed_positions": self.closed_positions, "wins": self.wins, "losses": self.losses,
            "win_rate": self.win_rate, "first_trade_at": self.first_trade_at, "last_trade_at": self.last_trade_at,
        }


def _share(total: Decimal | None, part: Decimal, whole: Decimal) -> Decimal | None:
    if total is None:
        return None
    return total if part == whole else total * part / whole


def fifo(trades: Iterable[FifoTrade]) -> dict[tuple[str, str], TokenStats]:
    """Stats per (wallet, mint) of ``trades``, which must be in execution order."""
    stats: dict[tuple[str, str], TokenStats] = {}
    positions: dict[tuple[str, str], _Position] = {}
    with localcontext() as ctx:
        ctx.prec = 50
        for t in trades:
            key = (t.wallet, t.mint)
            s = stats.get(key) or stats.setdefault(key, TokenStats(t.wallet, t.mint))
            s.trades += 1
            s.quote_mints.add(t.quote_mint)
            s.first_trade_at = s.first_trade_at or t.block_time
            s.last_trade_at = t.block_time
            if t.token_amount <= 0:
                continue
            if t.side == "buy":
                s.buys += 1
                s.bought_amount += t.token_amount
                if not s.lots:
                    positions[key] = _Position()
                s.lots.append(_Lot(t.token_amount, t.quote_amount, t.quote_mint, t.usd))
                continue
            s.sells += 1
            s.sold_amount += t.token_amount
            if not s.lots:
                s.unmatched_sell_amount += t.token_amount
                continue
            position = positions[key]
            remaining = t.token_amount
            while remaining > 0 and s.lots:
                lot = s.lots[0]
                take = min(lot.amount, remaining)
                cost = _share(lot.cost, take, lot.amount)
                cost_usd = _share(lot.cost_usd, take, lot.amount)
                proceeds = _share(t.quote_amount, take, t.token_amount)
                proceeds_usd = _share(t.usd, take, t.token_amount)
                position.quotes.update((lot.quote_mint, t.quote_mint))
                if lot.quote_mint == t.quote_mint:
                    s.realized_pnl_quote += proceeds - cost
                    position.pnl_quote += proceeds - cost
                if cost_usd is None or proceeds_usd is None:
                    s.usd_complete = False
                    position.pnl_usd = None
                else:
                    s.realized_pnl_usd += proceeds_usd - cost_usd
                    if position.pnl_usd is not None:
                        position.pnl_usd += proceeds_usd - cost_usd
                lot.amount -= take
                lot.cost -= cost
                lot.cost_usd = None if lot.cost_usd is None else lot.cost_usd - cost_usd
                if lot.amount == 0:
                    s.lots.popleft()
                remaining -= take
            s.unmatched_sell_amount += remaining
            if not s.lots:
                s.closed_positions += 1
                outcome = position.outcome()
                s.wins += outcome == 1
                s.losses += outcome == -1
    return stats


def wallet_rows(token_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``wallet_stats`` row per wallet from its ``wallet_token_stats`` rows."""
    by_wallet: dict[str, list[dict[str, Any]]] = {}
    for row in token_rows:
        by_wallet.setdefault(row["wallet"], []).append(row)
    out = []
    for wallet, rows in sorted(by_wallet.items()):
        wins, losses = sum(r["wins"] for r in rows), sum(r["losses"] for r in rows)
        by_quote: dict[str, Decimal] = {}
        for r in rows:
            if r["quote_mint"] is not None and r["realized_pnl_quote"] is not None:
                by_quote[r["quote_mint"]] = by_quote.get(r["quote_mint"], ZERO) + r["realized_pnl_quote"]
        out.append({
            "wallet": wallet,
            "tokens_traded": len(rows),
            "trades": sum(r["trades"] for r in rows),
            "closed_positions": sum(r["closed_positions"] for r in rows),
            "wins": wins,
            "losses": losses,
            "win_rate": None if wins + losses == 0 else (Decimal(wins) / Decimal(wins + losses)).quantize(
                Decimal("0.0001")),
            "realized_pnl_usd": sum((r["realized_pnl_usd"] for r in rows), ZERO),
            "usd_complete": all(r["usd_complete"] for r in rows),
            "realized_pnl_by_quote": {k: str(v) for k, v in sorted(by_quote.items())},
            "first_trade_at": min(r["first_trade_at"] for r in rows),
            "last_trade_at": max(r["last_trade_at"] for r in rows),
        })
    return out


def recompute_wallet_stats(cur: psycopg.Cursor, wallets: Sequence[str] | None = None,
                           price_max_age_min: float = 15.0) -> int:
    """Recompute ``wallet_token_stats`` and ``wallet_stats`` from all stored trades, for ``wallets`` (None: every
    tracked wallet, and drop the stats of wallets no longer tracked). Returns the number of wallets computed."""
    if wallets is None:
        wallets = [r[0] for r in cur.execute("SELECT address FROM wallets ORDER BY address").fetchall()]
        cur.execute("DELETE FROM wallet_token_stats WHERE wallet <> ALL(%s)", (list(wallets),))
        cur.execute("DELETE FROM wallet_stats WHERE wallet <> ALL(%s)", (list(wallets),))
    wallets = sorted(set(wallets))
    if not wallets:
        return 0
    cur.execute(read_sql("helius/wallet_trades.sql"),
                {"wallets": wallets, "max_age": f"{price_max_age_min} minutes"})
    trades = [FifoTrade(*row) for row in cur.fetchall()]
    token_rows = [s.row() for s in fifo(trades).values()]
    seen_pairs = [(r["wallet"], r["mint"]) for r in token_rows]
    cur.execute(
        """DELETE FROM wallet_token_stats s WHERE s.wallet = ANY(%s)
           AND (s.wallet, s.mint) NOT IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        (wallets, [w for w, _ in seen_pairs], [m for _, m in seen_pairs]))
    warehouse.upsert_rows(cur, "wallet_token_stats", token_rows, ("wallet", "mint"))
    wallet_stat_rows = wallet_rows(token_rows)
    cur.execute("DELETE FROM wallet_stats WHERE wallet = ANY(%s) AND wallet <> ALL(%s)",
                (wallets, [r["wallet"] for r in wallet_stat_rows]))
    warehouse.upsert_rows(cur, "wallet_stats", wallet_stat_rows, ("wallet",))
    return len(wallets)
