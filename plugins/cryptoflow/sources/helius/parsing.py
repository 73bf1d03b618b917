"""Enhanced transactions into rows: ``wallet_transactions``, ``token_transfers`` and net trades for ``trades``.

Amounts are exact decimals: lamport and raw-unit strings and integers are scaled by their decimals, never passed
through float. Token transfers only carry a decimal-adjusted float; their raw amount comes from the matching token
balance change when there is one (exact), else from the float's shortest decimal representation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from cryptoflow.sources.helius.models import EnhancedTransaction, InnerSwap, SwapEvent

WSOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
QUOTE_PRIORITY = (USDC, USDT, WSOL)   # a swap against a stable is quoted in the stable; else in SOL
QUOTE_MINTS = frozenset(QUOTE_PRIORITY)
SOL_DECIMALS = 9
SWAP_TYPES = frozenset({"SWAP"})
FIXED_DECIMALS = {WSOL: 9, USDC: 6, USDT: 6}


def scaled(raw: int, decimals: int) -> Decimal:
    """``raw`` base units as an exact decimal amount."""
    return Decimal(raw).scaleb(-decimals)


def block_time(tx: EnhancedTransaction) -> datetime:
    return datetime.fromtimestamp(tx.timestamp, UTC)


def transaction_row(tx: EnhancedTransaction, tracked: set[str] | frozenset[str]) -> dict[str, Any]:
    return {
        "signature": tx.signature,
        "slot": tx.slot,
        "block_time": block_time(tx),
        "type": tx.type,
        "source": tx.source,
        "fee": tx.fee,
        "fee_payer": tx.feePayer,
        "description": tx.description or "",
        "error": tx.transactionError,
        "events": tx.event_names(),
        "tracked_addresses": sorted(tracked),
    }


def _balance_changes(tx: EnhancedTransaction) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Raw balance change per (token account, mint), and decimals per mint."""
    changes: dict[tuple[str, str], int] = {}
    decimals: dict[str, int] = dict(FIXED_DECIMALS)
    for account in tx.accountData:
        for change in account.tokenBalanceChanges:
            decimals.setdefault(change.mint, change.rawTokenAmount.decimals)
            key = (change.tokenAccount or account.account, change.mint)
            changes[key] = changes.get(key, 0) + change.rawTokenAmount.tokenAmount
    return changes, decimals


def _raw_amount(amount: Decimal, decimals: int, candidates: list[int]) -> int:
    """The exact raw amount of a decimal-adjusted float: a matching balance change, else the rounded float."""
    tolerance = max(Decimal(1).scaleb(-decimals), abs(amount) * Decimal("1e-12"))
    for candidate in candidates:
        if abs(scaled(candidate, decimals) - amount) <= tolerance:
            return candidate
    return int(amount.scaleb(decimals).to_integral_value())


def transfer_rows(tx: EnhancedTransaction) -> list[dict[str, Any]]:
    """One row per token transfer, then one per native SOL transfer (``mint`` = wrapped SOL, kind ``native``).

    A failed transaction moved nothing but its fee, so it has no transfer rows.
    """
    if tx.failed:
        return []
    changes, decimals_by_mint = _balance_changes(tx)
    base = {"signature": tx.signature, "block_time": block_time(tx), "slot": tx.slot}
    rows = []
    for t in tx.tokenTransfers:
        decimals = decimals_by_mint.get(t.mint)
        if decimals is None:
            raw, amount = None, t.tokenAmount
        else:
            candidates = [abs(changes[(acct, t.mint)]) for acct in (t.toTokenAccount, t.fromTokenAccount)
                          if (acct, t.mint) in changes]
            raw = _raw_amount(t.tokenAmount, decimals, candidates)
            amount = scaled(raw, decimals)
        rows.append({**base, "transfer_index": len(rows), "kind": "token", "mint": t.mint,
                     "from_address": t.fromUserAccount or None, "to_address": t.toUserAccount or None,
                     "from_token_account": t.fromTokenAccount or None, "to_token_account": t.toTokenAccount or None,
                     "amount": amount, "raw_amount": raw, "decimals": decimals, "token_standard": t.tokenStandard})
    for n in tx.nativeTransfers:
        rows.append({**base, "transfer_index": len(rows), "kind": "native", "mint": WSOL,
                     "from_address": n.fromUserAccount or None, "to_address": n.toUserAccount or None,
                     "from_token_account": None, "to_token_account": None,
                     "amount": scaled(n.amount, SOL_DECIMALS), "raw_amount": n.amount, "decimals": SOL_DECIMALS,
                     "token_standard": None})
    return rows


