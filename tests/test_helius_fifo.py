"""FIFO cost basis and win rates against hand-computed examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from cryptoflow.sources.helius.fifo import FifoTrade, fifo, wallet_rows

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
T0 = datetime(2026, 11, 20, tzinfo=UTC)


def trades(wallet: str, rows: list[tuple]) -> list[FifoTrade]:
    """rows: (mint, side, token amount, quote mint, quote amount, quote USD price or None), one minute apart."""
    return [FifoTrade(wallet, mint, T0 + timedelta(minutes=i), side, D(str(amount)), quote, D(str(q_amount)),
                      None if usd is None else D(str(usd)))
            for i, (mint, side, amount, quote, q_amount, usd) in enumerate(rows)]


def test_partial_sells_realize_pro_rata_fifo_cost():
    # lot 1: 100 X for 1 SOL (0.01 each); lot 2: 100 X for 3 SOL (0.03 each)
    # sell 150 for 4.5 SOL: 100 of lot 1 (cost 1) + 50 of lot 2 (cost 1.5) -> +2.0, position still open
    # sell 50 for 1 SOL: the other 50 of lot 2 (cost 1.5) -> -0.5; nothing left: closed at +1.5 -> a win
    s = fifo(trades("A", [("X", "buy", 100, SOL, 1, 100), ("X", "buy", 100, SOL, 3, 100),
                          ("X", "sell", 150, SOL, "4.5", 100)]))[("A", "X")]
    assert (s.realized_pnl_quote, s.closed_positions, s.row()["open_amount"], s.row()["open_cost_quote"]) == (
        D("2.0"), 0, D(50), D("1.5"))
    s = fifo(trades("A", [("X", "buy", 100, SOL, 1, 100), ("X", "buy", 100, SOL, 3, 100),
                          ("X", "sell", 150, SOL, "4.5", 100), ("X", "sell", 50, SOL, 1, 100)]))[("A", "X")]
    row = s.row()
    assert row["realized_pnl_quote"] == D("1.5") and row["realized_pnl_usd"] == D(150)
    assert (row["closed_positions"], row["wins"], row["losses"], row["win_rate"]) == (1, 1, 0, D("1.0000"))
    assert (row["open_amount"], row["unmatched_sell_amount"], row["quote_mint"]) == (D(0), D(0), SOL)
    assert (row["buys"], row["sells"], row["bought_amount"], row["sold_amount"]) == (2, 2, D(200), D(200))


def test_selling_more_than_was_bought_since_tracking_began():
    # 40 Y sold before any tracked buy: no cost basis, nothing realized, no position
    # buy 10 for 1 SOL, sell 30 for 1.5 SOL (0.05 each): 10 matched -> 0.5 - 1 = -0.5, 20 unmatched; closed -> loss
    row = fifo(trades("B", [("Y", "sell", 40, SOL, 2, None), ("Y", "buy", 10, SOL, 1, None),
                            ("Y", "sell", 30, SOL, "1.5", None)]))[("B", "Y")].row()
    assert (row["realized_pnl_quote"], row["unmatched_sell_amount"]) == (D("-0.5"), D(60))
    assert (row["closed_positions"], row["wins"], row["losses"], row["win_rate"]) == (1, 0, 1, D("0.0000"))
    assert row["usd_complete"] is False and row["realized_pnl_usd"] == 0


def test_several_tokens_positions_and_quotes():
    stats = fifo(trades("C", [
        ("Z", "buy", 1000, USDC, 100, 1), ("Z", "sell", 1000, USDC, 150, 1),   # +50: win
        ("Z", "buy", 500, USDC, 100, 1), ("Z", "sell", 500, USDC, 80, 1),      # -20: loss
        ("Z", "buy", 200, USDC, 10, 1),                                        # open
        ("Q", "buy", 10, SOL, 1, 100), ("Q", "sell", 10, USDC, 120, 1),        # SOL in, USDC out: $100 -> $120
        ("R", "buy", 10, SOL, 1, None), ("R", "sell", 10, USDC, 150, 1),       # mixed quotes, SOL price unknown
        ("S", "buy", 4, SOL, 2, 100), ("S", "sell", 4, SOL, 2, 100),           # breakeven
    ]))
    z, q, r, s = (stats[("C", m)].row() for m in "ZQRS")
    assert (z["closed_positions"], z["wins"], z["losses"], z["win_rate"]) == (2, 1, 1, D("0.5000"))
    assert (z["realized_pnl_quote"], z["open_amount"], z["open_cost_quote"], z["open_cost_usd"]) == (
        D(30), D(200), D(10), D(10))
    assert (q["quote_mint"], q["realized_pnl_quote"], q["realized_pnl_usd"], q["wins"]) == (None, None, D(20), 1)
    assert (r["closed_positions"], r["wins"], r["losses"], r["win_rate"], r["usd_complete"]) == (1, 0, 0, None, False)
    assert (s["closed_positions"], s["wins"], s["losses"]) == (1, 0, 0)

    (wallet,) = wallet_rows([z, q, r, s])
    assert (wallet["tokens_traded"], wallet["trades"], wallet["closed_positions"]) == (4, 11, 5)
    assert (wallet["wins"], wallet["losses"], wallet["win_rate"]) == (2, 1, D("0.6667"))
    assert wallet["realized_pnl_usd"] == D(30 + 20 + 0)   # R's USD is unknown, S broke even
    assert wallet["usd_complete"] is False
    assert wallet["realized_pnl_by_quote"] == {SOL: "0", USDC: "30"}


def test_a_lot_bought_in_pieces_and_sold_in_pieces_keeps_exact_decimals():
    row = fifo(trades("D", [("X", "buy", 3, SOL, 1, None), ("X", "sell", 1, SOL, 1, None),
                            ("X", "sell", 1, SOL, 1, None), ("X", "sell", 1, SOL, 1, None)]))[("D", "X")].row()
    # each third of the lot costs 1/3 SOL; the last sell takes exactly what is left, so the total is exact
    assert row["realized_pnl_quote"] == D(2) and row["closed_positions"] == 1 and row["wins"] == 1


def test_wallets_are_independent():
    stats = fifo(trades("E", [("X", "buy", 1, SOL, 1, None)]) + trades("F", [("X", "sell", 1, SOL, 2, None)]))
    assert stats[("E", "X")].row()["open_amount"] == 1
    assert stats[("F", "X")].row()["unmatched_sell_amount"] == 1 and stats[("F", "X")].closed_positions == 0
