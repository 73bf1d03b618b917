"""Helius units: config files, settings, error continuation, transfers and trades from real enhanced transactions."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from cryptoflow.paths import CONFIG_DIR
from cryptoflow.sources.helius.config import (
    HeliusConfigError,
    address_problem,
    b58decode,
    load_wallets,
    load_watchlist,
)
from cryptoflow.sources.helius.demo import b58encode, fake_address
from cryptoflow.sources.helius.hook import HeliusSettings, continuation
from cryptoflow.sources.helius.models import EnhancedTransaction
from cryptoflow.sources.helius.parsing import (
    USDC,
    WSOL,
    derive_trades,
    net_trades,
    transaction_row,
    transfer_rows,
)
from tests.helius_support import SENDER, TRADER, W_MINT, recorded

USDT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


def tx(name: str, **changes) -> EnhancedTransaction:
    raw = copy.deepcopy(recorded()[name])
    raw.update(changes)
    return EnhancedTransaction.model_validate(raw)


# -- config ------------------------------------------------------------------------------------------------------
def test_base58_round_trip_and_solana_addresses():
    assert b58decode("11111111111111111111111111111111") == bytes(32)
    assert b58encode(b58decode(TRADER)) == TRADER
    assert address_problem(TRADER) is None
    assert "not base58" in address_problem(TRADER[:-1] + "0")
    assert "33 bytes" in address_problem(b58encode(b"\x01" * 33))
    assert "31 bytes" in address_problem(b58encode(b"\x01" * 31))


def test_shipped_config_files_are_valid_and_realistic():
    wallets = load_wallets(CONFIG_DIR / "whale_wallets.csv")
    tokens = load_watchlist(CONFIG_DIR / "watchlist.csv")
    assert 150 <= len(wallets) <= 200
    assert all(w.label for w in wallets)
    symbols = {t.symbol: t.address for t in tokens}
    assert 10 <= len(tokens) <= 20
    assert symbols["SOL"] == WSOL and symbols["USDC"] == USDC and symbols["BONK"] == BONK
    assert symbols["JUP"] == "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
    assert symbols["WIF"] == "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm"


def test_malformed_wallet_address_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "wallets.csv"
    path.write_text(f"address,label,tags\n# comment\n{TRADER},Trader,smart-money\n\n{SENDER[:-2]}0O,Bad,x\n")
    with pytest.raises(HeliusConfigError, match=r"wallets\.csv:5: wallet address .*0O' is not base58"):
        load_wallets(path)


def test_wallet_config_errors(tmp_path):
    path = tmp_path / "wallets.csv"
    path.write_text(f"address,label,tags\n{TRADER},A,\n{TRADER},B,\n")
    with pytest.raises(HeliusConfigError, match=r":3: .* already listed on line 2"):
        load_wallets(path)
    path.write_text(f"address,label,tags\n{b58encode(bytes(range(1, 21)))},short,\n")
    with pytest.raises(HeliusConfigError, match=r":2: .*decodes to 20 bytes"):
        load_wallets(path)
    path.write_text(f"wallet,label\n{TRADER},A\n")
    with pytest.raises(HeliusConfigError, match="no 'address' column"):
        load_wallets(path)
    path.write_text(f"address,label,tags\n{TRADER},A,Big Whale!\n")
    with pytest.raises(HeliusConfigError, match=r":2: tag\(s\) \['whale!'\]"):
        load_wallets(path)
    with pytest.raises(HeliusConfigError, match="does not exist"):
        load_wallets(tmp_path / "missing.csv")


def test_watchlist_rows_and_timeframes(tmp_path):
    path = tmp_path / "watchlist.csv"
    path.write_text(f"address,symbol,name,timeframes\n{WSOL},SOL,Wrapped SOL,1m 5m 1h\n{BONK},BONK,Bonk,\n")
    sol, bonk = load_watchlist(path)
    assert sol.timeframes == ("1m", "5m", "1h") and bonk.timeframes is None and bonk.name == "Bonk"
    path.write_text(f"address,symbol,name,timeframes\n{WSOL},SOL,Wrapped SOL,1 minute\n")
    with pytest.raises(HeliusConfigError, match=r":2: timeframe"):
        load_watchlist(path)


# -- settings and API errors ---------------------------------------------------------------------------------------
def test_settings_from_connection_extra():
    s = HeliusSettings.from_extra({"page_limit": "25", "whale_threshold_usd": "2500.5", "legacy_pagination": "true",
                                   "token_type_filter": "", "rate_limit_per_s": 2})
    assert (s.page_limit, s.whale_threshold_usd, s.legacy_pagination, s.token_type_filter) == (
        25, Decimal("2500.5"), True, None)
    assert HeliusSettings.from_extra({}).whale_threshold_usd == Decimal(10000)
    with pytest.raises(HeliusConfigError, match="'page_limit' is 500; allowed 1 to 100"):
        HeliusSettings.from_extra({"page_limit": 500})
    with pytest.raises(HeliusConfigError, match="not a number"):
        HeliusSettings.from_extra({"whale_threshold_usd": "lots"})


def test_continuation_signature_from_the_error_object():
    sig = "2UKbsu95YzxGjUGYRg2znozmmVADVgmnhHqzDxq8Xfb3V5bf2NHUkaXGPrUpQnRFVHVKbawdQXtm4xJt9njMDHvg"
    current = ("Failed to find events within the search period. To continue search, query the API again with the "
               f"`before-signature` parameter set to {sig}.")
    assert continuation(current) == ("before-signature", sig)
    legacy = current.replace("`before-signature`", "`before`")
    assert continuation(legacy) == ("before", sig)
    assert continuation("Failed to find events within the search period") is None


# -- transactions and transfers --------------------------------------------------------------------------------------
def test_unknown_and_failed_transactions_are_kept_without_transfers():
    unknown = tx("unknown")
    row = transaction_row(unknown, {TRADER})
    assert (row["type"], row["source"], row["description"], row["error"]) == ("UNKNOWN", "UNKNOWN", "", None)
    assert len(transfer_rows(unknown)) == 1
    failed = tx("transfer_spl_send", transactionError={"InstructionError": [0, {"Custom": 1}]})
    assert transaction_row(failed, {TRADER})["error"] == {"InstructionError": [0, {"Custom": 1}]}
    assert transfer_rows(failed) == [] and derive_trades(failed) == []


def test_transfer_amounts_are_exact_with_raw_amount_and_decimals():
    rows = transfer_rows(tx("swap_usdc_to_sol_native_input_null"))
    usdc = rows[0]
    assert (usdc["mint"], usdc["amount"], usdc["raw_amount"], usdc["decimals"]) == (
        USDC, Decimal("13.279846"), 13279846, 6)
    assert (usdc["from_address"], usdc["from_token_account"]) == (
        TRADER, "46dExdsFZVPG2xXwrUryHjvUKoGEnzt5Ac6PhG4nxkaS")
    native = [r for r in rows if r["kind"] == "native"]
    assert [(r["amount"], r["raw_amount"]) for r in native] == [
        (Decimal("0.002039280"), 2039280), (Decimal("0.102039280"), 102039280)]
    assert [r["transfer_index"] for r in rows] == list(range(len(rows)))
    sol = transfer_rows(tx("sol_transfer"))
    assert (sol[0]["kind"], sol[0]["mint"], sol[0]["amount"], sol[0]["from_address"]) == (
        "native", WSOL, Decimal("1.596389340"), SENDER)


def test_raw_amount_of_a_float_that_lost_digits_comes_from_the_balance_change():
    raw = copy.deepcopy(recorded()["transfer_spl_send"])
    mint = raw["tokenTransfers"][0]["mint"]
    for account in raw["accountData"]:
        for change in account["tokenBalanceChanges"]:
            if change["mint"] == mint:
                change["rawTokenAmount"] = {"tokenAmount": str(int(change["rawTokenAmount"]["tokenAmount"]) // abs(
                    int(change["rawTokenAmount"]["tokenAmount"])) * 1234567890123456789), "decimals": 9}
    raw["tokenTransfers"][0]["tokenAmount"] = 1234567890.123456789   # a float: 1234567890.1234567
    rows = transfer_rows(EnhancedTransaction.model_validate(raw))
    assert (rows[0]["raw_amount"], rows[0]["amount"]) == (1234567890123456789, Decimal("1234567890.123456789"))


# -- trades --------------------------------------------------------------------------------------------------------
def test_swap_with_native_input_null_is_a_sol_buy_quoted_in_usdc():
    (trade,) = derive_trades(tx("swap_usdc_to_sol_native_input_null"))
    assert (trade.trader, trade.side, trade.mint, trade.token_amount, trade.quote_mint, trade.quote_amount) == (
        TRADER, "buy", WSOL, Decimal("0.100000000"), USDC, Decimal("13.279846"))
    assert trade.price == Decimal("132.79846")


def test_sol_to_usdc_swap_with_native_input_is_a_sell():
    (trade,) = derive_trades(tx("swap_sol_to_usdc"))
    assert (trade.side, trade.mint, trade.token_amount, trade.quote_amount) == (
        "sell", WSOL, Decimal("1.452531235"), Decimal("238.630695"))


def test_multi_hop_swap_gives_the_net_trade_of_the_wallet():
    t = tx("swap_multi_hop_usdc_to_sol")
    assert len(t.events.swap.innerSwaps) == 4   # split route: USDC->SOL and USDC->JLP->SOL
    (trade,) = derive_trades(t)
    assert (trade.side, trade.mint, trade.token_amount, trade.quote_mint, trade.quote_amount) == (
        "buy", WSOL, Decimal("1.122215063"), USDC, Decimal("161.000000"))


def test_swap_without_event_falls_back_to_the_fee_payers_balance_changes():
    raw = copy.deepcopy(recorded()["swap_usdc_to_sol_native_input_null"])
    raw["events"] = {}
    (trade,) = derive_trades(EnhancedTransaction.model_validate(raw))
    assert (trade.side, trade.mint, trade.token_amount, trade.quote_amount, trade.derived_from) == (
        "buy", WSOL, Decimal("0.100000000"), Decimal("13.279846"), "balance_changes")


def test_transfers_and_nft_mints_are_not_trades():
    assert derive_trades(tx("sol_transfer")) == [] and derive_trades(tx("compressed_nft_mint")) == []


def test_token_against_sol_and_stable_priority():
    (t,) = net_trades(TRADER, {BONK: Decimal("1000000"), WSOL: Decimal("-0.5")}, [], "x")
    assert (t.side, t.mint, t.quote_mint, t.price) == ("buy", BONK, WSOL, Decimal("5E-7"))
    (t,) = net_trades(TRADER, {BONK: Decimal("-10"), USDC: Decimal("2"), WSOL: Decimal("-0.001")}, [], "x")
    assert (t.side, t.quote_mint, t.quote_amount) == ("sell", USDC, Decimal("2"))
    (t,) = net_trades(TRADER, {USDT: Decimal("-5"), USDC: Decimal("5")}, [], "x")
    assert (t.mint, t.side, t.quote_mint) == (USDT, "sell", USDC)
    assert net_trades(TRADER, {BONK: Decimal("5"), WSOL: Decimal("1")}, [], "x") == []   # no quote paid
    assert net_trades(TRADER, {BONK: Decimal("5"), W_MINT: Decimal("-1")}, [], "x") == []   # no route to price it


def test_token_for_token_route_is_a_sell_and_a_buy_in_the_hop_quote():
    raw = copy.deepcopy(recorded()["swap_sol_to_usdc"])
    hops = EnhancedTransaction.model_validate(raw).events.swap.innerSwaps
    # the recorded route is SOL -> W -> USDC; seen from W's side it prices W in USDC through the second hop
    sell, buy = net_trades(TRADER, {W_MINT: Decimal("-352.337576"), BONK: Decimal("1000")},
                           [hops[1], hops[1].model_copy(update={
                               "tokenInputs": hops[1].tokenOutputs,
                               "tokenOutputs": [hops[1].tokenInputs[0].model_copy(update={"mint": BONK})]})], "x")
    assert (sell.side, sell.mint, sell.quote_mint, sell.quote_amount) == ("sell", W_MINT, USDC, Decimal("238.630695"))
    assert (buy.side, buy.mint, buy.quote_mint, buy.quote_amount) == ("buy", BONK, USDC, Decimal("238.630695"))


def test_fake_addresses_are_valid():
    assert address_problem(fake_address("x")) is None


def test_a_run_waits_for_the_interval_to_be_final():
    from datetime import UTC, datetime, timedelta

    from cryptoflow.ingest import IngestContext
    from cryptoflow.sources.helius.dataset import HeliusTransactions

    end = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    ctx = IngestContext(interval_start=end - timedelta(minutes=5), interval_end=end, hook=None)
    settings = HeliusSettings(finality_lag_s=45)
    slept = []
    just_after = HeliusTransactions(sleep=slept.append, now=lambda: end + timedelta(seconds=10))
    assert just_after._wait_for_finality(ctx, settings) == end + timedelta(seconds=45) and slept == [35.0]
    later = HeliusTransactions(sleep=slept.append, now=lambda: end + timedelta(hours=1))   # a backfill: no wait
    assert later._wait_for_finality(ctx, settings) == end + timedelta(seconds=45) and slept == [35.0]
    early = HeliusTransactions(sleep=slept.append, now=lambda: end - timedelta(minutes=3))
    with pytest.raises(HeliusConfigError, match="has not ended yet"):
        early._wait_for_finality(ctx, settings)