@dataclass(frozen=True)
class Trade:
    trader: str
    mint: str
    side: str
    token_amount: Decimal
    quote_mint: str
    quote_amount: Decimal
    derived_from: str

    @property
    def price(self) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 40
            return (self.quote_amount / self.token_amount).normalize()


def _add(deltas: dict[str, Decimal], mint: str, amount: Decimal) -> None:
    deltas[mint] = deltas.get(mint, Decimal(0)) + amount


def swap_event_deltas(swap: SwapEvent, fallback_trader: str) -> tuple[str, dict[str, Decimal]]:
    """The trader of a swap event and its net change per mint (native SOL and wrapped SOL merged)."""
    trader = next((x for x in (
        swap.nativeInput.account if swap.nativeInput else None,
        swap.nativeOutput.account if swap.nativeOutput else None,
        *(c.userAccount for c in swap.tokenInputs), *(c.userAccount for c in swap.tokenOutputs)) if x),
        fallback_trader)
    deltas: dict[str, Decimal] = {}
    if swap.nativeInput:
        _add(deltas, WSOL, -scaled(abs(swap.nativeInput.amount), SOL_DECIMALS))
    if swap.nativeOutput:
        _add(deltas, WSOL, scaled(abs(swap.nativeOutput.amount), SOL_DECIMALS))
    for change in swap.tokenInputs:
        _add(deltas, change.mint, -scaled(abs(change.rawTokenAmount.tokenAmount), change.rawTokenAmount.decimals))
    for change in swap.tokenOutputs:
        _add(deltas, change.mint, scaled(abs(change.rawTokenAmount.tokenAmount), change.rawTokenAmount.decimals))
    return trader, deltas


def balance_deltas(tx: EnhancedTransaction, trader: str) -> dict[str, Decimal]:
    """Net change per mint of ``trader`` from the balance changes: token accounts the trader owns, plus its SOL
    balance with the network fee added back when it paid it (so SOL paid in protocol fees, tips and rent counts)."""
    deltas: dict[str, Decimal] = {}
    for account in tx.accountData:
        if account.account == trader:
            fee = tx.fee if tx.feePayer == trader else 0
            _add(deltas, WSOL, scaled(account.nativeBalanceChange + fee, SOL_DECIMALS))
        for change in account.tokenBalanceChanges:
            if change.userAccount == trader:
                _add(deltas, change.mint, scaled(change.rawTokenAmount.tokenAmount, change.rawTokenAmount.decimals))
    return deltas


def _hop_quote(hops: list[InnerSwap], sold: str, bought: str) -> tuple[str, Decimal, Decimal] | None:
    """For a token-for-token route, the quote token it passed through and the quote amounts of its two legs:
    what selling ``sold`` returned and what buying ``bought`` cost."""
    for quote in QUOTE_PRIORITY:
        decimals = FIXED_DECIMALS[quote]
        out_of_sale = sum((Decimal(str(t.tokenAmount)) for hop in hops if any(i.mint == sold for i in hop.tokenInputs)
                           for t in hop.tokenOutputs if t.mint == quote), Decimal(0))
        into_buy = sum((Decimal(str(t.tokenAmount)) for hop in hops if any(o.mint == bought for o in hop.tokenOutputs)
                        for t in hop.tokenInputs if t.mint == quote), Decimal(0))
        if out_of_sale > 0 and into_buy > 0:
            unit = Decimal(1).scaleb(-decimals)
            return quote, out_of_sale.quantize(unit), into_buy.quantize(unit)
    return None


def net_trades(trader: str, deltas: dict[str, Decimal], hops: list[InnerSwap], derived_from: str) -> list[Trade]:
    """The trades a wallet's net balance changes amount to (see the module doc of ``derive_trades``)."""
    deltas = {m: d for m, d in deltas.items() if d != 0}
    tokens = [m for m in deltas if m not in QUOTE_MINTS]
    if not tokens:
        if len(deltas) != 2:
            return []
        quote = next(q for q in QUOTE_PRIORITY if q in deltas)
        token = next(m for m in deltas if m != quote)
        if (deltas[token] > 0) == (deltas[quote] > 0):
            return []
        return [_trade(trader, token, deltas[token], quote, deltas[quote], derived_from)]
    if len(tokens) == 1:
        token = tokens[0]
        quote = next((q for q in QUOTE_PRIORITY if q in deltas and (deltas[q] > 0) != (deltas[token] > 0)), None)
        if quote is None:
            return []
        return [_trade(trader, token, deltas[token], quote, deltas[quote], derived_from)]
    if len(tokens) == 2 and (deltas[tokens[0]] > 0) != (deltas[tokens[1]] > 0):
        sold, bought = sorted(tokens, key=lambda m: deltas[m] > 0)
        route = _hop_quote(hops, sold, bought)
        if route is None:
            return []
        quote, proceeds, cost = route
        return [_trade(trader, sold, deltas[sold], quote, proceeds, "inner_swaps"),
                _trade(trader, bought, deltas[bought], quote, -cost, "inner_swaps")]
    return []


def _trade(trader: str, mint: str, token_delta: Decimal, quote: str, quote_delta: Decimal, how: str) -> Trade:
    return Trade(trader=trader, mint=mint, side="buy" if token_delta > 0 else "sell", token_amount=abs(token_delta),
                 quote_mint=quote, quote_amount=abs(quote_delta), derived_from=how)


def derive_trades(tx: EnhancedTransaction) -> list[Trade]:
    """The net trade(s) of a swap transaction, from the trader's point of view.

    The trader's net change per mint is taken from the swap event (``nativeInput``/``nativeOutput``,
    ``tokenInputs``/``tokenOutputs``: the wallet's own legs, so multi-hop routes net out), or, for a ``SWAP``
    without an event (e.g. some pump.fun swaps), from the fee payer's balance changes. One token against a quote
    token (USDC, USDT, SOL: in that priority) is one trade; SOL against a stable is a SOL trade quoted in the stable;
    a token-for-token route gives a sell and a buy priced in the quote token its inner swaps went through. Anything
    else (no quote leg, several tokens each way) gives no trade. Failed transactions trade nothing.
    """
    if tx.failed:
        return []
    swap = tx.events.swap
    if swap is not None:
        trader, deltas = swap_event_deltas(swap, tx.feePayer)
        return net_trades(trader, deltas, swap.innerSwaps, "swap_event")
    if tx.type in SWAP_TYPES:
        return net_trades(tx.feePayer, balance_deltas(tx, tx.feePayer), [], "balance_changes")
    return []


def trade_rows(tx: EnhancedTransaction, trades: list[Trade]) -> list[dict[str, Any]]:
    return [{
        "signature": tx.signature,
        "event_index": index,
        "source": "helius",
        "block_time": block_time(tx),
        "slot": tx.slot,
        "trader": trade.trader,
        "mint": trade.mint,
        "side": trade.side,
        "token_amount": trade.token_amount,
        "quote_mint": trade.quote_mint,
        "quote_amount": trade.quote_amount,
        "price": trade.price,
        "time_is_receive_time": False,
        "feed_fields": {"program": tx.source, "type": tx.type, "derived_from": trade.derived_from},
    } for index, trade in enumerate(trades)]
